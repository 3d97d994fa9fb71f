"""TFModels through the real API in integration tests: create, read, patch, and wait for what
the operator reports (conditions for the current generation, every pod served)."""

from typing import Any

import yaml
from kubernetes import client

from support.operator import REPO
from support.polling import wait_until

GROUP, VERSION, PLURAL = "serving.tfmodel.io", "v1alpha1", "tfmodels"
SAMPLES = REPO / "manifests" / "samples"


def sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())


def create(custom: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
    )


def read(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)  # type: ignore[no-any-return]


def patch_spec(
    custom: client.CustomObjectsApi, namespace: str, name: str, spec: dict[str, Any]
) -> None:
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})


def serve_ready(
    custom: client.CustomObjectsApi,
    namespace: str,
    serve: Any,
    body: dict[str, Any],
    **options: Any,
) -> Any:
    """Create a TFModel with TF Serving on its pods, wait until every pod serves it, and return
    the pods' stand-ins (support.serving_pods.ServingPods)."""
    name = body["metadata"]["name"]
    pods = serve(name, **options)
    create(custom, namespace, body)
    wait_fully_served(custom, namespace, name, body["spec"].get("replicas", 1))
    return pods


def wait_fully_served(
    custom: client.CustomObjectsApi, namespace: str, name: str, replicas: int
) -> dict[str, Any]:
    """Ready, and TF Serving answers on all `replicas` pods (a fake pod is Ready before its
    TF Serving stand-in has started, and Ready only needs the pods that answer)."""

    def served() -> dict[str, Any] | None:
        tfm = wait_settled(custom, namespace, name)
        versions = tfm["status"].get("versions", [])
        everywhere = versions and all(v["availableReplicas"] == replicas for v in versions)
        return tfm if everywhere else None

    return wait_until(served, f"TFModel {name} served on {replicas} pods")


def wait_settled(
    custom: client.CustomObjectsApi, namespace: str, name: str, timeout: float = 60
) -> dict[str, Any]:
    """Ready and no longer Reconciling, for the current generation: the change is done (Ready
    alone stays True while a serving model rolls out or moves a label)."""

    def settled() -> dict[str, Any] | None:
        tfm = read(custom, namespace, name)
        current = tfm["metadata"]["generation"] == tfm.get("status", {}).get("observedGeneration")
        done = (
            condition(tfm, "Ready").get("status") == "True"
            and condition(tfm, "Reconciling").get("status") == "False"
        )
        return tfm if current and done else None

    return wait_until(settled, f"TFModel {name} Ready and done reconciling", timeout)


def condition(tfm: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = tfm.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), {})


def wait_for_condition(
    custom: client.CustomObjectsApi, namespace: str, name: str, kind: str, status: str,
    reason: str | None = None, timeout: float = 60,
) -> dict[str, Any]:  # fmt: skip
    def met() -> dict[str, Any] | None:
        tfm = read(custom, namespace, name)
        cond = condition(tfm, kind)
        current = tfm["metadata"]["generation"] == tfm.get("status", {}).get("observedGeneration")
        ok = current and cond.get("status") == status and reason in (None, cond.get("reason"))
        return tfm if ok else None

    return wait_until(met, f"{kind}={status} ({reason or 'any reason'}) on TFModel {name}", timeout)


def serving_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=server"
    return core.list_namespaced_pod(namespace, label_selector=selector).items  # type: ignore[no-any-return]


def pod_ids(core: client.CoreV1Api, namespace: str, name: str = "vgg16") -> set[tuple[str, str]]:
    """(name, UID) of each serving pod: unchanged means no pod restarted."""
    return {(p.metadata.name, p.metadata.uid) for p in serving_pods(core, namespace, name)}


def children(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, name: str
) -> list[Any]:
    return [
        apps.read_namespaced_deployment(name, namespace),
        core.read_namespaced_service(name, namespace),
        core.read_namespaced_config_map(f"{name}-models-config", namespace),
    ]


def resource_versions(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, name: str
) -> list[str]:
    return [child.metadata.resource_version for child in children(core, apps, namespace, name)]


def models_config(core: client.CoreV1Api, namespace: str, name: str) -> str:
    return core.read_namespaced_config_map(f"{name}-models-config", namespace).data["models.config"]  # type: ignore[no-any-return]


def tfmodel_events(core: client.CoreV1Api, namespace: str) -> list[tuple[str, str]]:
    items = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=TFModel"
    ).items
    return [(e.reason, e.message) for e in items]
