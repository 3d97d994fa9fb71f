"""The operator against the real local control plane, running with only its own RBAC.

Every namespace here enforces Pod Security "restricted", so every pod the operator creates is
admitted under it (or the TFModel would report ReplicaFailure and never become Ready).
"""

import ipaddress
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.operator import kubectl
from support.operator_settings import RESYNC_SECONDS
from support.polling import wait_until
from support.tfmodel_api import (
    GROUP,
    PLURAL,
    VERSION,
    children,
    condition,
    create,
    models_config,
    patch_spec,
    read,
    resource_versions,
    sample,
    serve_ready,
    serving_pods,
    tfmodel_events,
    wait_for_condition,
    wait_fully_served,
    wait_settled,
)
from support.tfmodels import INVALID, invalid_body, tfmodel

OPERATOR_SA = "system:serviceaccount:tfmodel-system:tfmodel-operator"


def test_sample_vgg16_becomes_ready_with_owned_children(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any, kubeconfig: Path,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve("vgg16")
    created = create(custom, namespace, sample("vgg16"))
    tfm = wait_fully_served(custom, namespace, "vgg16", replicas=2)

    for child in children(core, apps, namespace, "vgg16"):
        (owner,) = child.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "TFModel",
            "vgg16",
            created["metadata"]["uid"],
            True,
        )
        assert child.metadata.managed_fields[0].manager == "tfmodel-operator"
    budget = client.PolicyV1Api(core.api_client).read_namespaced_pod_disruption_budget(
        "vgg16", namespace
    )
    assert (budget.spec.max_unavailable, budget.metadata.owner_references[0].uid) == (
        1,
        created["metadata"]["uid"],
    )
    pods = serving_pods(core, namespace, "vgg16")
    assert len(pods) == 2
    assert all(ipaddress.ip_address(p.status.pod_ip).is_loopback for p in pods)
    assert tfm["metadata"].get("finalizers") is None  # deletable even without the operator
    assert tfm["status"]["readyReplicas"] == 2
    assert (
        tfm["status"]["endpoints"]["rest"] == f"http://vgg16.{namespace}.svc:8501/v1/models/vgg16"
    )
    assert tfm["status"]["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2},
        {"version": 2, "state": "AVAILABLE", "availableReplicas": 2},
    ]
    assert tfm["status"]["labels"] == {"stable": 1, "canary": 2}
    assert condition(tfm, "ConfigApplied")["reason"] == "Applied"
    wait_until(  # posted just after the status it announces
        lambda: any(reason == "Serving" for reason, _ in tfmodel_events(core, namespace)),
        "the Serving event",
        10,
    )

    table = kubectl(kubeconfig, "get", "tfm", "-n", namespace).split("\n")
    assert table[0].split() == [
        "NAME",
        "READY",
        "REASON",
        "VERSIONS",
        "STABLE",
        "CANARY",
        "DEVICE",
        "PODS",
        "SIZE",
        "DESIRED",
        "AGE",
    ]
    row = table[1].split()
    assert row[:11] == ["vgg16", "True", "Serving", "1,2", "1", "(2/2)", "2", "(2/2)", "cpu", "2", "2"]  # fmt: skip
    assert len(row) == 12  # SIZE 2, then AGE: DESIRED is empty without spec.autoscaling


