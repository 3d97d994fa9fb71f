"""decide: one TFModel and what is observed of it -> what to write, without a cluster."""

import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from support.tfmodels import tfmodel
from tfmodel_operator.controller import projection, spec
from tfmodel_operator.controller.decision import decide
from tfmodel_operator.controller.decision.decide import Outcome
from tfmodel_operator.controller.decision.diff import is_applied
from tfmodel_operator.controller.decision.observed import Observed
from tfmodel_operator.controller.decision.promotion import Check
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def decided(observed: Observed, *args: Any, **kwargs: Any) -> decide.Outcome:
    """decide over `observed`, its spec parsed once as the reconciler parses it."""
    return decide.decide(observed, spec.parsed(observed.tfmodel or {}), *args, **kwargs)


UID = "5f0c-tfmodel"


def body(**spec: Any) -> dict[str, Any]:
    meta = {"name": "vgg16", "namespace": "ml", "uid": UID, "generation": 3, "resourceVersion": "7"}
    return {**tfmodel(**spec), "metadata": meta}


def as_stored(manifest: dict[str, Any], uid: str = "child-uid") -> dict[str, Any]:
    """A child as the watch would show it: projected, with fields the apiserver adds or drops."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid=uid, resourceVersion="11", creationTimestamp="2026-11-26T11:00:00Z")
    if live["kind"] == "Service":
        live["spec"].update(clusterIP="10.96.0.12", sessionAffinity="None")
    if live["kind"] == "Job":  # the apiserver omits false booleans (readOnly: false)
        for volume in live["spec"]["template"]["spec"]["volumes"]:
            volume.get("persistentVolumeClaim", {}).pop("readOnly", None)
        live["spec"]["completions"] = 1
    return projection.project(live["kind"], live)


def first(tfm: dict[str, Any]) -> Outcome:
    return decided(Observed(tfmodel=tfm), NOW)


def serving_the_spec(tfm: dict[str, Any]) -> PodServing:
    """A ready pod that already resolves the spec's labels as the spec says."""
    return PodServing("vgg16-a", labels=tuple(sorted(tfm["spec"]["versionLabels"].items())))


def settled_world(tfm: dict[str, Any], outcome: Outcome | None = None) -> Observed:
    """Every child exactly as a first reconcile applied it (by default one whose pod already
    resolves the spec's labels, so the gated labels are written), and the status they lead to."""
    outcome = outcome or decided(Observed(tfmodel=tfm, serving=(serving_the_spec(tfm),)), NOW)
    children = tuple(as_stored(m) for m in outcome.manifests)
    then = decided(Observed(tfmodel={**tfm, "status": outcome.status}, children=children), NOW)
    return Observed(tfmodel={**tfm, "status": then.status or outcome.status}, children=children)


def kinds(manifests: tuple[dict[str, Any], ...]) -> list[str]:
    return [m["kind"] for m in manifests]


