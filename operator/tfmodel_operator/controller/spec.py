"""TFModel resource -> validated, typed, frozen objects. Untrusted input enters here.

The CRD schema refuses most bad input at admission; this module checks the same rules again
(offline `tfmodel render` has no apiserver, and the operator must never trust a stored object
blindly) plus the cross-field rules only the operator can judge. Defaults live here and only
here. Every error names the field it is about.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_IMAGE = "tensorflow/serving:2.20.0"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CONFIG_POLL_SECONDS = 30
DEFAULT_EXPORT_IMAGE = "ghcr.io/tfmodel/tfmodel-exporter:0.1.0"
# The keras.applications the exporter builds (a constructor with a preprocess_input); the CRD
# has the same enum, and a test checks both against the installed Keras.
APPLICATIONS = (
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
    "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
    "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
    "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "NASNetLarge", "NASNetMobile",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16",
    "VGG19", "Xception",
)  # fmt: skip
MAX_GPUS = 16
MAX_VERSIONS = 100

# Strings that reach models.config or a pod spec are constrained so that they cannot break out
# of their quotes (no quote, backslash or newline can match these).
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# TF Serving model names as used in practice (my_first_model, resnet-50, vgg16.v2): they only
# reach URLs, paths and models.config, never object names; no "..", no leading ".".
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# Absolute path whose segments never start with "." (so no "." or ".." traversal).
ABSOLUTE_PATH = re.compile(r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$")
RELATIVE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
LABEL_NAME = re.compile(r"^[a-zA-Z0-9_]+$")
IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")
QUANTITY = re.compile(
    r"^[+]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
)
HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^[0-9a-fA-F:]+$")
# Mount points the operator owns inside the serving container.
RESERVED_MOUNTS = ("/etc/tfserving", "/tmp")


class InvalidSpec(ValueError):
    """The resource cannot be served as written. `field` is the JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Storage:
    kind: Literal["persistentVolumeClaim", "nfs"]
    claim_name: str = ""
    sub_path: str = ""
    server: str = ""
    path: str = ""


@dataclass(frozen=True)
class VersionPolicy:
    kind: Literal["latest", "all", "specific"]
    num_versions: int = 1
    versions: tuple[int, ...] = ()


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class Gpu:
    count: int
    resource_name: str
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]
    runtime_class_name: str
    memory_fraction: float | None


@dataclass(frozen=True)
class Batching:
    max_batch_size: int | None = None
    batch_timeout_micros: int | None = None
    max_enqueued_batches: int | None = None
    num_batch_threads: int | None = None


@dataclass(frozen=True)
class Export:
    """One SavedModel version to build with keras.applications and publish atomically."""

    version: int
    application: str = "VGG16"
    weights: str = "imagenet"  # imagenet | none | a path relative to the model volume
    warmup: bool = False
    image_signature: bool = True


@dataclass(frozen=True)
class Resources:
    requests: tuple[tuple[str, str], ...] = ()
    limits: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NetworkAccess:
    """Who may reach TF Serving's ports (it has no authentication), besides the operator."""

    from_namespaces: tuple[str, ...] = ()
    from_pods: tuple[tuple[str, str], ...] = ()  # a label selector in the TFModel's namespace


@dataclass(frozen=True)
class Promotion:
    """Which label moves are checked before they happen, and how (README "Versions and labels")."""

    labels: tuple[str, ...] | None = None  # None: every label
    check_signatures: bool = True  # the new version keeps every signature the old one serves
    smoke_request: bool = True  # and answers one predict per signature on every ready pod

    def gates(self, label: str) -> bool:
        checks = self.check_signatures or self.smoke_request
        return checks and (self.labels is None or label in self.labels)


@dataclass(frozen=True)
class TFModel:
    name: str
    namespace: str
    uid: str
    generation: int
    model_name: str
    storage: Storage
    base_path: str
    version_policy: VersionPolicy
    version_labels: tuple[tuple[str, int], ...]
    replicas: int
    image: str
    resources: Resources
    gpu: Gpu | None
    config_poll_seconds: int
    batching: Batching | None
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]
    affinity: Mapping[str, Any] | None = field(default=None, hash=False)
    exports: tuple[Export, ...] = ()
    export_image: str = DEFAULT_EXPORT_IMAGE
    network_access: "NetworkAccess | None" = None
    promotion: Promotion = Promotion()

    @property
    def device(self) -> str:
        return "gpu" if self.gpu else "cpu"


