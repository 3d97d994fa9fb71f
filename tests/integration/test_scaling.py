"""Sizing a TFModel: `kubectl scale` through its /scale subresource, and the HPA the operator
owns for spec.autoscaling, which scales the TFModel itself (never fought by the operator).

TF Serving is the test stand-in on each fake pod's loopback IP; everything else is the real
control plane.
"""

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.operator import kubectl
from support.polling import wait_until
from support.tfmodel_api import (
    GROUP,
    PLURAL,
    VERSION,
    create,
    patch_spec,
    pod_ids,
    read,
    serve_ready,
    serving_pods,
    tfmodel_events,
    wait_for_condition,
    wait_fully_served,
)
from support.tfmodels import CPU, RPS_METRIC, vgg16


def deployment_replicas(apps: client.AppsV1Api, namespace: str, name: str) -> int:
    return int(apps.read_namespaced_deployment(name, namespace).spec.replicas)


def config_map_version(core: client.CoreV1Api, namespace: str, name: str) -> str:
    return str(
        core.read_namespaced_config_map(
            f"{name}-models-config", namespace
        ).metadata.resource_version
    )


def test_kubectl_scale_resizes_the_deployment_alone(
    kubeconfig: Path, custom: client.CustomObjectsApi, core: client.CoreV1Api,
    apps: client.AppsV1Api, models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, vgg16(replicas=1))
    config_before = config_map_version(core, namespace, "vgg16")
    (first_pod,) = pod_ids(core, namespace)

    kubectl(kubeconfig, "scale", "-n", namespace, "tfm/vgg16", "--replicas=3")
    wait_until(lambda: deployment_replicas(apps, namespace, "vgg16") == 3, "3 replicas", 10)
    wait_fully_served(custom, namespace, "vgg16", 3)

    assert config_map_version(core, namespace, "vgg16") == config_before  # no config rewrite
    assert first_pod in pod_ids(core, namespace)  # no pod restarted
    scale = json.loads(kubectl(kubeconfig, "get", "--raw",
                               f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/vgg16/scale"))  # fmt: skip
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == (
        "app.kubernetes.io/component=server,app.kubernetes.io/instance=vgg16"
    )
    # The budget follows the size: one pod needs none.
    policy = client.PolicyV1Api(core.api_client)
    assert (
        policy.read_namespaced_pod_disruption_budget("vgg16", namespace).spec.max_unavailable == 1
    )
    kubectl(kubeconfig, "scale", "-n", namespace, "tfm/vgg16", "--replicas=1")

    def budget_gone() -> bool:
        try:
            policy.read_namespaced_pod_disruption_budget("vgg16", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    wait_until(budget_gone, "the PodDisruptionBudget of one pod to be deleted", 20)
    assert deployment_replicas(apps, namespace, "vgg16") == 1
    assert config_map_version(core, namespace, "vgg16") == config_before


def test_the_operators_hpa_scales_the_tfmodel_and_goes_with_spec_autoscaling(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    scaling = {"minReplicas": 2, "maxReplicas": 4, "metrics": [RPS_METRIC], "behavior": behavior}
    serve("vgg16")
    create(custom, namespace, vgg16(replicas=2, resources=CPU, autoscaling=scaling))
    wait_fully_served(custom, namespace, "vgg16", 2)
    # What the adapter's rules read: TF Serving's own counter, on each pod's REST port.
    for pod in serving_pods(core, namespace, "vgg16"):
        page = requests.get(
            f"http://{pod.status.pod_ip}:8501/monitoring/prometheus/metrics", timeout=5
        )
        assert ':tensorflow:serving:request_count{model_name="vgg16",status="OK"}' in page.text
    hpas = client.AutoscalingV2Api(core.api_client)
    hpa = wait_until(lambda: _hpa(hpas, namespace, "vgg16"), "the HPA of TFModel vgg16", 20)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel", "name": "vgg16",
    }  # fmt: skip
    assert hpa["spec"]["metrics"] == [RPS_METRIC]  # as given
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 0
    owner = hpa["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == (
        "TFModel",
        read(custom, namespace, "vgg16")["metadata"]["uid"],
    )

    # Scaled as an HPA would (through /scale): the operator follows and never resets it.
    custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, PLURAL, "vgg16", {"spec": {"replicas": 3}}
    )
    wait_until(lambda: deployment_replicas(apps, namespace, "vgg16") == 3, "3 replicas", 10)
    patch_spec(custom, namespace, "vgg16", {"configPollSeconds": 2})  # any other change
    wait_until(lambda: read(custom, namespace, "vgg16")["status"].get("observedGeneration")
               == read(custom, namespace, "vgg16")["metadata"]["generation"], "the change seen", 20)  # fmt: skip
    assert deployment_replicas(apps, namespace, "vgg16") == 3

    # Without spec.autoscaling the HPA goes; the size it left stays.
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "vgg16", {"spec": {"autoscaling": None}}
    )
    wait_until(lambda: _hpa(hpas, namespace, "vgg16") is None, "the HPA to be deleted", 20)
    assert read(custom, namespace, "vgg16")["spec"]["replicas"] == 3
    assert deployment_replicas(apps, namespace, "vgg16") == 3


def test_a_deployment_scaled_directly_is_set_back_and_the_tfmodel_says_who_did_it(
    kubeconfig: Path, custom: client.CustomObjectsApi, core: client.CoreV1Api,
    apps: client.AppsV1Api, models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, vgg16(replicas=1))
    kubectl(kubeconfig, "scale", "-n", namespace, "deployment/vgg16", "--replicas=3")

    def reported() -> str | None:
        said = [m for reason, m in tfmodel_events(core, namespace) if reason == "ScaledElsewhere"]
        return said[0] if said else None

    message = wait_until(reported, "the ScaledElsewhere event", 20)
    assert "Deployment vgg16 was resized to 3 by kubectl" in message, message
    assert "kubectl scale tfm/vgg16" in message, message
    wait_until(lambda: deployment_replicas(apps, namespace, "vgg16") == 1, "the size set back", 10)


def test_a_metric_the_apiserver_refuses_stalls_that_tfmodel_naming_it(
    custom: client.CustomObjectsApi, models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    # Admitted by the CRD (MetricSpecs are passed through), refused by the HPA's validation: a
    # Pods metric can only target an average value.
    utilization = {"type": "Pods", "pods": {"metric": {"name": "tfserving_requests_per_second"},
                   "target": {"type": "Utilization", "averageUtilization": 50}}}  # fmt: skip
    scaling = {"minReplicas": 1, "maxReplicas": 3, "metrics": [utilization]}
    serve("vgg16")
    create(custom, namespace, vgg16(replicas=1, resources=CPU, autoscaling=scaling))
    stalled = wait_for_condition(custom, namespace, "vgg16", "Stalled", "True", "ApplyFailed")
    message = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")["message"]
    assert "HorizontalPodAutoscaler" in message, message
    assert "spec.metrics[0].pods.target" in message, message

    patch_spec(custom, namespace, "vgg16", {"autoscaling": {"metrics": [RPS_METRIC]}})
    wait_for_condition(custom, namespace, "vgg16", "Stalled", "False", timeout=90)


def _hpa(hpas: client.AutoscalingV2Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found = hpas.read_namespaced_horizontal_pod_autoscaler(
            name, namespace, _preload_content=False
        )
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    result: dict[str, Any] = json.loads(found.data)
    return result


USAGE = "kwok.x-k8s.io/usage-cpu"


class CpuLoad:
    """Plays the pods' CPU use: keeps `kwok.x-k8s.io/usage-cpu` on every serving pod of the
    TFModel (pods a scale-up adds included), which kwok reports to metrics-server."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str) -> None:
        self.core, self.namespace, self.name = core, namespace, name
        self.usage = "1m"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "CpuLoad":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for pod in serving_pods(self.core, self.namespace, self.name):
                if (pod.metadata.annotations or {}).get(USAGE) != self.usage:
                    patch = {"metadata": {"annotations": {USAGE: self.usage}}}
                    with contextlib.suppress(ApiException):  # a pod going away meanwhile
                        self.core.patch_namespaced_pod(pod.metadata.name, self.namespace, patch)


def test_the_hpa_scales_on_cpu_and_the_operator_never_fights_it(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    scaling = {"minReplicas": 1, "maxReplicas": 4, "targetCPUUtilization": 50,
               "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}  # fmt: skip
    body = vgg16(replicas=1, versionPolicy={"specific": {"versions": [1, 2]}},
                 resources={"requests": {"cpu": "500m"}}, autoscaling=scaling)  # fmt: skip
    serve_ready(custom, namespace, serve, body)

    def size() -> tuple[int, int]:
        tfm = read(custom, namespace, "vgg16")
        return int(tfm["spec"]["replicas"]), deployment_replicas(apps, namespace, "vgg16")

    def moved() -> dict[str, Any] | None:
        tfm = read(custom, namespace, "vgg16")
        return tfm if tfm["status"].get("labels") == {"stable": 2} else None

    with CpuLoad(core, namespace, "vgg16") as load:
        load.usage = "900m"  # 180 % of the request: the HPA wants 4
        wait_until(lambda: size() == (4, 4), "the HPA to scale the TFModel to 4", 150)
        wait_fully_served(custom, namespace, "vgg16", 4)
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})  # a label move
        tfm = wait_until(moved, "the label to move", 90)
        assert tfm["status"]["desiredReplicas"] == 4
        assert size() == (4, 4)  # kept through the label move
        load.usage = "10m"  # 2 %: back to the minimum
        wait_until(lambda: size() == (1, 1), "the HPA to scale the TFModel back to 1", 150)
