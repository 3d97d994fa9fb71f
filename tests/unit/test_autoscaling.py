"""spec.replicas and spec.autoscaling: a resize changes the Deployment's size and nothing else;
the operator's HPA scales the TFModel itself; optional children follow the spec."""

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from support.tfmodels import CPU, RPS_METRIC, tfmodel
from tfmodel_operator.controller import projection, spec
from tfmodel_operator.controller.decision import decide
from tfmodel_operator.controller.decision.observed import Observed

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def body(generation: int = 1, **fields: Any) -> dict[str, Any]:
    meta = {"name": "vgg16", "namespace": "ml", "uid": "u1", "generation": generation,
            "resourceVersion": "7"}  # fmt: skip
    return {**tfmodel(**{"resources": CPU, **fields}), "metadata": meta}


def decided(observed: Observed) -> decide.Outcome:
    assert observed.tfmodel is not None
    return decide.decide(observed, spec.parsed(observed.tfmodel), NOW)


def stored(manifest: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid=f"{manifest['kind']}-uid", resourceVersion="11")
    return projection.project(live["kind"], live)


def applied_world(tfm: dict[str, Any]) -> Observed:
    """Every child as a first reconcile of `tfm` applied it."""
    return Observed(tfm, tuple(stored(m) for m in decided(Observed(tfm)).manifests))


def by_kind(manifests: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == kind)


def test_a_resize_applies_the_deployment_alone_with_the_new_size_and_the_same_pod_template() -> (
    None
):
    before = applied_world(body(replicas=2))
    resized = decided(Observed(body(generation=2, replicas=3), before.children))
    assert [m["kind"] for m in resized.apply] == ["Deployment"]
    deployment = resized.apply[0]
    assert deployment["spec"]["replicas"] == 3
    old = by_kind(before.children, "Deployment")
    assert deployment["spec"]["template"] == old["spec"]["template"]  # no pod restarts


def resized_by(deployment: dict[str, Any], manager: str, replicas: int) -> dict[str, Any]:
    """The Deployment as the cache keeps it after `manager` wrote its size through /scale."""
    live = copy.deepcopy(deployment)
    live["spec"]["replicas"] = replicas
    live["metadata"]["managedFields"] = [
        {"manager": "tfmodel-operator", "operation": "Apply",
         "fieldsV1": {"f:spec": {"f:template": {}}}},
        {"manager": manager, "operation": "Update", "subresource": "scale",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}},
    ]  # fmt: skip
    return projection.project("Deployment", live)


def test_a_deployment_resized_by_someone_else_is_set_back_and_said_so() -> None:
    world = applied_world(body(replicas=2))
    deployment = by_kind(world.children, "Deployment")
    foreign = resized_by(deployment, "kube-controller-manager", 5)
    children = tuple(foreign if c["kind"] == "Deployment" else c for c in world.children)
    outcome = decided(Observed(world.tfmodel, children))
    assert [m["kind"] for m in outcome.apply] == ["Deployment"]
    assert outcome.apply[0]["spec"]["replicas"] == 2
    (event,) = outcome.write_events
    assert event.type == "Warning"
    assert "resized to 5 by kube-controller-manager" in event.message
    assert "kubectl scale tfm/vgg16" in event.message
    # A resize of the TFModel itself (the operator still owns the Deployment's size) is quiet.
    resized = decided(Observed(body(generation=2, replicas=3), world.children))
    assert not resized.write_events


def test_the_budget_follows_the_size() -> None:
    two = applied_world(body(replicas=2))
    assert "PodDisruptionBudget" in [c["kind"] for c in two.children]
    one = decided(Observed(body(generation=2, replicas=1), two.children))
    assert [c["kind"] for c in one.prune] == ["PodDisruptionBudget"]


def test_autoscaling_renders_an_hpa_on_the_tfmodel_with_the_cpu_default() -> None:
    outcome = decided(Observed(body(autoscaling={"maxReplicas": 4})))
    hpa = by_kind(outcome.apply, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == "vgg16"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel", "name": "vgg16",
    }  # fmt: skip
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]  # fmt: skip
    assert "behavior" not in hpa["spec"]


def test_given_metrics_and_behavior_are_passed_through_as_given() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    scaling = {"minReplicas": 2, "maxReplicas": 8, "metrics": [RPS_METRIC], "behavior": behavior}
    hpa = by_kind(decided(Observed(body(autoscaling=scaling))).apply, "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == [RPS_METRIC]
    assert hpa["spec"]["behavior"] == behavior
    assert hpa["spec"]["minReplicas"] == 2


def test_removing_autoscaling_prunes_the_hpa_and_keeps_the_size_the_autoscaler_left() -> None:
    scaled = applied_world(body(replicas=3, autoscaling={"maxReplicas": 4}))
    after = decided(Observed(body(generation=2, replicas=3), scaled.children))
    assert [c["kind"] for c in after.prune] == ["HorizontalPodAutoscaler"]
    assert "Deployment" not in [m["kind"] for m in after.apply]  # still 3 pods


def test_the_status_gives_scale_its_selector_and_the_autoscalers_desired_size() -> None:
    world = applied_world(body(autoscaling={"maxReplicas": 4}))
    hpa = {**by_kind(world.children, "HorizontalPodAutoscaler"), "status": {"desiredReplicas": 3}}
    children = tuple(hpa if c["kind"] == hpa["kind"] else c for c in world.children)
    outcome = decided(Observed(world.tfmodel, children))
    assert outcome.status is not None
    assert outcome.status["selector"] == (
        "app.kubernetes.io/component=server,app.kubernetes.io/instance=vgg16"
    )
    assert outcome.status["desiredReplicas"] == 3
    plain = decided(Observed(body()))
    assert plain.status is not None
    assert "desiredReplicas" not in plain.status


def test_the_requests_per_second_sample_renders_its_hpa_on_the_adapters_metric() -> None:
    manifests = Path(__file__).resolve().parents[2] / "manifests" / "autoscaling"
    sample = yaml.safe_load((manifests / "vgg16-requests-per-second.yaml").read_text())
    sample["metadata"].update(namespace="ml", uid="u2", generation=1)
    hpa = by_kind(decided(Observed(sample)).apply, "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == sample["spec"]["autoscaling"]["metrics"]
    rules = yaml.safe_load((manifests / "prometheus-adapter-rules.yaml").read_text())["rules"]
    named = {rule["name"]["as"] for rule in rules}
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] in named
