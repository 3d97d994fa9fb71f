"""Shared clusters: the operator never takes over, rewrites or deletes an object it did not make.

A tenant who may only create TFModels must not be able to point the operator at someone else's
Deployment, Service, ConfigMap or Job by choosing a TFModel name (a confused deputy): those
objects survive the TFModel's creation and deletion unchanged, and the TFModel says why it
cannot proceed.
"""

import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.operator_settings import RESYNC_SECONDS
from support.polling import wait_until
from support.tfmodel_api import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    create,
    patch_spec,
    serve_ready,
    tfmodel_events,
    wait_for_condition,
    wait_settled,
)
from support.tfmodels import tfmodel
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision.render import names

RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
APP = {"app": "payments"}


def pod_template(labels: dict[str, str], restart: str = "Always") -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "app", "image": "example.com/payments:1", "securityContext": RESTRICTED}],
        },
    }  # fmt: skip


def foreign_objects(api: client.ApiClient, namespace: str, name: str, job: str) -> list[Any]:
    """Create an unrelated application's objects under the names a TFModel `name` would use."""
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    meta = {"name": name, "labels": APP}
    return [
        apps.create_namespaced_deployment(namespace, {"metadata": meta, "spec": {
            "replicas": 1, "selector": {"matchLabels": APP}, "template": pod_template(APP)}}),
        core.create_namespaced_service(namespace, {"metadata": meta, "spec": {
            "selector": APP, "ports": [{"port": 80}]}}),
        core.create_namespaced_config_map(namespace, {
            "metadata": {"name": f"{name}-models-config"}, "data": {"app.conf": "mode=live"}}),
        batch.create_namespaced_job(namespace, {"metadata": {"name": job}, "spec": {
            "template": pod_template(APP, restart="Never")}}),
    ]  # fmt: skip


def snapshot(api: client.ApiClient, obj: Any) -> tuple[Any, ...]:
    """What must not change: identity, owners, managers and content."""
    kind, name, namespace = obj.kind, obj.metadata.name, obj.metadata.namespace
    read = {
        "Deployment": client.AppsV1Api(api).read_namespaced_deployment,
        "Service": client.CoreV1Api(api).read_namespaced_service,
        "ConfigMap": client.CoreV1Api(api).read_namespaced_config_map,
        "Job": client.BatchV1Api(api).read_namespaced_job,
    }[kind]
    live = api.sanitize_for_serialization(read(name, namespace))
    meta = live["metadata"]
    return (
        kind, meta["uid"], meta.get("ownerReferences"), meta.get("labels"),
        sorted({f["manager"] for f in meta.get("managedFields", [])}),
        live.get("spec", live.get("data")), meta.get("deletionTimestamp"),
    )  # fmt: skip


