"""spec.storage.s3 and gcs: what is parsed, the model-sync sidecar and its versions file, export
Jobs that publish to the bucket, and the status the sidecars' answers make."""

import json
from datetime import UTC, datetime
from typing import Any

from support.tfmodels import tfmodel
from tfmodel_operator.controller import policy, spec
from tfmodel_operator.controller.api import TFModel
from tfmodel_operator.controller.decision import render, status
from tfmodel_operator.controller.decision.plan import Decision, Plan, desired_plan
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
S3 = {"bucket": "models", "prefix": "team/vgg16", "endpoint": "http://minio.storage:9000",
      "region": "eu-west-1", "secretRef": {"name": "s3-creds"}}  # fmt: skip


def parsed(storage: dict[str, Any], **fields: Any) -> TFModel:
    body = tfmodel(storage=storage, **fields)
    body["metadata"].update(namespace="ml", uid="u1", generation=1)
    return spec.parse(body)


def pod_spec(model: TFModel, plan: Plan | None = None) -> dict[str, Any]:
    desired = render.desired(model, plan or desired_plan(model))
    result: dict[str, Any] = desired.deployment["spec"]["template"]["spec"]
    return result


def sidecar(model: TFModel) -> dict[str, Any]:
    (sync,) = pod_spec(model)["initContainers"]
    assert sync["name"] == "model-sync"
    return sync


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_an_s3_bucket_is_parsed_with_its_defaults() -> None:
    bucket = parsed({"s3": {"bucket": "models"}}).storage.bucket
    assert bucket is not None
    assert (bucket.url, bucket.sync_seconds, bucket.secret_name) == ("s3://models", 30, "")
    full = parsed({"s3": S3, "syncSeconds": 5}).storage.bucket
    assert full is not None
    assert (full.url, full.endpoint, full.sync_seconds) == (
        "s3://models/team/vgg16", "http://minio.storage:9000", 5,
    )  # fmt: skip


