"""Pure: the model-sync sidecar of a TFModel whose versions live in a bucket (spec.storage.s3
or gcs), the versions file it follows, and the store settings it and the export Jobs share.

TF Serving 2.20 reads no s3:// (and gs:// only from Google's endpoint), so the sidecar mirrors
the complete versions into an emptyDir by atomic renames; TF Serving reads that directory as it
reads a volume, and picks up new versions without a pod restart. It is a native sidecar (an
init container that keeps running) whose startup probe passes after the first complete sync, so
TF Serving starts with its versions present.
"""

import json

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import Bucket, TFModel
from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.render.pods import container_security, models_mount
from tfmodel_operator.controller.kinds import Manifest

GCS_KEY_DIR = "/var/run/secrets/tfmodel/gcs"
GCS_KEY_FILE = "key.json"  # the key in spec.storage.gcs.secretRef's Secret
S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # the keys in s3.secretRef's Secret


def versions_file(plan: Plan) -> str:
    """What the sidecar mirrors: the versions models.config asks for, and the labelled ones."""
    policy = plan.policy
    wanted: dict[str, object] = (
        {"latest": policy.num_versions}
        if policy.kind == "latest"
        else {"all": True}
        if policy.kind == "all"
        else {"specific": sorted(policy.versions)}
    )
    wanted["keep"] = sorted({version for _, version in plan.labels})
    return json.dumps(wanted, sort_keys=True) + "\n"


def store_env(bucket: Bucket) -> list[Manifest]:
    """The stores' standard variables, so `tfmodel sync` and `tfmodel export` need no flags."""
    if bucket.store == "gcs":
        if not bucket.secret_name:
            return []  # workload identity
        path = f"{GCS_KEY_DIR}/{GCS_KEY_FILE}"
        return [{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": path}]
    env: list[Manifest] = []
    if bucket.endpoint:
        env.append({"name": "AWS_ENDPOINT_URL", "value": bucket.endpoint})
    if bucket.region:
        env.append({"name": "AWS_REGION", "value": bucket.region})
    if bucket.secret_name:  # else the pod's identity (IRSA's web identity token)
        env += [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": bucket.secret_name, "key": key}}}
            for key in S3_KEYS
        ]
    return env


def store_volumes(bucket: Bucket) -> tuple[list[Manifest], list[Manifest]]:
    """(volumes, mounts) for a GCS service-account key; nothing otherwise."""
    if bucket.store != "gcs" or not bucket.secret_name:
        return [], []
    secret = {
        "secretName": bucket.secret_name,
        "items": [{"key": GCS_KEY_FILE, "path": GCS_KEY_FILE}],
    }
    return (
        [{"name": "gcs-key", "secret": secret}],
        [{"name": "gcs-key", "mountPath": GCS_KEY_DIR, "readOnly": True}],
    )


def sync_container(tfmodel: TFModel, bucket: Bucket) -> Manifest:
    pod_ip = "$(POD_IP)"  # TF Serving's REST port and the sidecar's own, on the pod's address
    args = [
        f"--source={bucket.url}",
        f"--dest={tfmodel.base_path}",
        f"--model-name={tfmodel.model_name}",
        f"--versions-file={vocabulary.CONFIG_DIR}/{vocabulary.SYNC_VERSIONS_FILE}",
        f"--interval={bucket.sync_seconds}",
        f"--serving-url=http://{pod_ip}:{vocabulary.REST_PORT}",
        f"--listen={pod_ip}:{vocabulary.SYNC_PORT}",
    ]
    _, key_mounts = store_volumes(bucket)
    return {
        "name": "model-sync",
        "image": tfmodel.sync_image,
        "restartPolicy": "Always",  # a native sidecar: runs beside TF Serving, started first
        "command": ["tfmodel", "sync"],
        "args": args,
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOME", "value": "/tmp"},
            *store_env(bucket),
        ],
        "ports": [{"name": "sync", "containerPort": vocabulary.SYNC_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        # TF Serving starts once the first complete sync is on disk: up to 30 minutes for a
        # large model on a slow link.
        "startupProbe": {
            "httpGet": {"path": "/ready", "port": "sync"},
            "periodSeconds": 2,
            "failureThreshold": 900,
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": vocabulary.CONFIG_DIR, "readOnly": True},
            models_mount(tfmodel, read_only=False),
            {"name": "tmp", "mountPath": "/tmp"},
            *key_mounts,
        ],
    }