def delete_and_wait(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def gone() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as err:
            return err.status == 404
        return False

    wait_until(gone, f"TFModel {name} to be deleted")
    time.sleep(2)  # give the garbage collector the chance it must not take


def test_a_tfmodel_never_takes_over_objects_of_its_names_and_its_deletion_spares_them(
    api: client.ApiClient, custom: client.CustomObjectsApi, core: client.CoreV1Api,
    namespace: str, operator: Path,
) -> None:  # fmt: skip
    body = tfmodel("payments", exports=[{"version": 4, "weights": "none"}])
    parsed = spec.parse({**body, "metadata": {"name": "payments", "namespace": namespace}})
    job_name = names.export_job_name(parsed, parsed.exports[0])
    objects = foreign_objects(api, namespace, "payments", job_name)
    time.sleep(1)  # let the Deployment and Job controllers write their status first
    before = [snapshot(api, obj) for obj in objects]

    create(custom, namespace, body)
    tfm = wait_for_condition(custom, namespace, "payments", "Degraded", "True", "ChildConflict")
    message = condition(tfm, "Degraded")["message"]
    for kind, name in [("ConfigMap", "payments-models-config"), ("Service", "payments"),
                       ("Deployment", "payments"), ("Job", job_name)]:  # fmt: skip
        assert f"{kind} {name} already exists and is not controlled by this TFModel" in message
    assert condition(tfm, "Ready")["reason"] == "ChildConflict"
    wait_until(  # posted just after the status it announces
        lambda: "ChildConflict" in {reason for reason, _ in tfmodel_events(core, namespace)},
        "the ChildConflict event",
        10,
    )
    time.sleep(2 * RESYNC_SECONDS)  # resyncs come and go, and leave them alone too
    assert [snapshot(api, obj) for obj in objects] == before

    delete_and_wait(custom, namespace, "payments")
    assert [snapshot(api, obj) for obj in objects] == before


def test_a_tfmodel_named_kubernetes_leaves_the_apiserver_service_alone(
    api: client.ApiClient, custom: client.CustomObjectsApi, core: client.CoreV1Api, operator: Path,
) -> None:  # fmt: skip
    service = core.read_namespaced_service("kubernetes", "default")
    before = snapshot(api, service)

    create(custom, "default", tfmodel("kubernetes"))
    try:
        tfm = wait_for_condition(
            custom, "default", "kubernetes", "Degraded", "True", "ChildConflict"
        )
        assert "Service kubernetes already exists" in condition(tfm, "Degraded")["message"]
        assert snapshot(api, service) == before
    finally:
        delete_and_wait(custom, "default", "kubernetes")
    assert snapshot(api, service) == before
    assert core.read_namespaced_service("kubernetes", "default").metadata.resource_version == (
        service.metadata.resource_version
    )


def test_export_jobs_someone_else_labelled_as_ours_are_never_pruned(
    api: client.ApiClient, custom: client.CustomObjectsApi,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    labels = {"app.kubernetes.io/instance": "vgg16", "app.kubernetes.io/component": "export",
              "app.kubernetes.io/managed-by": "tfmodel-operator",
              "serving.tfmodel.io/export-version": "9"}  # fmt: skip
    batch = client.BatchV1Api(api)
    planted = batch.create_namespaced_job(namespace, {
        "metadata": {"name": "vgg16-export-v9-handmade", "labels": labels},
        "spec": {"template": pod_template(labels, restart="Never")}})  # fmt: skip
    serve_ready(custom, namespace, serve, tfmodel("vgg16"))
    time.sleep(2 * RESYNC_SECONDS)

    job = batch.read_namespaced_job("vgg16-export-v9-handmade", namespace)
    assert job.metadata.uid == planted.metadata.uid
    assert job.metadata.deletion_timestamp is None
    assert job.metadata.owner_references is None
    wait_settled(custom, namespace, "vgg16")


def test_a_tfmodel_outside_the_platform_policy_gets_nothing_and_says_why(
    api: client.ApiClient, custom: client.CustomObjectsApi, core: client.CoreV1Api,
    namespace: str, operator: Path,
) -> None:  # fmt: skip
    """The operator runs with tests/support/platform-policy.yaml (see conftest)."""
    nfs = {"nfs": {"server": "10.1.2.3", "path": "/exports/models"}}
    create(custom, namespace, tfmodel("sneaky", image="evil.example/serving:1", storage=nfs))
    tfm = wait_for_condition(custom, namespace, "sneaky", "Stalled", "True", "PolicyViolation")
    message = condition(tfm, "Stalled")["message"]
    assert (
        "spec.image: evil.example/serving:1 is not allowed by the platform policy (imagePrefixes: tensorflow/serving:)"
        in message
    )
    assert (
        "spec.storage.nfs.server: 10.1.2.3 is not allowed by the platform policy (nfsServers: nfs.allowed.example)"
        in message
    )
    # The event is posted just after the status it announces.
    wait_until(
        lambda: "PolicyViolation" in {reason for reason, _ in tfmodel_events(core, namespace)},
        "the PolicyViolation event",
        10,
    )
    time.sleep(RESYNC_SECONDS)
    apps = client.AppsV1Api(api)
    assert apps.list_namespaced_deployment(namespace).items == []
    assert core.list_namespaced_service(namespace).items == []
    assert [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items] == [
        "kube-root-ca.crt"
    ]


def test_spec_network_policy_makes_and_removes_a_network_policy(
    api: client.ApiClient, custom: client.CustomObjectsApi,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    networking = client.NetworkingV1Api(api)
    serve_ready(
        custom, namespace, serve, tfmodel("vgg16", networkPolicy={"fromNamespaces": ["shop"]})
    )
    (policy,) = networking.list_namespaced_network_policy(namespace).items
    assert (policy.metadata.name, policy.metadata.owner_references[0].kind) == ("vgg16", "TFModel")
    assert [p.port for p in policy.spec.ingress[0].ports] == [8500, 8501]
    patch_spec(custom, namespace, "vgg16", {"networkPolicy": None})
    wait_until(
        lambda: not networking.list_namespaced_network_policy(namespace).items,
        "the NetworkPolicy removed",
    )
