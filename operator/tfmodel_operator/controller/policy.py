"""Pure: what TFModel authors may ask for, as the platform team decides (not the tenant).

A TFModel author picks images, volumes and scheduling for pods that run with the cluster's
trust: the policy (`tfmodel run --policy FILE`, e.g. a ConfigMap the platform team mounts)
narrows that. An absent rule allows anything, so without a policy nothing changes. A TFModel
outside the policy gets nothing created and is Stalled with reason PolicyViolation, naming
the field and the rule.

    imagePrefixes: ["tensorflow/serving:", "registry.example/serving/"]   # spec.image
    exportImagePrefixes: ["registry.example/tfmodel-exporter:"]          # spec.exportImage
    syncImagePrefixes: ["registry.example/tfmodel-operator:"]            # spec.syncImage
    nfsServers: ["nfs.example.internal"]                                 # spec.storage.nfs.server
    runtimeClassNames: ["nvidia"]                                        # spec.gpu.runtimeClassName
    allowTolerations: false      # spec.tolerations, spec.gpu.tolerations (default: allowed)
    allowNodeSelectors: false    # spec.nodeSelector, spec.gpu.nodeSelector, spec.affinity
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tfmodel_operator.controller.api import TFModel

RULES = {"imagePrefixes", "exportImagePrefixes", "syncImagePrefixes", "nfsServers",
         "runtimeClassNames", "allowTolerations", "allowNodeSelectors"}  # fmt: skip


class PolicyError(ValueError):
    """The policy file itself is wrong (the operator refuses to start with it)."""


@dataclass(frozen=True)
class Policy:
    image_prefixes: tuple[str, ...] | None = None  # None: any
    export_image_prefixes: tuple[str, ...] | None = None
    sync_image_prefixes: tuple[str, ...] | None = None
    nfs_servers: tuple[str, ...] | None = None
    runtime_class_names: tuple[str, ...] | None = None
    allow_tolerations: bool = True
    allow_node_selectors: bool = True


def load(text: str) -> Policy:
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise PolicyError("the policy must be a mapping of rules")
    unknown = sorted(set(raw) - RULES)
    if unknown:
        raise PolicyError(f"unknown rules {', '.join(unknown)} (known: {', '.join(sorted(RULES))})")

    def strings(key: str) -> tuple[str, ...] | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{key} must be a list of strings")
        return tuple(value)

    def flag(key: str) -> bool:
        value = raw.get(key, True)
        if not isinstance(value, bool):
            raise PolicyError(f"{key} must be true or false")
        return value

    return Policy(
        image_prefixes=strings("imagePrefixes"),
        export_image_prefixes=strings("exportImagePrefixes"),
        sync_image_prefixes=strings("syncImagePrefixes"),
        nfs_servers=strings("nfsServers"),
        runtime_class_names=strings("runtimeClassNames"),
        allow_tolerations=flag("allowTolerations"),
        allow_node_selectors=flag("allowNodeSelectors"),
    )


def violations(tfmodel: TFModel, raw_spec: Mapping[str, Any], policy: Policy) -> list[str]:
    """What `tfmodel` asks for that `policy` does not allow, each naming the field and rule.

    `raw_spec` is the spec as written: defaults the operator fills in (the image, the GPU
    toleration) are the platform's own choice, not the author's."""
    found = []

    def check(field: str, value: str, allowed: tuple[str, ...] | None, rule: str) -> None:
        ok = allowed is None or (
            value.startswith(allowed) if rule.endswith("Prefixes") else value in allowed
        )
        if value and not ok:
            rules = ", ".join(allowed or ()) or "nothing"
            found.append(
                f"{field}: {value} is not allowed by the platform policy ({rule}: {rules})"
            )

    check("spec.image", tfmodel.image, policy.image_prefixes, "imagePrefixes")
    if tfmodel.exports:
        check(
            "spec.exportImage",
            tfmodel.export_image,
            policy.export_image_prefixes,
            "exportImagePrefixes",
        )
    if tfmodel.storage.bucket:
        check("spec.syncImage", tfmodel.sync_image, policy.sync_image_prefixes, "syncImagePrefixes")
    if tfmodel.storage.kind == "nfs":
        check("spec.storage.nfs.server", tfmodel.storage.server, policy.nfs_servers, "nfsServers")
    if tfmodel.gpu:
        check(
            "spec.gpu.runtimeClassName",
            tfmodel.gpu.runtime_class_name,
            policy.runtime_class_names,
            "runtimeClassNames",
        )
    gpu = raw_spec.get("gpu") or {}
    if not policy.allow_tolerations:
        for field, value in (("spec.tolerations", raw_spec.get("tolerations")),
                             ("spec.gpu.tolerations", gpu.get("tolerations"))):  # fmt: skip
            if value:
                found.append(f"{field}: tolerations are not allowed by the platform policy "
                             "(allowTolerations: false)")  # fmt: skip
    if not policy.allow_node_selectors:
        for field, value in (("spec.nodeSelector", raw_spec.get("nodeSelector")),
                             ("spec.gpu.nodeSelector", gpu.get("nodeSelector")),
                             ("spec.affinity", raw_spec.get("affinity"))):  # fmt: skip
            if value:
                found.append(f"{field}: node selection is not allowed by the platform policy "
                             "(allowNodeSelectors: false)")  # fmt: skip
    return found