def parse(body: Mapping[str, Any]) -> TFModel:
    """Validate a TFModel resource (as the apiserver returns it) and apply the defaults."""
    meta = _mapping(body.get("metadata"), "metadata")
    name = _string(meta.get("name"), "metadata.name", pattern=DNS1035_LABEL, max_length=63)
    spec = _mapping(body.get("spec"), "spec")
    _no_unknown(spec, "spec", SPEC_FIELDS)

    model_name = _string(
        spec.get("modelName", name), "spec.modelName", pattern=MODEL_NAME, max_length=63
    )
    if ".." in model_name:
        raise InvalidSpec("spec.modelName", "must not contain '..'")
    storage = _storage(spec.get("storage"))
    base_path = _string(
        spec.get("basePath", f"/models/{model_name}"),
        "spec.basePath",
        pattern=ABSOLUTE_PATH,
        max_length=255,
    )
    if any(base_path == m or base_path.startswith(m + "/") for m in RESERVED_MOUNTS):
        raise InvalidSpec("spec.basePath", f"must not be inside {' or '.join(RESERVED_MOUNTS)}")
    policy = _version_policy(spec.get("versionPolicy"))
    labels = _version_labels(spec.get("versionLabels"), policy)
    gpu = _gpu(spec.get("gpu"))
    image_default = DEFAULT_IMAGE + "-gpu" if gpu else DEFAULT_IMAGE
    image = _string(spec.get("image", image_default), "spec.image", pattern=IMAGE, max_length=512)
    resources = _resources(spec.get("resources"), gpu)
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
        replicas=_integer(spec.get("replicas", 1), "spec.replicas", 0, 1000),
        image=image,
        resources=resources,
        gpu=gpu,
        config_poll_seconds=_integer(
            spec.get("configPollSeconds", DEFAULT_CONFIG_POLL_SECONDS),
            "spec.configPollSeconds",
            1,
            3600,
        ),
        batching=_batching(spec.get("batching")),
        node_selector=_string_map(spec.get("nodeSelector"), "spec.nodeSelector"),
        tolerations=_tolerations(spec.get("tolerations"), "spec.tolerations"),
        affinity=_optional_mapping(spec.get("affinity"), "spec.affinity"),
        exports=_exports(spec.get("exports")),
        export_image=_string(
            spec.get("exportImage", DEFAULT_EXPORT_IMAGE), "spec.exportImage", IMAGE, 512
        ),
        network_access=_network_access(spec.get("networkPolicy")),
        promotion=_promotion(spec.get("promotion")),
    )


def _promotion(value: Any) -> Promotion:
    raw = _optional_mapping(value, "spec.promotion")
    if raw is None:
        return Promotion()
    _no_unknown(raw, "spec.promotion", {"labels", "checkSignatures", "smokeRequest"})
    labels = None
    if "labels" in raw:
        if not isinstance(raw["labels"], list) or len(raw["labels"]) > 16:
            raise InvalidSpec("spec.promotion.labels", "must be a list of at most 16 label names")
        labels = tuple(
            _string(label, f"spec.promotion.labels[{i}]", LABEL_NAME, 63)
            for i, label in enumerate(raw["labels"])
        )
    return Promotion(
        labels=labels,
        check_signatures=_boolean(
            raw.get("checkSignatures", True), "spec.promotion.checkSignatures"
        ),
        smoke_request=_boolean(raw.get("smokeRequest", True), "spec.promotion.smokeRequest"),
    )


def _network_access(value: Any) -> NetworkAccess | None:
    raw = _optional_mapping(value, "spec.networkPolicy")
    if raw is None:
        return None
    _no_unknown(raw, "spec.networkPolicy", {"fromNamespaces", "fromPods"})
    names = raw.get("fromNamespaces") or []
    if not isinstance(names, list):
        raise InvalidSpec("spec.networkPolicy.fromNamespaces", "must be a list of namespace names")
    return NetworkAccess(
        from_namespaces=tuple(
            _string(n, f"spec.networkPolicy.fromNamespaces[{i}]", DNS1123_LABEL, 63)
            for i, n in enumerate(names)
        ),
        from_pods=_string_map(raw.get("fromPods"), "spec.networkPolicy.fromPods"),
    )


