"""Pure: the names, labels and owner metadata of every child, and the hash stamped on each."""

import hashlib
import json
from typing import Any

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import Export, TFModel
from tfmodel_operator.controller.kinds import Manifest

EXPORT_VERSION = f"{vocabulary.GROUP}/export-version"


def config_map_name(tfmodel: TFModel) -> str:
    return f"{tfmodel.name}-models-config"


def export_inputs(tfmodel: TFModel, export: Export) -> dict[str, Any]:
    """Everything that decides what an export writes: a Job's name carries its hash, because a
    Job's pod template is immutable and a published version must never change."""
    return {
        "application": export.application, "weights": export.weights, "version": export.version,
        "warmup": export.warmup, "imageSignature": export.image_signature,
        "image": tfmodel.export_image, "modelName": tfmodel.model_name,
        "basePath": tfmodel.base_path, "storage": [tfmodel.storage.kind, tfmodel.storage.claim_name,
        tfmodel.storage.sub_path, tfmodel.storage.server, tfmodel.storage.path],
        **({"bucket": tfmodel.storage.bucket.url} if tfmodel.storage.bucket else {}),
    }  # fmt: skip


def export_job_name(tfmodel: TFModel, export: Export) -> str:
    """`<name>-export-v<N>-<hash10>`, shortened to fit a label value (63 characters)."""
    prefix = f"{tfmodel.name}-export-v{export.version}"[:52].rstrip("-")
    return f"{prefix}-{digest(export_inputs(tfmodel, export))[:10]}"


def labels(tfmodel: TFModel, component: str) -> dict[str, str]:
    return {
        vocabulary.LABEL_NAME: "tfserving",
        vocabulary.LABEL_INSTANCE: tfmodel.name,
        vocabulary.LABEL_COMPONENT: component,
        vocabulary.LABEL_MANAGED_BY: vocabulary.FIELD_MANAGER,
    }


def server_selector(tfmodel: TFModel) -> dict[str, str]:
    """Immutable once the Deployment exists, so it uses only instance and component."""
    return {vocabulary.LABEL_INSTANCE: tfmodel.name, vocabulary.LABEL_COMPONENT: "server"}


def metadata(tfmodel: TFModel, name: str, component: str) -> Manifest:
    owner = {
        "apiVersion": vocabulary.API_VERSION,
        "kind": vocabulary.KIND,
        "name": tfmodel.name,
        "uid": tfmodel.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "name": name,
        "namespace": tfmodel.namespace,
        "labels": labels(tfmodel, component),
        "ownerReferences": [owner],
    }


def with_applied_hash(manifest: Manifest) -> Manifest:
    """Stamp the manifest's own hash on it, so an unchanged child can be recognised cheaply."""
    annotations = {
        **manifest["metadata"].get("annotations", {}),
        vocabulary.APPLIED_HASH: digest(manifest),
    }
    return {**manifest, "metadata": {**manifest["metadata"], "annotations": annotations}}


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def endpoints(tfmodel: TFModel) -> dict[str, str]:
    host = f"{tfmodel.name}.{tfmodel.namespace}.svc"
    return {
        "rest": f"http://{host}:{vocabulary.REST_PORT}/v1/models/{tfmodel.model_name}",
        "grpc": f"{host}:{vocabulary.GRPC_PORT}",
    }
