"""Pure: the Job that exports one SavedModel version onto the model volume, or into the bucket
(`tfmodel export --base-path s3://...` uploads the files, then the `_SUCCESS` marker)."""

from tfmodel_operator.controller.api import Export, TFModel
from tfmodel_operator.controller.decision.render.names import (
    EXPORT_VERSION,
    export_job_name,
    labels,
    metadata,
)
from tfmodel_operator.controller.decision.render.pods import (
    container_security,
    models_mount,
    models_volume,
    pod_security,
    toleration,
)
from tfmodel_operator.controller.decision.render.sync import store_env, store_volumes
from tfmodel_operator.controller.kinds import CHILDREN, Manifest


def export_job(tfmodel: TFModel, export: Export) -> Manifest:
    meta = metadata(tfmodel, export_job_name(tfmodel, export), "export")
    meta["labels"][EXPORT_VERSION] = str(export.version)
    weights = export.weights
    if weights not in ("imagenet", "none"):
        weights = f"{tfmodel.base_path}/{weights}"  # a file on the model volume
    bucket = tfmodel.storage.bucket
    base_path = bucket.url if bucket else tfmodel.base_path
    args = [
        "--application", export.application, "--weights", weights,
        "--version", str(export.version), "--base-path", base_path,
        "--model-name", tfmodel.model_name,
    ]  # fmt: skip
    if bucket:  # the bucket instead of the volume: its credentials, scratch space for the upload
        key_volumes, key_mounts = store_volumes(bucket)
        env, mounts = store_env(bucket), key_mounts
        volumes = key_volumes
    else:
        env, mounts = [], [models_mount(tfmodel, read_only=False)]
        volumes = [models_volume(tfmodel, read_only=False)]
    if export.warmup:
        args.append("--warmup")
    if not export.image_signature:
        args.append("--no-image-signature")
    args.append("--exist-ok")  # a retried Job finds its own published version: success
    pod: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [
            {
                "name": "export",
                "image": tfmodel.export_image,
                "args": args,
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "KERAS_HOME", "value": "/tmp/keras"},
                    *env,
                ],
                "resources": {
                    "requests": {"cpu": "1", "memory": "2Gi"},
                    "limits": {"memory": "6Gi"},
                },
                # The exporter's last words become the pod's termination message, and so the
                # TFModel's status when an export fails.
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": container_security(),
                "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
    }
    if tfmodel.node_selector:
        pod["nodeSelector"] = dict(tfmodel.node_selector)
    if tfmodel.tolerations:
        pod["tolerations"] = [toleration(t) for t in tfmodel.tolerations]
    return {
        **CHILDREN["Job"].header(),
        "metadata": meta,
        "spec": {
            # No ttlSecondsAfterFinished: the finished Job is the record that the version was
            # published; deleting it would make the next reconcile export again.
            "backoffLimit": 1,
            "activeDeadlineSeconds": 3600,
            "template": {"metadata": {"labels": labels(tfmodel, "export")}, "spec": pod},
        },
    }
