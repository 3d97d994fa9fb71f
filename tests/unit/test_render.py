"""render: properties of the children (not golden YAML), and which changes roll pods."""

from typing import Any

import pytest
import yaml

from support.tfmodels import tfmodel
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision import render
from tfmodel_operator.controller.decision.plan import desired_plan
from tfmodel_operator.controller.decision.render import names, server

UID = "0f2a6c1e-1111-2222-3333-444455556666"


def children(**spec_fields: Any) -> render.Desired:
    body = tfmodel(**spec_fields)
    body["metadata"].update(namespace="ml", uid=UID, generation=3)
    parsed = spec.parse(body)
    return render.desired(parsed, desired_plan(parsed))


def container(desired: render.Desired) -> dict[str, Any]:
    (server,) = desired.deployment["spec"]["template"]["spec"]["containers"]
    return server


def test_names_labels_and_owner_references() -> None:
    desired = children()
    assert [m["metadata"]["name"] for m in desired.in_apply_order()] == [
        "vgg16-models-config", "vgg16", "vgg16",
    ]  # fmt: skip
    for manifest in desired.in_apply_order():
        meta = manifest["metadata"]
        assert meta["namespace"] == "ml"
        assert meta["labels"]["app.kubernetes.io/instance"] == "vgg16"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "tfmodel-operator"
        (owner,) = meta["ownerReferences"]
        assert owner == {
            "apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel", "name": "vgg16",
            "uid": UID, "controller": True, "blockOwnerDeletion": True,
        }  # fmt: skip


def test_selectors_match_the_pod_labels() -> None:
    desired = children()
    pod_labels = desired.deployment["spec"]["template"]["metadata"]["labels"]
    selector = desired.deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert desired.service["spec"]["selector"] == selector


def test_server_runs_tf_serving_with_explicit_flags() -> None:
    server = container(children(configPollSeconds=7))
    assert server["command"] == ["tensorflow_model_server"]
    assert server["args"] == [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_config_file=/etc/tfserving/models.config",
        "--model_config_file_poll_wait_seconds=7",
        "--monitoring_config_file=/etc/tfserving/monitoring.config",
        "--allow_version_labels_for_unavailable_models=true",
    ]
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {"grpc": 8500, "http": 8501}


