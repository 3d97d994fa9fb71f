"""The local control plane itself: the foundation the operator's integration tests stand on."""

import ipaddress
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from support.polling import wait_until

PAUSE = "registry.k8s.io/pause:3.10"  # never pulled: kwok runs no containers
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": PAUSE, **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


def gpu_pod(name: str, gpus: int, tolerate: bool = True) -> dict[str, Any]:
    return pod(
        name,
        container={"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}},
        tolerations=[GPU_TOLERATION] if tolerate else [],
    )


def is_running_and_ready(p: client.V1Pod) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    return p.status.phase == "Running" and ready


def unschedulable_message(core: client.CoreV1Api, ns: str, name: str) -> str | None:
    p = core.read_namespaced_pod(name, ns)
    for c in p.status.conditions or []:
        if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
            return str(c.message)
    return None


def test_nodes_include_a_tainted_gpu_node(core: client.CoreV1Api) -> None:
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert sorted(nodes) == ["cpu-node-0", "cpu-node-1", "gpu-node-0"]
    gpu = nodes["gpu-node-0"]
    assert gpu.status.allocatable["nvidia.com/gpu"] == "8"
    assert gpu.metadata.labels["nvidia.com/gpu.present"] == "true"
    assert [(t.key, t.value, t.effect) for t in gpu.spec.taints] == [
        ("nvidia.com/gpu", "present", "NoSchedule")
    ]


def test_deployment_pods_become_ready_with_loopback_ips(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    labels = {"app": "web"}
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod("x")["spec"]},
            },
        },
    )

    def ready_pods() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        return pods if len(pods) == 2 and all(map(is_running_and_ready, pods)) else None

    pods = wait_until(ready_pods, "2 Running and Ready pods")
    for p in pods:
        assert p.spec.node_name.startswith("cpu-node-")
        assert ipaddress.ip_address(p.status.pod_ip).is_loopback


def test_gpu_pod_with_toleration_lands_on_the_gpu_node(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, gpu_pod("one-gpu", 1))
    ready = wait_until(
        lambda: is_running_and_ready(p := core.read_namespaced_pod("one-gpu", namespace)) and p,
        "the GPU pod to be Ready",
    )
    assert ready.spec.node_name == "gpu-node-0"


def test_too_many_gpus_stay_pending_as_unschedulable(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, gpu_pod("nine-gpus", 9))
    message = wait_until(
        lambda: unschedulable_message(core, namespace, "nine-gpus"), "an Unschedulable reason"
    )
    assert "Insufficient nvidia.com/gpu" in message
    assert core.read_namespaced_pod("nine-gpus", namespace).status.phase == "Pending"


def test_pod_without_toleration_never_lands_on_the_gpu_node(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, gpu_pod("untolerated", 1, tolerate=False))
    message = wait_until(
        lambda: unschedulable_message(core, namespace, "untolerated"), "an Unschedulable reason"
    )
    assert "untolerated taint" in message
    core.create_namespaced_pod(namespace, pod("plain"))
    placed = wait_until(
        lambda: core.read_namespaced_pod("plain", namespace).spec.node_name, "a node for the pod"
    )
    assert placed.startswith("cpu-node-")


def test_job_runs_to_completion(api: client.ApiClient, namespace: str) -> None:
    jobs = client.BatchV1Api(api)
    template = pod("x", restartPolicy="Never")
    jobs.create_namespaced_job(
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {"template": {"spec": template["spec"]}, "backoffLimit": 0},
        },
    )

    def complete() -> bool:
        conditions = jobs.read_namespaced_job_status("once", namespace).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    wait_until(complete, "the Job to report Complete")
    assert jobs.read_namespaced_job_status("once", namespace).status.succeeded == 1


