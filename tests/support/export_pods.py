"""Playing kubelet for export Jobs' pods in integration tests (kwok runs no containers)."""

import threading

from kubernetes import client

EXPORT_JOBS = "app.kubernetes.io/instance=vgg16,app.kubernetes.io/component=export"


def running_export_pod(core: client.CoreV1Api, namespace: str) -> client.V1Pod | None:
    pods = core.list_namespaced_pod(namespace, label_selector=EXPORT_JOBS).items
    return next((p for p in pods if p.status.phase == "Running"), None)


def fail_export_pods(
    core: client.CoreV1Api, namespace: str, message: str, stop: threading.Event
) -> None:
    """Report every running export pod as failed with `message`, as a kubelet would."""
    while not stop.wait(0.1):
        pod = running_export_pod(core, namespace)
        if pod is None:
            continue
        terminated = {"exitCode": 1, "reason": "Error", "message": message}
        status = {"phase": "Failed", "containerStatuses": [{
            "name": "export", "image": pod.spec.containers[0].image, "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": terminated}}]}  # fmt: skip
        core.patch_namespaced_pod_status(pod.metadata.name, namespace, {"status": status})