def test_config_is_a_directory_mount_and_models_are_read_only() -> None:
    desired = children(basePath="/srv/vgg")
    mounts = {m["name"]: m for m in container(desired)["volumeMounts"]}
    assert mounts["config"] == {"name": "config", "mountPath": "/etc/tfserving", "readOnly": True}
    assert mounts["models"] == {
        "name": "models",
        "mountPath": "/srv/vgg",
        "readOnly": True,
        "subPath": "vgg16",
    }
    volumes = {v["name"]: v for v in desired.deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    assert volumes["config"]["configMap"]["name"] == desired.config_map["metadata"]["name"]
    config = desired.config_map["data"]["models.config"]
    assert "base_path: '/srv/vgg'" in config


def test_nfs_storage_is_mounted_read_only() -> None:
    desired = children(storage={"nfs": {"server": "nfs.internal", "path": "/exports/vgg16"}})
    volumes = {v["name"]: v for v in desired.deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["nfs"] == {
        "server": "nfs.internal",
        "path": "/exports/vgg16",
        "readOnly": True,
    }
    assert "subPath" not in {m["name"]: m for m in container(desired)["volumeMounts"]}["models"]


def test_pod_meets_pod_security_restricted() -> None:
    pod = children().deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(children())["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert all(set(v) & {"hostPath", "hostNetwork"} == set() for v in pod["volumes"])


def test_probes_give_slow_model_loads_time() -> None:
    server = container(children())
    startup = server["startupProbe"]
    assert startup["httpGet"] == {"path": "/v1/models/vgg16", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert server["readinessProbe"]["httpGet"]["path"] == "/v1/models/vgg16"


def test_cpu_only_model_gets_no_gpu_settings() -> None:
    pod = children().deployment["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    assert "runtimeClassName" not in pod
    assert container(children())["image"] == "tensorflow/serving:2.20.0"


def test_gpu_model_gets_image_limits_selector_tolerations_and_runtime() -> None:
    gpu = {
        "count": 2,
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "runtimeClassName": "nvidia",
        "memoryFraction": 0.5,
    }
    desired = children(
        gpu=gpu,
        resources={"limits": {"memory": "16Gi"}},
        tolerations=[{"key": "team", "operator": "Exists"}],
    )
    pod = desired.deployment["spec"]["template"]["spec"]
    server = container(desired)
    assert server["image"] == "tensorflow/serving:2.20.0-gpu"
    assert server["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [
        {"operator": "Exists", "key": "team"},
        {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"},
    ]
    assert pod["runtimeClassName"] == "nvidia"
    assert "--per_process_gpu_memory_fraction=0.5" in server["args"]  # fmt: skip


@pytest.mark.parametrize(("limit", "threads"), [("500m", 1), ("2", 2), ("1.5", 2), ("4000m", 4)])
def test_thread_pools_follow_the_cpu_limit(limit: str, threads: int) -> None:
    args = container(children(resources={"limits": {"cpu": limit}}))["args"]
    assert f"--tensorflow_intra_op_parallelism={threads}" in args
    assert f"--tensorflow_inter_op_parallelism={threads}" in args


def test_batching_flags_only_with_batching() -> None:
    assert not any("batching" in a for a in container(children())["args"])
    desired = children(batching={"maxBatchSize": 16})
    assert "--enable_batching=true" in container(desired)["args"]
    assert "--batching_parameters_file=/etc/tfserving/batching.config" in container(desired)["args"]
    assert desired.config_map["data"]["batching.config"] == "max_batch_size { value: 16 }\n"


def pod_template(desired: render.Desired) -> dict[str, Any]:
    return desired.deployment["spec"]["template"]


@pytest.mark.parametrize(
    "change",
    [
        {"versionLabels": {"stable": 2, "canary": 2}},
        {"versionPolicy": {"specific": {"versions": [1, 2, 3]}}},
        {"versionPolicy": {"latest": {"numVersions": 3}}, "versionLabels": {}},
    ],
)
def test_version_and_label_changes_touch_only_the_config_map(change: dict[str, Any]) -> None:
    before, after = children(), children(**change)
    assert before.config_map != after.config_map
    assert before.deployment == after.deployment
    assert before.service == after.service


@pytest.mark.parametrize(
    "change",
    [
        {"image": "tensorflow/serving:2.19.0"},
        {"resources": {"requests": {"cpu": "3"}}},
        {"batching": {"maxBatchSize": 8}},
        {"gpu": {"count": 1}},
    ],
)
def test_server_changes_roll_the_pods(change: dict[str, Any]) -> None:
    assert pod_template(children()) != pod_template(children(**change))


# One spec with every kind of field render reads: lists of versions and exports, maps of labels,
# selectors and resources.
ORDERED: dict[str, Any] = {
    "versionPolicy": {"specific": {"versions": [1, 2, 3]}},
    "versionLabels": {"beta": 3, "canary": 2, "stable": 1},
    "replicas": 2,
    "resources": {"limits": {"cpu": "4", "memory": "8Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}},
    "batching": {"batchTimeoutMicros": 100, "maxBatchSize": 8},
    "gpu": {"count": 1, "nodeSelector": {"a": "2", "b": "1"}},
    "nodeSelector": {"disk": "ssd", "zone": "a"},
    "tolerations": [{"effect": "NoSchedule", "key": "k", "operator": "Exists"}],
    "networkPolicy": {"fromNamespaces": ["shop"], "fromPods": {"app": "frontend", "tier": "web"}},
    "exports": [{"version": 2, "weights": "none"}, {"version": 3, "weights": "none"}],
}  # fmt: skip


def reordered(value: Any) -> Any:
    """`value` with every map's keys in reverse insertion order (the same object to the API)."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def rendered(body: dict[str, Any]) -> tuple[str, list[str]]:
    """What `tfmodel render` prints for `body` (dicts in insertion order, as it prints them),
    and the applied hash of each child."""
    body["metadata"].update(namespace="ml", uid=UID, generation=3)
    parsed = spec.parse(body)
    manifests = render.desired(parsed, desired_plan(parsed), parsed.exports).in_apply_order()
    hashes = [m["metadata"]["annotations"]["serving.tfmodel.io/applied-hash"] for m in manifests]
    return yaml.safe_dump_all(manifests, sort_keys=False), hashes


def test_the_same_spec_written_in_another_order_renders_the_same_bytes() -> None:
    shuffled = reordered(tfmodel(**ORDERED))
    shuffled["spec"]["versionPolicy"]["specific"]["versions"] = [3, 1, 2]
    shuffled["spec"]["exports"].reverse()
    text, hashes = rendered(tfmodel(**ORDERED))
    assert len(hashes) == 7  # ConfigMap, Service, budget, NetworkPolicy, Deployment, 2 Jobs
    assert rendered(shuffled) == (text, hashes)
    # spec.affinity is passed through as written, so only its hash ignores its keys' order.
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
                "podAntiAffinity": {}}  # fmt: skip
    _, first = rendered(tfmodel(affinity=affinity))
    _, second = rendered(tfmodel(affinity=reordered(affinity)))
    assert first == second
    assert names.digest({"b": 1, "a": [1, 2]}) == names.digest({"a": [1, 2], "b": 1})


def test_applied_hash_changes_with_the_manifest() -> None:
    key = "serving.tfmodel.io/applied-hash"
    a, b = children(), children(replicas=3)
    assert (
        a.deployment["metadata"]["annotations"][key] != b.deployment["metadata"]["annotations"][key]
    )
    assert a.service["metadata"]["annotations"][key] == b.service["metadata"]["annotations"][key]


def test_replicas_spread_across_nodes_unless_the_spec_sets_affinity() -> None:
    spread = server.pod_spec(spec.parse(tfmodel(replicas=3)))["topologySpreadConstraints"]
    assert spread == [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                       "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "vgg16", "app.kubernetes.io/component": "server"}}}]  # fmt: skip
    own = server.pod_spec(spec.parse(tfmodel(affinity={"podAntiAffinity": {}})))
    assert "topologySpreadConstraints" not in own


def test_a_disruption_budget_only_with_several_replicas() -> None:
    one = render.desired(spec.parse(tfmodel(replicas=1)), desired_plan(spec.parse(tfmodel())))
    two = render.desired(spec.parse(tfmodel(replicas=2)), desired_plan(spec.parse(tfmodel())))
    assert one.disruption_budget is None
    assert two.disruption_budget is not None
    assert two.disruption_budget["spec"]["maxUnavailable"] == 1
    assert [m["kind"] for m in two.in_apply_order()] == [
        "ConfigMap",
        "Service",
        "PodDisruptionBudget",
        "Deployment",
    ]


def test_network_policy_admits_the_listed_namespaces_and_pods_and_the_operator_only() -> None:
    tfm = spec.parse(
        tfmodel(networkPolicy={"fromNamespaces": ["shop"], "fromPods": {"app": "frontend"}})
    )
    desired = render.desired(tfm, desired_plan(tfm))
    assert render.desired(spec.parse(tfmodel()), desired_plan(tfm)).network_policy is None
    policy = desired.network_policy
    assert policy is not None
    (rule,) = policy["spec"]["ingress"]
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {
            "app.kubernetes.io/instance": "vgg16",
            "app.kubernetes.io/component": "server",
        }
    }
    assert rule["ports"] == [{"protocol": "TCP", "port": 8500}, {"protocol": "TCP", "port": 8501}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tfmodel-system"}},
         "podSelector": {"matchLabels": {"app.kubernetes.io/name": "tfmodel-operator"}}},
        {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}},
        {"podSelector": {"matchLabels": {"app": "frontend"}}},
    ]  # fmt: skip