def test_label_and_version_changes_reach_the_config_without_restarting_pods(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, sample("vgg16"))
    pods_before = {
        (p.metadata.name, p.metadata.uid) for p in serving_pods(core, namespace, "vgg16")
    }
    deployment_before = apps.read_namespaced_deployment("vgg16", namespace)

    patch_spec(
        custom,
        namespace,
        "vgg16",
        {
            "versionPolicy": {"specific": {"versions": [1, 2, 3]}},
            "versionLabels": {"stable": 2, "canary": 3},
        },
    )
    wait_until(
        lambda: "key: 'stable' value: 2" in models_config(core, namespace, "vgg16"),
        "stable=2 in models.config",
    )
    tfm = wait_settled(custom, namespace, "vgg16")
    assert "versions: 3" in models_config(core, namespace, "vgg16")
    assert tfm["status"]["labels"] == {"stable": 2, "canary": 3}

    deployment_after = apps.read_namespaced_deployment("vgg16", namespace)
    assert deployment_after.metadata.generation == deployment_before.metadata.generation
    assert deployment_after.spec.template == deployment_before.spec.template
    assert {
        (p.metadata.name, p.metadata.uid) for p in serving_pods(core, namespace, "vgg16")
    } == pods_before

    patch_spec(custom, namespace, "vgg16", {"image": "tensorflow/serving:2.19.0"})
    wait_until(
        lambda: (
            apps.read_namespaced_deployment("vgg16", namespace).metadata.generation
            > deployment_before.metadata.generation
        ),
        "the Deployment to roll",
    )
    wait_settled(custom, namespace, "vgg16")
    pods_after = serving_pods(core, namespace, "vgg16")
    assert {(p.metadata.name, p.metadata.uid) for p in pods_after}.isdisjoint(pods_before)
    assert {p.spec.containers[0].image for p in pods_after} == {"tensorflow/serving:2.19.0"}  # fmt: skip


def test_resync_with_nothing_changed_writes_nothing(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, sample("vgg16"))
    time.sleep(RESYNC_SECONDS)  # let the last status write and its echoes settle
    children_before = resource_versions(core, apps, namespace, "vgg16")
    tfmodel_before = read(custom, namespace, "vgg16")["metadata"]["resourceVersion"]
    events_before = tfmodel_events(core, namespace)

    time.sleep(3 * RESYNC_SECONDS)  # three resync periods of the operator

    assert resource_versions(core, apps, namespace, "vgg16") == children_before
    assert read(custom, namespace, "vgg16")["metadata"]["resourceVersion"] == tfmodel_before
    assert tfmodel_events(core, namespace) == events_before


def test_hand_edits_and_deletions_of_children_are_undone(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, sample("vgg16"))
    config_before = models_config(core, namespace, "vgg16")

    core.patch_namespaced_config_map(
        "vgg16-models-config", namespace, {"data": {"models.config": "garbage"}}
    )
    apps.patch_namespaced_deployment_scale("vgg16", namespace, {"spec": {"replicas": 5}})
    service_uid = core.read_namespaced_service("vgg16", namespace).metadata.uid
    core.delete_namespaced_service("vgg16", namespace)

    wait_until(
        lambda: models_config(core, namespace, "vgg16") == config_before, "models.config restored"
    )
    wait_until(
        lambda: apps.read_namespaced_deployment("vgg16", namespace).spec.replicas == 2,
        "replicas restored",
    )
    wait_until(
        lambda: core.read_namespaced_service("vgg16", namespace).metadata.uid != service_uid,
        "Service recreated",
    )
    wait_settled(custom, namespace, "vgg16")