def test_garbage_collector_deletes_owned_children(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "child", "ownerReferences": [reference]}}
    )
    core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        try:
            core.read_namespaced_config_map("child", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    wait_until(child_gone, "the garbage collector to delete the child")


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.tfmodel.io"},
    "spec": {
        "group": "test.tfmodel.io",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "min": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.min <= self.max",
                                        "message": "spec.min must not exceed spec.max",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_cel_rule_rejects_an_invalid_object(api: client.ApiClient, namespace: str) -> None:
    extensions = client.ApiextensionsV1Api(api)
    try:
        extensions.create_custom_resource_definition(WIDGET_CRD)
    except ApiException as err:
        if err.status != 409:  # already there from an earlier run on a reused cluster
            raise
    custom = client.CustomObjectsApi(api)

    def widget(name: str, lo: int, hi: int) -> Any:
        body = {
            "apiVersion": "test.tfmodel.io/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"min": lo, "max": hi},
        }
        return custom.create_namespaced_custom_object(
            "test.tfmodel.io", "v1", namespace, "widgets", body
        )

    wait_until(lambda: widget("good", 1, 2), "the CRD to be served")
    with pytest.raises(ApiException) as rejected:
        widget("bad", 3, 2)
    assert rejected.value.status == 422
    assert "spec.min must not exceed spec.max" in rejected.value.body


@pytest.mark.parametrize(
    "namespace", [{"pod-security.kubernetes.io/enforce": "restricted"}], indirect=True
)
def test_restricted_namespace_refuses_a_privileged_pod(
    core: client.CoreV1Api, namespace: str
) -> None:
    privileged = pod("root", container={"securityContext": {"privileged": True}})
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, privileged)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "privileged" in message


USAGE_CPU = "kwok.x-k8s.io/usage-cpu"  # kwok's ClusterResourceUsage reads a pod's CPU usage here


def busy_template(cpu_used: str, cpu_requested: str = "500m") -> dict[str, Any]:
    """A pod template whose pods kwok reports as using `cpu_used` (pods made from it, say by a
    scale-up, carry the annotation too)."""
    return {
        "metadata": {"labels": {"app": "busy"}, "annotations": {USAGE_CPU: cpu_used}},
        "spec": pod("x", container={"resources": {"requests": {"cpu": cpu_requested}}})["spec"],
    }


def pod_cpu_cores(custom: client.CustomObjectsApi, namespace: str, name: str) -> float | None:
    """The pod's CPU usage in cores from the metrics API (NotFound until metrics-server has a
    rate: two samples of kwok's counter, which starts at its first scrape)."""
    metrics = custom.get_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", namespace, "pods", name
    )
    return sum(float(parse_quantity(c["usage"]["cpu"])) for c in metrics["containers"]) or None


def test_pod_cpu_usage_from_its_annotation_shows_in_the_metrics_api(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str, kubeconfig: Path
) -> None:
    busy = {"apiVersion": "v1", "kind": "Pod", **busy_template("900m")}
    busy["metadata"]["name"] = "busy"
    core.create_namespaced_pod(namespace, busy)
    placed = wait_until(
        lambda: is_running_and_ready(p := core.read_namespaced_pod("busy", namespace)) and p,
        "the pod to be Ready",
    )
    assert placed.spec.node_name.startswith("cpu-node-")
    # Scrapes every 10 s (metric-resolution): a rate from the 2nd and 3rd, so 20 to 30 s.
    used = wait_until(lambda: pod_cpu_cores(custom, namespace, "busy"), "pod metrics", timeout=60)
    assert used == pytest.approx(0.9, rel=0.05)
    kubectl = ["kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace]
    top = subprocess.run(
        [*kubectl, "top", "pod", "busy", "--no-headers"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert top[0] == "busy"
    assert float(parse_quantity(top[1])) == pytest.approx(0.9, rel=0.05)


def test_horizontal_pod_autoscaler_scales_a_deployment_up_on_its_cpu_usage(
    api: client.ApiClient, apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "busy"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "busy"}},
                "template": busy_template("900m", cpu_requested="500m"),
            },
        },
    )
    autoscaling = client.AutoscalingV2Api(api)
    autoscaling.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "busy"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
                "minReplicas": 1,
                "maxReplicas": 3,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            },
        },
    )
    # 900m of 500m is 180 %, against a target of 50 %: 4 replicas wanted, 3 at most.
    wait_until(
        lambda: apps.read_namespaced_deployment("busy", namespace).spec.replicas == 3,
        "the HorizontalPodAutoscaler to scale the Deployment to 3",
        timeout=90,
    )
    status = autoscaling.read_namespaced_horizontal_pod_autoscaler("busy", namespace).status
    assert status.desired_replicas == 3
    [cpu] = status.current_metrics
    assert cpu.resource.name == "cpu"
    assert cpu.resource.current.average_utilization == pytest.approx(180, abs=9)