def test_nothing_to_do_for_a_tfmodel_that_is_gone_or_going() -> None:
    assert decided(Observed(tfmodel=None), NOW) == Outcome()
    going = body()
    going["metadata"]["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    assert decided(Observed(tfmodel=going), NOW) == Outcome()


def test_a_new_tfmodel_gets_its_children_and_a_status() -> None:
    outcome = first(body())
    assert kinds(outcome.apply) == ["ConfigMap", "Service", "Deployment"]
    assert outcome.status is not None
    assert outcome.status["observedGeneration"] == 3
    reasons = {c["type"]: c["reason"] for c in outcome.status["conditions"]}
    assert reasons["Progressing"] == "Creating"


def test_a_settled_world_writes_nothing() -> None:
    world = settled_world(body())
    again = decided(world, NOW)
    assert (again.apply, again.prune, again.status) == ((), (), None)


def test_a_hand_edit_is_undone_and_only_that_child_is_applied() -> None:
    world = settled_world(body())
    edited = tuple(
        {**c, "data": {**c["data"], "models.config": "garbage"}} if c["kind"] == "ConfigMap" else c
        for c in world.children
    )
    outcome = decided(Observed(tfmodel=world.tfmodel, children=edited), NOW)
    assert kinds(outcome.apply) == ["ConfigMap"]


def test_an_export_job_is_not_applied_again_for_fields_the_apiserver_drops() -> None:
    tfm = body(exports=[{"version": 2, "weights": "none"}])
    outcome = first(tfm)
    assert kinds(outcome.apply) == ["ConfigMap", "Service", "Deployment", "Job"]
    job = next(m for m in outcome.manifests if m["kind"] == "Job")
    assert (
        job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"] is False
    )
    assert decided(settled_world(tfm, outcome), NOW).apply == ()


@pytest.mark.parametrize("kind", ["ConfigMap", "Service", "Deployment"])
def test_a_name_held_by_someone_else_is_a_conflict_and_nothing_is_applied(kind: str) -> None:
    world = settled_world(body())
    foreign = tuple(
        {**c, "metadata": {**c["metadata"], "ownerReferences": []}} if c["kind"] == kind else c
        for c in world.children
    )
    outcome = decided(Observed(tfmodel=body(), children=foreign), NOW)
    assert outcome.apply == ()
    assert outcome.status is not None
    degraded = next(c for c in outcome.status["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ChildConflict")
    assert f"{kind} " in degraded["message"]
    assert {(e.type, e.reason) for e in outcome.events} == {("Warning", "ChildConflict")}
    assert len(outcome.events) == 2  # Stalled and Degraded turned True (Ready never was)


def test_what_an_earlier_tfmodel_of_the_name_left_is_removed_not_a_conflict() -> None:
    """Its children are controlled by a UID no object has any more (the name is this TFModel's
    now): removed, as the garbage collector would; their names wait until they are gone."""
    world = settled_world(body())

    def earlier(child: dict[str, Any]) -> dict[str, Any]:
        refs = [{**ref, "uid": "an-earlier-vgg16"} for ref in child["metadata"]["ownerReferences"]]
        return {**child, "metadata": {**child["metadata"], "ownerReferences": refs}}

    left = tuple(
        earlier(c) if c["kind"] in ("Service", "Deployment") else c for c in world.children
    )
    outcome = decided(Observed(tfmodel=body(), children=left), NOW)
    assert sorted(kinds(outcome.prune)) == ["Deployment", "Service"]
    assert {"Service", "Deployment"}.isdisjoint(kinds(outcome.apply))
    assert outcome.status is None or "ChildConflict" not in str(outcome.status)
    # Someone else's TFModel of another name is never taken for an earlier one of this name.
    other = tuple(
        {**c, "metadata": {**c["metadata"], "ownerReferences": [
            {**c["metadata"]["ownerReferences"][0], "name": "resnet", "uid": "x"}]}}
        if c["kind"] == "Service" else c
        for c in world.children
    )  # fmt: skip
    refused = decided(Observed(tfmodel=body(), children=other), NOW)
    assert refused.prune == ()
    assert refused.apply == ()
    assert "ChildConflict" in str(refused.status)


def test_only_superseded_jobs_this_tfmodel_controls_are_pruned() -> None:
    tfm = body(exports=[{"version": 2, "weights": "none"}])
    world = settled_world(tfm)
    job = next(c for c in world.children if c["kind"] == "Job")
    ours = copy.deepcopy(job)
    ours["metadata"]["name"] = "vgg16-export-v2-0000000000"
    planted = copy.deepcopy(ours)
    planted["metadata"].update(name="vgg16-export-v9-handmade", ownerReferences=[])
    outcome = decided(
        Observed(tfmodel=world.tfmodel, children=(*world.children, ours, planted)), NOW
    )
    assert [j["metadata"]["name"] for j in outcome.prune] == ["vgg16-export-v2-0000000000"]


def test_an_invalid_spec_is_reported_and_nothing_is_applied() -> None:
    tfm = body()
    tfm["spec"]["replicas"] = "two"
    outcome = first(tfm)
    assert outcome.apply == ()
    assert outcome.status is not None
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.replicas" in ready["message"]


def test_a_config_change_in_flight_is_not_settled_until_tf_serving_has_it() -> None:
    world = settled_world(body())
    pod = PodServing(
        "vgg16-a",
        (VersionStatus(1, "AVAILABLE"), VersionStatus(2, "LOADING")),
        (("stable", 1),),
    )
    outcome = decided(Observed(world.tfmodel, world.children, serving=(pod,)), NOW)
    assert not outcome.settled
    assert decided(world, NOW).settled  # no pod to ask: pod events bring what is next


def test_the_labels_to_ask_are_the_spec_labels_and_those_written_last() -> None:
    world = settled_world(body())
    assert world.labels_to_ask(spec.parse(world.tfmodel)) == ["canary", "stable"]
    moved = {**world.tfmodel, "spec": {**world.tfmodel["spec"], "versionLabels": {"prod": 2}}}
    assert Observed(moved, world.children).labels_to_ask(spec.parse(moved)) == [
        "canary", "prod", "stable",
    ]  # fmt: skip


def test_is_applied_ignores_server_defaults_and_dropped_zero_values_but_not_differences() -> None:
    desired = {"spec": {"ports": [{"name": "http", "port": 8501}], "type": "ClusterIP",
                        "volume": {"readOnly": False}}}  # fmt: skip
    live = {
        "spec": {
            "ports": [{"name": "http", "port": 8501, "protocol": "TCP"}],
            "type": "ClusterIP",
            "clusterIP": "10.96.0.9",
            "volume": {},
        }
    }
    assert is_applied(desired, live)
    assert not is_applied(desired, {"spec": {**live["spec"], "type": "NodePort"}})
    assert not is_applied(desired, {"spec": {**live["spec"], "ports": []}})
    assert not is_applied(desired, {"spec": {**live["spec"], "volume": {"readOnly": True}}})
    assert not is_applied({"readOnly": True}, {})
    assert not is_applied(desired, {})


def test_a_gated_label_move_asks_for_its_check_then_moves_or_is_blocked() -> None:
    """stable 1 -> 2 with version 2 AVAILABLE everywhere: decide asks for the check of (1, 2)
    and writes nothing; a passed check moves the label; a failed one leaves models.config as it
    is and says PromotionBlocked."""
    world = settled_world(body(versionLabels={"stable": 1}))
    moved = body(versionLabels={"stable": 2})
    both = tuple(VersionStatus(v, "AVAILABLE") for v in (1, 2))
    pods = tuple(PodServing(p, both, (("stable", 1),)) for p in ("vgg16-a", "vgg16-b"))
    asking = Observed({**moved, "status": world.tfmodel["status"]}, world.children, serving=pods)  # type: ignore[index]

    unchecked = decided(asking, NOW)
    assert unchecked.checks_due == ((1, 2),)
    assert "ConfigMap" not in kinds(unchecked.apply)

    passed = decided(replace(asking, checks={(1, 2): Check(1, 2, passed=True)}), NOW)
    assert passed.checks_due == ()
    (config_map,) = [m for m in passed.apply if m["kind"] == "ConfigMap"]
    assert "key: 'stable' value: 2" in config_map["data"]["models.config"]

    failed = Check(
        1, 2, passed=False, message="smoke request to signature serving_default: HTTP 500"
    )
    blocked = decided(replace(asking, checks={(1, 2): failed}), NOW)
    assert "ConfigMap" not in kinds(blocked.apply)
    assert blocked.status is not None
    stalled = next(c for c in blocked.status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "PromotionBlocked")
    assert "HTTP 500" in stalled["message"]


def test_a_lost_config_map_does_not_let_a_refused_label_move() -> None:
    """stable 1 -> 2 was refused, then the ConfigMap (and the plan recorded on it) is gone: the
    pods still resolve stable to 1, so the ConfigMap written again keeps it there."""
    tfm = body(versionLabels={"stable": 2}, promotion={"labels": ["stable"]})
    children = tuple(c for c in settled_world(tfm).children if c["kind"] != "ConfigMap")
    both = tuple(VersionStatus(v, "AVAILABLE") for v in (1, 2))
    pods = tuple(PodServing(p, both, (("stable", 1),)) for p in ("vgg16-a", "vgg16-b"))
    refused = Check(1, 2, passed=False, message="smoke request to signature serving_default: NaN")
    outcome = decided(Observed(tfm, children, serving=pods, checks={(1, 2): refused}), NOW)
    for found in (outcome.apply, outcome.manifests):
        (config_map,) = [m for m in found if m["kind"] == "ConfigMap"]
        config = config_map["data"]["models.config"]
        assert "key: 'stable' value: 1" in config
        assert "key: 'stable' value: 2" not in config
    assert outcome.status is not None
    stalled = next(c for c in outcome.status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "PromotionBlocked")