def test_gpu_model_lands_on_the_gpu_node_and_reports_an_impossible_request(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve("vgg16-gpu")
    create(custom, namespace, sample("vgg16-gpu"))
    tfm = wait_settled(custom, namespace, "vgg16-gpu")
    assert tfm["status"]["device"] == "gpu"
    pod_spec = apps.read_namespaced_deployment("vgg16-gpu", namespace).spec.template.spec
    server = pod_spec.containers[0]
    assert server.image == "tensorflow/serving:2.20.0-gpu"
    assert server.resources.limits["nvidia.com/gpu"] == "1"
    assert pod_spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod_spec.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    assert {p.spec.node_name for p in serving_pods(core, namespace, "vgg16-gpu")} == {"gpu-node-0"}

    patch_spec(custom, namespace, "vgg16-gpu", {"gpu": {"count": 9}})
    tfm = wait_for_condition(custom, namespace, "vgg16-gpu", "Degraded", "True", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in condition(tfm, "Degraded")["message"]
    # The old pod still serves: Ready holds, and the rollout shows as Reconciling.
    assert (condition(tfm, "Ready")["status"], condition(tfm, "Reconciling")["status"]) == (
        "True",
        "True",
    )
    # The event is posted just after the status it announces is written.
    wait_until(
        lambda: any(reason == "Unschedulable" for reason, _ in tfmodel_events(core, namespace)),
        "the Unschedulable event",
    )


def test_deleting_the_tfmodel_collects_children_and_keeps_the_data(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, models = models_namespace
    model_data = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}
    serve_ready(custom, namespace, serve, sample("vgg16"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "vgg16")

    def exists(read_child: Any) -> bool:
        try:
            read_child()
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def all_gone() -> bool:
        return not any(
            exists(read_child)
            for read_child in (
                lambda: apps.read_namespaced_deployment("vgg16", namespace),
                lambda: core.read_namespaced_service("vgg16", namespace),
                lambda: core.read_namespaced_config_map("vgg16-models-config", namespace),
            )
        )

    wait_until(all_gone, "the garbage collector to delete every child")
    assert core.read_namespaced_persistent_volume_claim("models", namespace).status.phase == "Bound"
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == model_data


@pytest.mark.parametrize(("case", "changes", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_tfmodels_are_refused_at_admission_naming_the_field(
    custom: client.CustomObjectsApi, operator: Path, case: str, changes: list, field: str,
) -> None:  # fmt: skip
    with pytest.raises(ApiException) as refused:
        create(custom, "default", invalid_body(changes))
    assert refused.value.status in (400, 422), refused.value.body
    message = json.loads(refused.value.body)["message"]
    assert field in message, message


def test_an_error_only_the_operator_can_judge_degrades_just_that_tfmodel(
    custom: client.CustomObjectsApi, models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, sample("vgg16"))
    bad_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "Sideways"}]}
                ]
            }
        }
    }
    serve("broken")
    create(custom, namespace, tfmodel("broken", modelName="vgg16", affinity=bad_affinity))

    broken = wait_for_condition(custom, namespace, "broken", "Degraded", "True", "ApplyFailed")
    message = condition(broken, "Degraded")["message"]
    assert "matchExpressions[0].operator" in message, message  # the apiserver names the field
    assert "Sideways" in message, message
    assert condition(read(custom, namespace, "vgg16"), "Ready")["status"] == "True"

    patch_spec(custom, namespace, "broken", {"affinity": None})  # merge patch: null removes
    wait_settled(custom, namespace, "broken", timeout=90)  # fmt: skip


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("patch", "deployments.apps", "yes"),
        ("patch", "tfmodels.serving.tfmodel.io/status", "yes"),
        # Only what an earlier TFModel of the same name left behind, with a UID precondition.
        ("delete", "deployments.apps", "yes"),
        ("delete", "persistentvolumeclaims", "no"),
        ("delete", "persistentvolumes", "no"),
        ("get", "secrets", "no"),
        ("create", "pods", "no"),
        ("delete", "tfmodels.serving.tfmodel.io", "no"),
        ("patch", "tfmodels.serving.tfmodel.io", "no"),  # only its status
        ("watch", "pods", "yes"),
    ],
)
def test_operator_rbac_is_least_privilege(
    kubeconfig: Path, operator: Path, verb: str, resource: str, allowed: str
) -> None:
    resource, _, subresource = resource.partition("/")  # `TYPE/NAME` would name an object
    answer = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "auth", "can-i", verb, resource,
         f"--subresource={subresource}", "--all-namespaces", f"--as={OPERATOR_SA}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert answer.stdout.strip() == allowed, answer.stderr


def test_installed_operator_deployment_is_admitted_as_restricted(
    apps: client.AppsV1Api, operator: Path
) -> None:
    """`kubectl apply -k manifests/` ran in the operator fixture; its namespace enforces
    Pod Security "restricted", so an available Deployment proves its pod was admitted."""

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("tfmodel-operator", "tfmodel-system").status
        return bool(status.available_replicas == 2)

    wait_until(available, "the operator Deployment from manifests/ to be available")
