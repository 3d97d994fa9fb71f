"""Pure: what the pods the operator creates (serving and export) share: the Pod Security
"restricted" settings they run with, the SavedModel volume and its mount, and tolerations."""

from typing import Any

from tfmodel_operator.controller.api import TFModel, Toleration
from tfmodel_operator.controller.kinds import Manifest

SERVER_UID = 1000  # the tensorflow/serving image defines no user; KServe uses 1000 as well


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVER_UID,
        "runAsGroup": SERVER_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def models_volume(tfmodel: TFModel, read_only: bool) -> Manifest:
    """The SavedModel volume: read-only for serving, read-write only in export Jobs. With a
    bucket, the directory its model-sync sidecar mirrors the versions into."""
    storage = tfmodel.storage
    if storage.bucket:
        return {"name": "models", "emptyDir": {}}
    if storage.kind == "persistentVolumeClaim":
        source = {"persistentVolumeClaim": {"claimName": storage.claim_name, "readOnly": read_only}}
    else:
        source = {"nfs": {"server": storage.server, "path": storage.path, "readOnly": read_only}}
    return {"name": "models", **source}


def models_mount(tfmodel: TFModel, read_only: bool) -> Manifest:
    mount: Manifest = {"name": "models", "mountPath": tfmodel.base_path}
    if read_only:
        mount["readOnly"] = True
    if tfmodel.storage.sub_path:
        mount["subPath"] = tfmodel.storage.sub_path
    return mount


def toleration(t: Toleration) -> Manifest:
    result: Manifest = {"operator": t.operator}
    for key, value in (("key", t.key), ("value", t.value), ("effect", t.effect)):
        if value:
            result[key] = value
    if t.toleration_seconds is not None:
        result["tolerationSeconds"] = t.toleration_seconds
    return result