SPEC_FIELDS = {
    "modelName", "storage", "basePath", "versionPolicy", "versionLabels", "replicas", "image",
    "resources", "gpu", "configPollSeconds", "batching", "nodeSelector", "tolerations",
    "affinity", "exports", "exportImage", "networkPolicy", "promotion",
}  # fmt: skip


def _storage(value: Any) -> Storage:
    storage = _mapping(value, "spec.storage")
    _no_unknown(storage, "spec.storage", {"persistentVolumeClaim", "nfs"})
    if len(storage) != 1:
        raise InvalidSpec("spec.storage", "exactly one of persistentVolumeClaim or nfs must be set")
    if "persistentVolumeClaim" in storage:
        where = "spec.storage.persistentVolumeClaim"
        pvc = _mapping(storage["persistentVolumeClaim"], where)
        _no_unknown(pvc, where, {"claimName", "subPath"})
        return Storage(
            kind="persistentVolumeClaim",
            claim_name=_string(
                pvc.get("claimName"), f"{where}.claimName", DNS1123_SUBDOMAIN, max_length=253
            ),
            sub_path=_string(
                pvc.get("subPath", ""), f"{where}.subPath", RELATIVE_PATH, 255, allow_empty=True
            ),
        )
    where = "spec.storage.nfs"
    nfs = _mapping(storage["nfs"], where)
    _no_unknown(nfs, where, {"server", "path"})
    return Storage(
        kind="nfs",
        server=_string(nfs.get("server"), f"{where}.server", HOST, max_length=253),
        path=_string(nfs.get("path"), f"{where}.path", ABSOLUTE_PATH, max_length=255),
    )


