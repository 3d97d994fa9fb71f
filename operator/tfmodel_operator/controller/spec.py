"""TFModel resource -> validated, typed, frozen objects. Untrusted input enters here.

The CRD schema refuses most bad input at admission; this module checks the same rules again
(offline `tfmodel render` has no apiserver, and the operator must never trust a stored object
blindly) plus the cross-field rules only the operator can judge. Defaults live here and only
here. Every error names the field it is about.
"""

from collections.abc import Mapping
from typing import Any

from tfmodel_operator.controller import spec_blocks
from tfmodel_operator.controller.api import (
    APPLICATIONS,
    DEFAULT_CONFIG_POLL_SECONDS,
    DEFAULT_EXPORT_IMAGE,
    DEFAULT_IMAGE,
    DEFAULT_SYNC_IMAGE,
    MAX_VERSIONS,
    RESERVED_MOUNTS,
    Export,
    Storage,
    TFModel,
    VersionPolicy,
)
from tfmodel_operator.controller.fields import (
    ABSOLUTE_PATH,
    DNS1035_LABEL,
    DNS1123_SUBDOMAIN,
    HOST,
    IMAGE,
    LABEL_NAME,
    MODEL_NAME,
    RELATIVE_PATH,
    boolean,
    integer,
    mapping,
    no_unknown,
    optional_mapping,
    resource_requirements,
    string,
    string_map,
    tolerations,
)
from tfmodel_operator.controller.fields import (
    InvalidSpec as InvalidSpec,  # what parse raises: callers catch spec.InvalidSpec
)

# What a resource parses to: the TFModel, or why it is not one (carried to decide, which says so).
Parsed = TFModel | InvalidSpec


def parsed(body: Mapping[str, Any]) -> Parsed:
    """`parse`, with the error as a value."""
    try:
        return parse(body)
    except InvalidSpec as err:
        return err


