"""Labels edited away: a Deployment whose labels are removed leaves the operator's watch, and is
found again (the create-only apply answers 409, the holder is this TFModel's own) and labelled
again; a pod quarantined by removing its instance label (its ReplicaSet lets it go) is no
longer one of the TFModel's pods, so its TF Serving is never asked again."""

import time
from pathlib import Path
from typing import Any

from kubernetes import client

from support.hostile_serving import HostileServing, version_list
from support.operator_settings import OPERATOR_SETTINGS
from support.polling import wait_until
from support.tfmodel_api import condition, patch_spec, read, serve_ready, serving_pods
from support.tfmodels import vgg16

SLOW_CHECK = float(OPERATOR_SETTINGS["TFMODEL_SLOW_CHECK_SECONDS"])
OURS = {"app.kubernetes.io/managed-by": "tfmodel-operator", "app.kubernetes.io/instance": "vgg16"}


def test_a_deployment_whose_labels_are_removed_gets_them_back(
    custom: client.CustomObjectsApi,
    apps: client.AppsV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, vgg16())
    uid = apps.read_namespaced_deployment("vgg16", namespace).metadata.uid
    apps.patch_namespaced_deployment(
        "vgg16", namespace, {"metadata": {"labels": {key: None for key in OURS}}}
    )

    def labelled() -> bool:
        labels = apps.read_namespaced_deployment("vgg16", namespace).metadata.labels or {}
        return all(labels.get(key) == value for key, value in OURS.items())

    wait_until(labelled, "the Deployment's labels back", timeout=30)
    deployment = apps.read_namespaced_deployment("vgg16", namespace)
    assert deployment.metadata.uid == uid  # the same object, not a new one
    tfm = read(custom, namespace, "vgg16")
    assert condition(tfm, "Stalled").get("reason") != "ChildConflict", tfm["status"]


def test_a_quarantined_pod_is_no_longer_asked(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, vgg16())
    pod = sorted(serving_pods(core, namespace, "vgg16"), key=lambda p: p.metadata.name)[0]
    name, ip = pod.metadata.name, pod.status.pod_ip
    core.patch_namespaced_pod(
        name, namespace, {"metadata": {"labels": {"app.kubernetes.io/instance": None}}}
    )

    def orphaned() -> bool:
        return not core.read_namespaced_pod(name, namespace).metadata.owner_references

    wait_until(orphaned, "the ReplicaSet to let the pod go")
    # Its stand-in stops within 0.25 s (it serves only labelled pods); something else answers
    # there now, and counts what it is asked.
    time.sleep(1)
    listener = HostileServing(ip, version_list(3))
    try:
        # A replacement pod comes; a label move and two slow checks later, nobody asked.
        patch_spec(custom, namespace, "vgg16", {"configPollSeconds": 2})
        wait_until(lambda: len(serving_pods(core, namespace, "vgg16")) == 2, "a replacement pod")
        time.sleep(2 * SLOW_CHECK + 2)
        assert listener.requests == [], listener.requests[:3]
    finally:
        listener.stop()