def _exports(value: Any) -> tuple[Export, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_VERSIONS:
        raise InvalidSpec("spec.exports", f"must be a list of at most {MAX_VERSIONS} exports")
    result = []
    for i, item in enumerate(value):
        at = f"spec.exports[{i}]"
        raw = _mapping(item, at)
        _no_unknown(raw, at, {"version", "application", "weights", "warmup", "imageSignature"})
        weights = _string(raw.get("weights", "imagenet"), f"{at}.weights", RELATIVE_PATH, 255)
        result.append(
            Export(
                version=_integer(raw.get("version"), f"{at}.version", 1, 2**63 - 1),
                application=_choice(raw.get("application", "VGG16"), f"{at}.application"),
                weights=weights,
                warmup=_boolean(raw.get("warmup", False), f"{at}.warmup"),
                image_signature=_boolean(raw.get("imageSignature", True), f"{at}.imageSignature"),
            )
        )
    versions = [e.version for e in result]
    if len(set(versions)) != len(versions):
        raise InvalidSpec("spec.exports", "must not export a version twice")
    return tuple(sorted(result, key=lambda e: e.version))


def _version_policy(value: Any) -> VersionPolicy:
    if value is None:
        return VersionPolicy(kind="latest", num_versions=1)
    policy = _mapping(value, "spec.versionPolicy")
    _no_unknown(policy, "spec.versionPolicy", {"latest", "all", "specific"})
    if len(policy) != 1:
        raise InvalidSpec(
            "spec.versionPolicy", "exactly one of latest, all or specific must be set"
        )
    if "latest" in policy:
        latest = _mapping(policy["latest"], "spec.versionPolicy.latest")
        _no_unknown(latest, "spec.versionPolicy.latest", {"numVersions"})
        count = _integer(
            latest.get("numVersions", 1), "spec.versionPolicy.latest.numVersions", 1, MAX_VERSIONS
        )
        return VersionPolicy(kind="latest", num_versions=count)
    if "all" in policy:
        _no_unknown(
            _mapping(policy["all"], "spec.versionPolicy.all"), "spec.versionPolicy.all", set()
        )
        return VersionPolicy(kind="all")
    where = "spec.versionPolicy.specific.versions"
    specific = _mapping(policy["specific"], "spec.versionPolicy.specific")
    _no_unknown(specific, "spec.versionPolicy.specific", {"versions"})
    raw = specific.get("versions")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_VERSIONS:
        raise InvalidSpec(where, f"must list between 1 and {MAX_VERSIONS} versions")
    versions = [_integer(v, f"{where}[{i}]", 1, 2**63 - 1) for i, v in enumerate(raw)]
    if len(set(versions)) != len(versions):
        raise InvalidSpec(where, "must not list a version twice")
    return VersionPolicy(kind="specific", versions=tuple(sorted(versions)))


def _version_labels(value: Any, policy: VersionPolicy) -> tuple[tuple[str, int], ...]:
    labels = _optional_mapping(value, "spec.versionLabels") or {}
    if len(labels) > 16:
        raise InvalidSpec("spec.versionLabels", "must have at most 16 labels")
    result = []
    for label, version in sorted(labels.items()):
        where = f"spec.versionLabels.{label}"
        if not isinstance(label, str) or not LABEL_NAME.fullmatch(label) or len(label) > 63:
            raise InvalidSpec(where, "label names must match [a-zA-Z0-9_]+ (at most 63 characters)")
        number = _integer(version, where, 1, 2**63 - 1)
        if policy.kind == "specific" and number not in policy.versions:
            raise InvalidSpec(
                where,
                f"points at version {number}, which spec.versionPolicy.specific does not serve",
            )
        result.append((label, number))
    return tuple(result)


def _gpu(value: Any) -> Gpu | None:
    if value is None:
        return None
    gpu = _mapping(value, "spec.gpu")
    fields = {"count", "resourceName", "nodeSelector", "tolerations", "runtimeClassName"}
    _no_unknown(gpu, "spec.gpu", fields | {"memoryFraction"})
    resource_name = _string(
        gpu.get("resourceName", DEFAULT_GPU_RESOURCE), "spec.gpu.resourceName", RESOURCE_NAME, 253
    )
    fraction = gpu.get("memoryFraction")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1
    ):
        raise InvalidSpec(
            "spec.gpu.memoryFraction", "must be a number greater than 0 and at most 1"
        )
    default_toleration = Toleration(key=resource_name, operator="Exists", effect="NoSchedule")
    tolerations = (
        _tolerations(gpu["tolerations"], "spec.gpu.tolerations")
        if "tolerations" in gpu
        else (default_toleration,)
    )
    return Gpu(
        count=_integer(gpu.get("count", 1), "spec.gpu.count", 1, MAX_GPUS),
        resource_name=resource_name,
        node_selector=_string_map(gpu.get("nodeSelector"), "spec.gpu.nodeSelector"),
        tolerations=tolerations,
        runtime_class_name=_string(
            gpu.get("runtimeClassName", ""), "spec.gpu.runtimeClassName", DNS1123_SUBDOMAIN, 253,
            allow_empty=True,
        ),
        memory_fraction=float(fraction) if fraction is not None else None,
    )  # fmt: skip


def _resources(value: Any, gpu: Gpu | None) -> Resources:
    resources = _optional_mapping(value, "spec.resources") or {}
    _no_unknown(resources, "spec.resources", {"requests", "limits"})
    parts = {}
    for part in ("requests", "limits"):
        where = f"spec.resources.{part}"
        quantities = _optional_mapping(resources.get(part), where) or {}
        checked = []
        for key, amount in sorted(quantities.items()):
            _string(key, f"{where}", RESOURCE_NAME, 253)
            text = (
                str(amount) if isinstance(amount, int) and not isinstance(amount, bool) else amount
            )
            _string(text, f"{where}.{key}", QUANTITY, 64)
            if not 0 <= quantity(text) < MAX_QUANTITY:
                raise InvalidSpec(f"{where}.{key}", f"{text} is out of range (below 2^63/1000)")
            if gpu and key == gpu.resource_name:
                raise InvalidSpec(f"{where}.{key}", "set GPUs with spec.gpu.count, not here")
            checked.append((key, text))
        parts[part] = tuple(checked)
    return Resources(**parts)


SUFFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "Pi": 2**50, "Ei": 2**60}  # fmt: skip
# Kubernetes keeps quantities as int64 milli-units: anything larger cannot be scheduled.
MAX_QUANTITY = 2**63 / 1000


def quantity(text: str) -> float:
    """A Kubernetes quantity (matching QUANTITY) as a number; huge exponents give inf."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * SUFFIXES[suffix]
    return float(text)


def _batching(value: Any) -> Batching | None:
    if value is None:
        return None
    batching = _mapping(value, "spec.batching")
    bounds = {
        "maxBatchSize": (1, 1_000_000),
        "batchTimeoutMicros": (0, 60_000_000),
        "maxEnqueuedBatches": (1, 1_000_000),
        "numBatchThreads": (1, 1024),
    }
    _no_unknown(batching, "spec.batching", set(bounds))
    checked = {
        key: _integer(batching[key], f"spec.batching.{key}", *bounds[key])
        for key in bounds
        if key in batching
    }
    return Batching(
        max_batch_size=checked.get("maxBatchSize"),
        batch_timeout_micros=checked.get("batchTimeoutMicros"),
        max_enqueued_batches=checked.get("maxEnqueuedBatches"),
        num_batch_threads=checked.get("numBatchThreads"),
    )


def _tolerations(value: Any, where: str) -> tuple[Toleration, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSpec(where, "must be a list")
    result = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        raw = _mapping(item, at)
        _no_unknown(raw, at, {"key", "operator", "value", "effect", "tolerationSeconds"})
        operator = raw.get("operator", "Equal")
        if operator not in ("Equal", "Exists"):
            raise InvalidSpec(f"{at}.operator", "must be Equal or Exists")
        effect = raw.get("effect", "")
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute", ""):
            raise InvalidSpec(f"{at}.effect", "must be NoSchedule, PreferNoSchedule or NoExecute")
        seconds = raw.get("tolerationSeconds")
        result.append(
            Toleration(
                key=_string(raw.get("key", ""), f"{at}.key", LABEL_KEY, 253, allow_empty=True),
                operator=operator,
                value=_string(
                    raw.get("value", ""), f"{at}.value", LABEL_VALUE, 63, allow_empty=True
                ),
                effect=effect,
                toleration_seconds=(
                    None if seconds is None else _integer(seconds, f"{at}.tolerationSeconds", 0)
                ),
            )
        )
    return tuple(result)


def _string_map(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    raw = _optional_mapping(value, where) or {}
    return tuple(
        (
            _string(k, where, LABEL_KEY, 253),
            _string(v, f"{where}.{k}", LABEL_VALUE, 63, allow_empty=True),
        )
        for k, v in sorted(raw.items())
    )


# --- primitive checks ---------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSpec(where, "is required and must be an object")
    return value


def _optional_mapping(value: Any, where: str) -> Mapping[str, Any] | None:
    return None if value is None else _mapping(value, where)


def _no_unknown(value: Mapping[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidSpec(f"{where}.{unknown[0]}", "is not a known field")


def _integer(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(where, "must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidSpec(where, f"must be at least {minimum}{upper}, got {value}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSpec(where, "must be true or false")
    return value


def _choice(value: Any, where: str) -> str:
    if value not in APPLICATIONS:
        raise InvalidSpec(where, f"{value!r} is not one of {', '.join(APPLICATIONS)}")
    return str(value)


SAFE_TEXT = re.compile(r"^[^\"'\\\n\r\t]*$")


def _string(
    value: Any,
    where: str,
    pattern: re.Pattern[str] = SAFE_TEXT,
    max_length: int = 253,
    *,
    allow_empty: bool = False,
) -> str:
    if not isinstance(value, str):
        raise InvalidSpec(where, "is required and must be a string")
    if value == "" and allow_empty:
        return value
    if len(value) > max_length:
        raise InvalidSpec(where, f"must be at most {max_length} characters, got {len(value)}")
    if not pattern.fullmatch(value) or not SAFE_TEXT.fullmatch(value):
        raise InvalidSpec(where, f"{value!r} does not match {pattern.pattern}")
    return value