def parse(body: Mapping[str, Any]) -> TFModel:
    """Validate a TFModel resource (as the apiserver returns it) and apply the defaults."""
    meta = mapping(body.get("metadata"), "metadata")
    name = string(meta.get("name"), "metadata.name", pattern=DNS1035_LABEL, max_length=63)
    spec = mapping(body.get("spec"), "spec")
    no_unknown(spec, "spec", SPEC_FIELDS)

    model_name = string(
        spec.get("modelName", name), "spec.modelName", pattern=MODEL_NAME, max_length=63
    )
    if ".." in model_name:
        raise InvalidSpec("spec.modelName", "must not contain '..'")
    storage = _storage(spec.get("storage"))
    base_path = string(
        spec.get("basePath", f"/models/{model_name}"),
        "spec.basePath",
        pattern=ABSOLUTE_PATH,
        max_length=255,
    )
    if any(base_path == m or base_path.startswith(m + "/") for m in RESERVED_MOUNTS):
        raise InvalidSpec("spec.basePath", f"must not be inside {' or '.join(RESERVED_MOUNTS)}")
    policy = _version_policy(spec.get("versionPolicy"))
    labels = _version_labels(spec.get("versionLabels"), policy)
    gpu = spec_blocks.gpu(spec.get("gpu"))
    image_default = DEFAULT_IMAGE + "-gpu" if gpu else DEFAULT_IMAGE
    image = string(spec.get("image", image_default), "spec.image", pattern=IMAGE, max_length=512)
    resources = resource_requirements(spec.get("resources"), gpu)
    return TFModel(
        name=name,
        namespace=str(meta.get("namespace", "default")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation", 0)),
        model_name=model_name,
        storage=storage,
        base_path=base_path,
        version_policy=policy,
        version_labels=labels,
        replicas=integer(spec.get("replicas", 1), "spec.replicas", 0, 1000),
        image=image,
        resources=resources,
        gpu=gpu,
        config_poll_seconds=integer(
            spec.get("configPollSeconds", DEFAULT_CONFIG_POLL_SECONDS),
            "spec.configPollSeconds",
            1,
            3600,
        ),
        batching=spec_blocks.batching(spec.get("batching")),
        node_selector=string_map(spec.get("nodeSelector"), "spec.nodeSelector"),
        tolerations=tolerations(spec.get("tolerations"), "spec.tolerations"),
        affinity=optional_mapping(spec.get("affinity"), "spec.affinity"),
        exports=_exports(spec.get("exports"), storage),
        export_image=string(
            spec.get("exportImage", DEFAULT_EXPORT_IMAGE), "spec.exportImage", IMAGE, 512
        ),
        sync_image=string(spec.get("syncImage", DEFAULT_SYNC_IMAGE), "spec.syncImage", IMAGE, 512),
        network_access=spec_blocks.network_access(spec.get("networkPolicy")),
        promotion=spec_blocks.promotion(spec.get("promotion")),
        autoscaling=spec_blocks.autoscaling(spec.get("autoscaling"), spec, resources),
    )


SPEC_FIELDS = {
    "modelName", "storage", "basePath", "versionPolicy", "versionLabels", "replicas", "image",
    "resources", "gpu", "configPollSeconds", "batching", "nodeSelector", "tolerations",
    "affinity", "exports", "exportImage", "syncImage", "networkPolicy", "promotion",
    "autoscaling",
}  # fmt: skip


SOURCES = ("persistentVolumeClaim", "nfs", "s3", "gcs")


def _storage(value: Any) -> Storage:
    storage = mapping(value, "spec.storage")
    no_unknown(storage, "spec.storage", {*SOURCES, "syncSeconds"})
    sources = [source for source in SOURCES if source in storage]
    if len(sources) != 1:
        raise InvalidSpec("spec.storage", f"exactly one of {', '.join(SOURCES)} must be set")
    if sources[0] in ("s3", "gcs"):
        bucket = spec_blocks.bucket(sources[0], storage[sources[0]], storage.get("syncSeconds"))
        return Storage(kind=bucket.store, bucket=bucket)
    if "syncSeconds" in storage:
        raise InvalidSpec("spec.storage.syncSeconds", "only with s3 or gcs")
    if "persistentVolumeClaim" in storage:
        where = "spec.storage.persistentVolumeClaim"
        pvc = mapping(storage["persistentVolumeClaim"], where)
        no_unknown(pvc, where, {"claimName", "subPath"})
        return Storage(
            kind="persistentVolumeClaim",
            claim_name=string(
                pvc.get("claimName"), f"{where}.claimName", DNS1123_SUBDOMAIN, max_length=253
            ),
            sub_path=string(
                pvc.get("subPath", ""), f"{where}.subPath", RELATIVE_PATH, 255, allow_empty=True
            ),
        )
    where = "spec.storage.nfs"
    nfs = mapping(storage["nfs"], where)
    no_unknown(nfs, where, {"server", "path"})
    return Storage(
        kind="nfs",
        server=string(nfs.get("server"), f"{where}.server", HOST, max_length=253),
        path=string(nfs.get("path"), f"{where}.path", ABSOLUTE_PATH, max_length=255),
    )


def _exports(value: Any, storage: Storage) -> tuple[Export, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_VERSIONS:
        raise InvalidSpec("spec.exports", f"must be a list of at most {MAX_VERSIONS} exports")
    result = []
    for i, item in enumerate(value):
        at = f"spec.exports[{i}]"
        raw = mapping(item, at)
        no_unknown(raw, at, {"version", "application", "weights", "warmup", "imageSignature"})
        weights = string(raw.get("weights", "imagenet"), f"{at}.weights", RELATIVE_PATH, 255)
        if storage.bucket and weights not in ("imagenet", "none"):
            # A weights file is read from the model volume, and a bucket is not mounted.
            raise InvalidSpec(f"{at}.weights", "must be imagenet or none with a bucket storage")
        result.append(
            Export(
                version=integer(raw.get("version"), f"{at}.version", 1, 2**63 - 1),
                application=_choice(raw.get("application", "VGG16"), f"{at}.application"),
                weights=weights,
                warmup=boolean(raw.get("warmup", False), f"{at}.warmup"),
                image_signature=boolean(raw.get("imageSignature", True), f"{at}.imageSignature"),
            )
        )
    versions = [e.version for e in result]
    if len(set(versions)) != len(versions):
        raise InvalidSpec("spec.exports", "must not export a version twice")
    return tuple(sorted(result, key=lambda e: e.version))


def _version_policy(value: Any) -> VersionPolicy:
    if value is None:
        return VersionPolicy(kind="latest", num_versions=1)
    policy = mapping(value, "spec.versionPolicy")
    no_unknown(policy, "spec.versionPolicy", {"latest", "all", "specific"})
    if len(policy) != 1:
        raise InvalidSpec(
            "spec.versionPolicy", "exactly one of latest, all or specific must be set"
        )
    if "latest" in policy:
        latest = mapping(policy["latest"], "spec.versionPolicy.latest")
        no_unknown(latest, "spec.versionPolicy.latest", {"numVersions"})
        count = integer(
            latest.get("numVersions", 1), "spec.versionPolicy.latest.numVersions", 1, MAX_VERSIONS
        )
        return VersionPolicy(kind="latest", num_versions=count)
    if "all" in policy:
        no_unknown(
            mapping(policy["all"], "spec.versionPolicy.all"), "spec.versionPolicy.all", set()
        )
        return VersionPolicy(kind="all")
    where = "spec.versionPolicy.specific.versions"
    specific = mapping(policy["specific"], "spec.versionPolicy.specific")
    no_unknown(specific, "spec.versionPolicy.specific", {"versions"})
    raw = specific.get("versions")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_VERSIONS:
        raise InvalidSpec(where, f"must list between 1 and {MAX_VERSIONS} versions")
    versions = [integer(v, f"{where}[{i}]", 1, 2**63 - 1) for i, v in enumerate(raw)]
    if len(set(versions)) != len(versions):
        raise InvalidSpec(where, "must not list a version twice")
    return VersionPolicy(kind="specific", versions=tuple(sorted(versions)))


def _version_labels(value: Any, policy: VersionPolicy) -> tuple[tuple[str, int], ...]:
    labels = optional_mapping(value, "spec.versionLabels") or {}
    if len(labels) > 16:
        raise InvalidSpec("spec.versionLabels", "must have at most 16 labels")
    result = []
    for label, version in sorted(labels.items()):
        where = f"spec.versionLabels.{label}"
        if not isinstance(label, str) or not LABEL_NAME.fullmatch(label) or len(label) > 63:
            raise InvalidSpec(where, "label names must match [a-zA-Z0-9_]+ (at most 63 characters)")
        number = integer(version, where, 1, 2**63 - 1)
        if policy.kind == "specific" and number not in policy.versions:
            raise InvalidSpec(
                where,
                f"points at version {number}, which spec.versionPolicy.specific does not serve",
            )
        result.append((label, number))
    return tuple(result)


def _choice(value: Any, where: str) -> str:
    if value not in APPLICATIONS:
        raise InvalidSpec(where, f"{value!r} is not one of {', '.join(APPLICATIONS)}")
    return str(value)