def test_the_sidecar_mirrors_the_bucket_into_the_directory_tf_serving_reads() -> None:
    model = parsed({"s3": S3, "syncSeconds": 10})
    sync = sidecar(model)
    assert sync["restartPolicy"] == "Always"  # a native sidecar: started before TF Serving
    assert sync["command"] == ["tfmodel", "sync"]
    assert sync["args"] == [
        "--source=s3://models/team/vgg16", "--dest=/models/vgg16", "--model-name=vgg16",
        "--versions-file=/etc/tfserving/model-sync.json", "--interval=10",
        "--serving-url=http://$(POD_IP):8501", "--listen=$(POD_IP):8502",
    ]  # fmt: skip
    assert sync["startupProbe"]["httpGet"] == {"path": "/ready", "port": "sync"}
    variables = env(sync)
    assert variables["AWS_ENDPOINT_URL"] == "http://minio.storage:9000"
    assert variables["AWS_REGION"] == "eu-west-1"
    assert variables["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert variables["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert sync["securityContext"]["readOnlyRootFilesystem"] is True
    spec_ = pod_spec(model)
    volumes = {v["name"]: v for v in spec_["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    (server,) = spec_["containers"]
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["models"] == {"name": "models", "mountPath": "/models/vgg16", "readOnly": True}
    assert {m["name"]: m for m in sync["volumeMounts"]}["models"].get("readOnly") is None


def test_the_sidecar_image_is_the_operators_unless_set_and_the_policy_can_narrow_it() -> None:
    assert sidecar(parsed({"s3": S3}))["image"] == "ghcr.io/tfmodel/tfmodel-operator:0.1.0"
    mirrored = parsed({"s3": S3}, syncImage="registry.example/tfmodel-operator:0.1.0")
    assert sidecar(mirrored)["image"] == "registry.example/tfmodel-operator:0.1.0"
    narrow = policy.load('syncImagePrefixes: ["registry.example/"]')
    assert policy.violations(mirrored, {}, narrow) == []
    (refused,) = policy.violations(parsed({"s3": S3}), {}, narrow)
    assert refused.startswith("spec.syncImage: ghcr.io/tfmodel/tfmodel-operator:0.1.0 is not")


def test_without_a_secret_the_pods_own_identity_is_used() -> None:
    assert "AWS_ACCESS_KEY_ID" not in env(sidecar(parsed({"s3": {"bucket": "models"}})))
    gcs = sidecar(parsed({"gcs": {"bucket": "models"}}))
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in env(gcs)
    assert gcs["args"][0] == "--source=gs://models"


def test_a_gcs_key_is_mounted_from_its_secret() -> None:
    model = parsed({"gcs": {"bucket": "models", "prefix": "vgg16", "secretRef": {"name": "key"}}})
    sync = sidecar(model)
    assert env(sync)["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/tfmodel/gcs/key.json"
    assert {"name": "gcs-key", "mountPath": "/var/run/secrets/tfmodel/gcs", "readOnly": True} in (
        sync["volumeMounts"]
    )
    volumes = {v["name"]: v for v in pod_spec(model)["volumes"]}
    assert volumes["gcs-key"]["secret"]["secretName"] == "key"


def test_the_versions_file_follows_the_plan_so_a_label_move_restarts_no_pod() -> None:
    model = parsed({"s3": S3}, versionPolicy={"latest": {"numVersions": 2}},
                   versionLabels={"stable": 1})  # fmt: skip
    before = render.desired(model, desired_plan(model))
    assert json.loads(before.config_map["data"]["model-sync.json"]) == {"latest": 2, "keep": [1]}
    moved = Plan(policy=desired_plan(model).policy, labels=(("stable", 3),))
    after = render.desired(model, moved)
    assert json.loads(after.config_map["data"]["model-sync.json"]) == {"latest": 2, "keep": [3]}
    assert after.deployment == before.deployment
    specific = parsed({"s3": S3}, versionPolicy={"specific": {"versions": [2, 1]}},
                      versionLabels={})  # fmt: skip
    data = render.desired(specific, desired_plan(specific)).config_map["data"]
    assert json.loads(data["model-sync.json"]) == {"specific": [1, 2], "keep": []}
    volume = parsed({"persistentVolumeClaim": {"claimName": "models"}})
    assert "model-sync.json" not in render.desired(volume, desired_plan(volume)).config_map["data"]


def test_export_jobs_publish_to_the_bucket_with_its_credentials() -> None:
    model = parsed({"s3": S3}, exports=[{"version": 3, "weights": "none"}])
    (export,) = model.exports
    (job,) = render.desired(model, desired_plan(model), (export,)).jobs
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--base-path") + 1] == "s3://models/team/vgg16"
    assert env(container)["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]  # no model volume to mount


def test_the_network_policy_lets_only_the_operator_ask_the_sidecar() -> None:
    model = parsed({"s3": S3}, networkPolicy={"fromNamespaces": ["shop"]})
    policy = render.desired(model, desired_plan(model)).network_policy
    assert policy is not None
    clients, operator = policy["spec"]["ingress"]
    assert {p["port"] for p in clients["ports"]} == {8500, 8501}
    assert operator["ports"] == [{"protocol": "TCP", "port": 8502}]
    assert operator["from"] == clients["from"][:1]


def serving(pod: str, sync_error: str = "") -> PodServing:
    return PodServing(pod=pod, versions=(VersionStatus(1, "AVAILABLE"),), sync_error=sync_error)


def computed(model: TFModel, answers: list[PodServing]) -> dict[str, Any]:
    available = {"type": "Available", "status": "True"}
    deployment = {"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {
        "observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
        "availableReplicas": 2, "conditions": [available]}}  # fmt: skip
    world = status.World(deployment=deployment, serving=answers, config_written=NOW)
    decision = Decision(plan=desired_plan(model))
    return {c["type"]: c for c in status.compute(model, decision, world, {}, NOW)["conditions"]}


def test_a_bucket_the_sidecars_cannot_read_is_named_and_what_is_served_stays_served() -> None:
    model = parsed({"s3": S3}, versionPolicy={"specific": {"versions": [1]}}, versionLabels={})
    denied = "AccessDenied: wrong credentials"
    conditions = computed(model, [serving("vgg16-a", denied), serving("vgg16-b", denied)])
    synced = conditions["Synced"]
    assert (synced["status"], synced["reason"]) == ("False", "SyncFailed")
    assert synced["message"] == f"s3://models/team/vgg16: {denied} (on vgg16-a, vgg16-b)"
    assert (conditions["Degraded"]["status"], conditions["Degraded"]["reason"]) == (
        "True", "SyncFailed",
    )  # fmt: skip
    assert conditions["Ready"]["status"] == "True"  # version 1 is still served
    assert conditions["Stalled"]["status"] == "False"  # the sidecars keep trying
    well = computed(model, [serving("vgg16-a"), serving("vgg16-b")])
    assert (well["Synced"]["status"], well["Degraded"]["status"]) == ("True", "False")


def test_a_volume_has_no_synced_condition() -> None:
    model = parsed({"persistentVolumeClaim": {"claimName": "models"}},
                   versionPolicy={"specific": {"versions": [1]}}, versionLabels={})  # fmt: skip
    assert "Synced" not in computed(model, [serving("vgg16-a")])
