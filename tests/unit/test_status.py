"""status: observed Deployment, pods and TF Serving answers -> conditions, versions, labels."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.tfmodels import tfmodel
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision import conditions, served, status
from tfmodel_operator.controller.decision.export_jobs import ExportDecision, ExportState
from tfmodel_operator.controller.decision.plan import (
    Decision,
    Hold,
    desired_plan,
)
from tfmodel_operator.controller.decision.promotion import Check
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

NOW = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
CRD = Path(__file__).resolve().parents[2] / "crds" / "tfmodels.serving.tfmodel.io.yaml"
MODEL = spec.parse(
    {**tfmodel(replicas=2), "metadata": {"name": "vgg16", "namespace": "ml", "generation": 4}}
)
DESIRED = Decision(desired_plan(MODEL))  # specific 1,2 with stable=1, canary=2


def deployment(replicas: int = 2, updated: int = 2, available: int = 2, ready: int = 2,
               generation: int = 1, seen: int = 1, total: int | None = None,
               conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    if conditions is None:
        conditions = [{"type": "Available", "status": "True" if available >= replicas else "False"}]
    return {
        "metadata": {"name": "vgg16", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": seen, "replicas": replicas if total is None else total,
            "updatedReplicas": updated, "availableReplicas": available, "readyReplicas": ready,
            "conditions": conditions,
        },
    }  # fmt: skip


def unschedulable_pod(message: str) -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    return {
        "metadata": {"name": "vgg16-abc"},
        "status": {"phase": "Pending", "conditions": [condition]},
    }


def tf(name: str, states: dict[int, str] | None = None, labels: dict[str, int] | None = None,
       failed: dict[int, str] | None = None, stale: tuple[int, ...] = ()) -> PodServing:  # fmt: skip
    """What TF Serving on pod `name` answers; by default exactly the desired config."""
    states = {1: "AVAILABLE", 2: "AVAILABLE"} if states is None else states
    versions = [VersionStatus(v, state) for v, state in states.items()]
    versions += [VersionStatus(v, "END", message) for v, message in (failed or {}).items()]
    versions += [VersionStatus(v, "END") for v in stale]
    labels = {"stable": 1, "canary": 2} if labels is None else labels
    return PodServing(name, tuple(versions), tuple(sorted(labels.items())))


def silent(name: str) -> PodServing:
    return PodServing(name, error="http://127.10.0.9:8501/v1/models/vgg16: connection refused")


SERVED = [tf("vgg16-a"), tf("vgg16-b")]


def seen(dep: dict[str, Any] | None = None, pods: list[dict[str, Any]] | None = None,
         serving: list[PodServing] | None = None, written: datetime | None = NOW) -> status.World:  # fmt: skip
    return status.World(dep, pods or [], SERVED if serving is None else serving, written)


def compute(observed: status.World, decision: Decision = DESIRED, previous: dict[str, Any] | None = None,
            now: datetime = NOW) -> dict[str, Any]:  # fmt: skip
    return status.compute(MODEL, decision, observed, previous or {}, now, reload_grace=60)


def verdicts(
    observed: status.World, decision: Decision = DESIRED, now: datetime = NOW
) -> dict[str, tuple[str, str]]:
    """The conditions without Exported, which has tests of its own."""
    computed = compute(observed, decision, now=now)
    return {
        c["type"]: (c["status"], c["reason"])
        for c in computed["conditions"]
        if c["type"] != "Exported"
    }


def cond(computed: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in computed["conditions"] if c["type"] == kind)


OK = ("False", "AsExpected")
APPLIED = ("True", "Applied")
SERVING = ("True", "Serving")


def moving(reason: str) -> dict[str, tuple[str, str]]:
    """Reconciling and Progressing for a change on its way, not stalled."""
    return {"Reconciling": ("True", reason), "Stalled": OK, "Progressing": ("True", reason)}


def stuck(
    reason: str, progressing: tuple[str, str] = ("False", "RolloutComplete")
) -> dict[str, tuple[str, str]]:
    return {"Ready": ("False", reason), "Reconciling": ("False", reason), "Stalled": ("True", reason),
            "Progressing": progressing, "Degraded": ("True", reason)}  # fmt: skip


AT_REST = {"Reconciling": OK, "Stalled": OK, "Progressing": ("False", "RolloutComplete")}
CASES = [
    ("no deployment yet", seen(None, serving=[]),
     {"Ready": ("False", "Creating"), **moving("Creating"), "Degraded": OK, "ConfigApplied": ("False", "NoPodAnswered")}),
    ("all pods serve the config", seen(deployment()),
     {"Ready": SERVING, **AT_REST, "Degraded": OK, "ConfigApplied": APPLIED}),
    # A rollout of a model that serves keeps it Ready: it is Reconciling.
    ("controller has not seen the spec", seen(deployment(generation=2, seen=1)),
     {"Ready": SERVING, **moving("RollingOut"), "Degraded": OK, "ConfigApplied": APPLIED}),
    ("one pod not updated", seen(deployment(updated=1)),
     {"Ready": SERVING, **moving("RollingOut"), "Degraded": OK, "ConfigApplied": APPLIED}),
    ("old pods still terminating", seen(deployment(total=3)),
     {"Ready": SERVING, **moving("RollingOut"), "Degraded": OK, "ConfigApplied": APPLIED}),
    # Waiting for capacity is not stuck (like a Deployment before its progress deadline).
    ("pod cannot be scheduled", seen(deployment(available=0, ready=0), [unschedulable_pod("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")], serving=[]),
     {"Ready": ("False", "Unschedulable"), **moving("RollingOut"), "Degraded": ("True", "Unschedulable"), "ConfigApplied": ("False", "NoPodAnswered")}),
    ("replica set refused by admission", seen(deployment(available=0, ready=0, conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "forbidden: violates PodSecurity"}]), serving=[]),
     {**stuck("ReplicaFailure", ("True", "RollingOut")), "ConfigApplied": ("False", "NoPodAnswered")}),
    ("rollout stuck", seen(deployment(updated=1, conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}])),
     {**stuck("ProgressDeadlineExceeded", ("True", "RollingOut")), "ConfigApplied": APPLIED}),
    ("rollout past its deadline because a pod cannot be scheduled", seen(deployment(updated=1, conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]), [unschedulable_pod("0/3 nodes are available")]),
     {**stuck("ProgressDeadlineExceeded", ("True", "RollingOut")), "ConfigApplied": APPLIED}),
    ("pods up, TF Serving not answering yet", seen(deployment(), serving=[silent("vgg16-a"), silent("vgg16-b")]),
     {"Ready": ("False", "NoPodAnswered"), **moving("NoPodAnswered"), "Degraded": OK, "ConfigApplied": ("False", "NoPodAnswered")}),
    # canary (version 2) is not served on pod b yet: not every label is served everywhere.
    ("a version still loading", seen(deployment(), serving=[tf("vgg16-a"), tf("vgg16-b", {1: "AVAILABLE", 2: "LOADING"}, {"stable": 1})]),
     {"Ready": ("False", "Loading"), **moving("Loading"), "Degraded": OK, "ConfigApplied": ("False", "Loading")}),
    ("new config not picked up yet", seen(deployment(), serving=[tf("vgg16-a"), tf("vgg16-b", labels={"stable": 1})]),
     {"Ready": ("False", "WaitingForReload"), **moving("WaitingForReload"), "Degraded": OK, "ConfigApplied": ("False", "WaitingForReload")}),
    # A label moving from 1 to 2 still resolves to 1, AVAILABLE: serving, and Reconciling.
    ("label move not in effect yet", seen(deployment(), serving=[tf("vgg16-a", labels={"stable": 1, "canary": 1}), tf("vgg16-b")]),
     {"Ready": SERVING, **moving("WaitingForReload"), "Degraded": OK, "ConfigApplied": ("False", "WaitingForReload")}),
    ("a version fails to load", seen(deployment(), serving=[tf("vgg16-a", {1: "AVAILABLE"}, {"stable": 1}, failed={2: "Could not find SavedModel .pb"}), tf("vgg16-b")]),
     {**stuck("VersionLoadFailed"), "ConfigApplied": ("False", "VersionLoadFailed")}),
    ("one pod does not answer, the other serves", seen(deployment(), serving=[tf("vgg16-a"), silent("vgg16-b")]),
     {"Ready": SERVING, **AT_REST, "Degraded": OK, "ConfigApplied": APPLIED}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "observed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_conditions_from_the_world(case: str, observed: status.World, expected: dict) -> None:
    assert verdicts(observed) == expected


def test_reload_not_seen_in_time_is_degraded() -> None:
    behind = seen(
        deployment(),
        serving=[tf("vgg16-a"), tf("vgg16-b", labels={"stable": 2, "canary": 2})],
        written=NOW,
    )
    assert verdicts(behind, now=NOW + timedelta(seconds=60))["ConfigApplied"] == (
        "False",
        "WaitingForReload",
    )
    late = compute(behind, now=NOW + timedelta(seconds=30 + 61))  # configPollSeconds 30 + grace 60
    assert (cond(late, "Degraded")["status"], cond(late, "Degraded")["reason"]) == (
        "True",
        "ReloadNotSeen",
    )
    assert "vgg16-b: label stable resolves to 2, not 1" in cond(late, "ConfigApplied")["message"]  # fmt: skip


def test_held_label_move_is_reconciling_while_the_model_serves() -> None:
    held = Decision(
        desired_plan(MODEL), holds=(Hold("stable", current=1, wanted=3, available_on=1, pods=2),)
    )
    computed = compute(seen(deployment()), held)
    assert (cond(computed, "ConfigApplied")["reason"], cond(computed, "Ready")["status"]) == (
        "LabelMovePending",
        "True",
    )
    assert cond(computed, "Reconciling")["status"] == "True"
    assert cond(computed, "ConfigApplied")["message"] == (
        "label stable stays on version 1 until version 3 is AVAILABLE on every ready pod (1 of 2 so far)"
    )  # fmt: skip


def test_a_blocked_promotion_is_stalled_and_says_what_differs() -> None:
    check = Check(1, 3, passed=False, message="it breaks the contract of version 1: signature "
                  "serving_default: input image is gone (inputs now: pixels) (on vgg16-a, vgg16-b)")  # fmt: skip
    held = Hold("stable", current=1, wanted=3, available_on=2, pods=2)
    blocked = Decision(desired_plan(MODEL), holds=(held,), refused=(("stable", check),))
    computed = compute(seen(deployment()), blocked)
    assert {kind: (cond(computed, kind)["status"], cond(computed, kind)["reason"])
            for kind in ("Ready", "Stalled", "Reconciling", "Degraded", "ConfigApplied")} == {
        "Ready": ("False", "PromotionBlocked"), "Stalled": ("True", "PromotionBlocked"),
        "Reconciling": ("False", "PromotionBlocked"), "Degraded": ("True", "PromotionBlocked"),
        "ConfigApplied": ("False", "PromotionBlocked")}  # fmt: skip
    assert cond(computed, "ConfigApplied")["message"] == (
        "label stable stays on version 1: version 3 failed its promotion checks: it breaks the "
        "contract of version 1: signature serving_default: input image is gone (inputs now: "
        "pixels) (on vgg16-a, vgg16-b) (a new spec, or spec.promotion, lets it proceed)"
    )
    warnings = [e for e in conditions.events({}, computed) if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"PromotionBlocked"}


def test_a_label_move_waiting_for_its_checks_is_pending() -> None:
    held = Hold("stable", current=1, wanted=3, available_on=2, pods=2)
    computed = compute(
        seen(deployment()), Decision(desired_plan(MODEL), (held,), unchecked=((1, 3),))
    )
    assert cond(computed, "ConfigApplied")["message"] == (
        "label stable stays on version 1 until version 3 passes its promotion checks"
    )  # fmt: skip


def test_failed_load_message_names_version_pods_and_tf_error() -> None:
    broken = [
        tf(p, {1: "AVAILABLE"}, {"stable": 1}, failed={2: "Not found: no saved_model.pb"})
        for p in ("vgg16-a", "vgg16-b")
    ]
    computed = compute(seen(deployment(), serving=broken))
    assert (
        cond(computed, "Degraded")["message"]
        == "Version 2 failed to load on vgg16-a, vgg16-b: Not found: no saved_model.pb"
    )
    assert computed["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2},
        {"version": 2, "state": "END", "availableReplicas": 0, "error": "Not found: no saved_model.pb"},
    ]  # fmt: skip


def test_versions_and_labels_as_tf_serving_reports_them() -> None:
    pods = [
        tf("vgg16-a", {1: "AVAILABLE", 2: "AVAILABLE"}, stale=(0,)),
        tf("vgg16-b", {1: "AVAILABLE", 2: "LOADING"}, {"stable": 1}),
        silent("vgg16-c"),
    ]
    computed = compute(seen(deployment(replicas=3), serving=pods))
    assert computed["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2},
        {"version": 2, "state": "LOADING", "availableReplicas": 1},
    ]  # stale END entry of version 0 filtered out
    assert computed["labels"] == {"canary": 2, "stable": 1}
    assert computed["labelSummary"] == {"canary": "2 (1/3)", "stable": "1 (2/3)"}  # fmt: skip


def test_status_fields_and_observed_generation() -> None:
    computed = compute(seen(deployment()))
    assert computed["observedGeneration"] == 4
    assert {c["observedGeneration"] for c in computed["conditions"]} == {4}
    assert (computed["replicas"], computed["readyReplicas"], computed["device"]) == (2, 2, "cpu")
    assert computed["versionPolicy"] == "1,2"
    assert computed["endpoints"] == {
        "rest": "http://vgg16.ml.svc:8501/v1/models/vgg16",
        "grpc": "vgg16.ml.svc:8500",
    }
    assert all(c["lastTransitionTime"] == "2026-11-25T12:00:00Z" for c in computed["conditions"])


def test_unschedulable_message_quotes_the_scheduler() -> None:
    computed = compute(
        seen(
            deployment(available=0),
            [unschedulable_pod("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")],
        )
    )
    assert (
        cond(computed, "Ready")["message"]
        == "Pod vgg16-abc cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    )


def test_transition_time_is_kept_while_status_holds() -> None:
    first = compute(seen(deployment()))
    later = NOW + timedelta(minutes=5)
    assert compute(seen(deployment()), previous=first, now=later) == first  # nothing to write
    rolling = compute(seen(deployment(updated=1)), previous=first, now=later)
    times = {c["type"]: c["lastTransitionTime"] for c in rolling["conditions"]}
    assert times == {"Ready": "2026-11-25T12:00:00Z", "Reconciling": "2026-11-25T12:05:00Z",
                     "Stalled": "2026-11-25T12:00:00Z", "Progressing": "2026-11-25T12:05:00Z",
                     "Degraded": "2026-11-25T12:00:00Z", "ConfigApplied": "2026-11-25T12:00:00Z",
                     "Exported": "2026-11-25T12:00:00Z"}  # fmt: skip


def test_invalid_spec_keeps_the_rest_of_the_status() -> None:
    good = compute(seen(deployment()))
    error = spec.InvalidSpec("spec.gpu.count", "must be at least 1 and at most 16, got 0")
    bad = conditions.blocked(5, "InvalidSpec", str(error), good, NOW)
    assert (bad["readyReplicas"], bad["observedGeneration"], bad["versions"]) == (
        2,
        5,
        good["versions"],
    )
    assert (cond(bad, "Ready")["status"], cond(bad, "Ready")["reason"]) == ("False", "InvalidSpec")
    assert (
        cond(bad, "Degraded")["message"]
        == "spec.gpu.count: must be at least 1 and at most 16, got 0"
    )
    assert cond(bad, "ConfigApplied") == cond(
        good, "ConfigApplied"
    )  # what TF Serving does is unchanged


def test_events_only_on_ready_degraded_and_stalled_transitions() -> None:
    creating = compute(seen(None, serving=[]))
    assert conditions.events({}, creating) == []  # absent counts as False: nothing happened yet
    serving = compute(seen(deployment()), previous=creating)
    assert conditions.events(creating, serving) == [
        conditions.Event(
            "Normal",
            "Serving",
            "Ready is True: 2 of 2 pods ready; models.config is in effect on 2 of 2 ready pods",
        )
    ]
    assert conditions.events(serving, serving) == []
    waiting = compute(
        seen(deployment(available=0), [unschedulable_pod("no GPU")]), previous=serving
    )
    assert [(e.type, e.reason) for e in conditions.events(serving, waiting)] == [
        ("Warning", "Unschedulable"),  # Ready: a serving model stopped serving
        ("Warning", "Unschedulable"),  # Degraded
    ]
    broken = [
        tf(p, {1: "AVAILABLE"}, {"stable": 1}, failed={2: "no .pb"}) for p in ("vgg16-a", "vgg16-b")
    ]
    failed = compute(seen(deployment(), serving=broken), previous=serving)
    assert [(e.type, e.reason) for e in conditions.events(serving, failed)] == [
        ("Warning", "VersionLoadFailed"),
        ("Warning", "VersionLoadFailed"),
        ("Warning", "VersionLoadFailed"),
    ]  # Ready False, Stalled True, Degraded True
    fixed = compute(seen(deployment()), previous=failed)
    assert {(e.type, e.reason) for e in conditions.events(failed, fixed)} == {
        ("Normal", "Serving"), ("Normal", "AsExpected"),
    }  # fmt: skip


def test_long_messages_are_capped() -> None:
    computed = compute(seen(deployment(available=0), [unschedulable_pod("x" * 5000)]))
    assert all(len(c["message"]) <= 1024 for c in computed["conditions"])


def exports(*states: ExportState, refused: tuple[str, ...] = ()) -> ExportDecision:
    pending = frozenset(s.version for s in states if s.state != "Succeeded")
    return ExportDecision(states=states, refused=refused, pending=pending)


@pytest.mark.parametrize(
    ("decision", "exported", "ready", "degraded"),
    [
        (exports(), ("True", "ExportsSucceeded", "No exports"), "True", "False"),
        (exports(ExportState(3, "vgg16-export-v3-abc", "Succeeded")), ("True", "ExportsSucceeded", "1 of 1 exports succeeded"), "True", "False"),
        (exports(ExportState(3, "vgg16-export-v3-abc", "Running")),
         ("False", "ExportRunning", "version 3 is not served until Job vgg16-export-v3-abc succeeds (Running)"), "True", "False"),
        (exports(ExportState(3, "vgg16-export-v3-abc", "Failed", "pod p: no such weights file")),
         ("False", "ExportFailed", "Export of version 3 failed (Job vgg16-export-v3-abc): pod p: no such weights file"), "False", "True"),
        (exports(ExportState(2, "vgg16-export-v2-abc", "Succeeded"), refused=("spec.exports[version=2]: ...",)),
         ("False", "ExportRefused", "spec.exports[version=2]: ..."), "False", "True"),
    ],
)  # fmt: skip
def test_exports_gate_readiness(
    decision: ExportDecision, exported: tuple[str, str, str], ready: str, degraded: str
) -> None:
    computed = status.compute(
        MODEL, DESIRED, seen(deployment()), {}, NOW, reload_grace=60, exports=decision
    )
    condition = cond(computed, "Exported")
    assert (condition["status"], condition["reason"], condition["message"]) == exported
    assert (cond(computed, "Ready")["status"], cond(computed, "Degraded")["status"]) == (
        ready,
        degraded,
    )
    assert computed["exports"] == [s.as_status() for s in decision.states]


def test_a_gpu_model_serving_several_versions_is_warned_about_gpu_memory() -> None:
    gpu_model = spec.parse(
        {**tfmodel(replicas=2, gpu={"count": 1}), "metadata": {"name": "vgg16", "namespace": "ml"}}
    )
    computed = status.compute(
        gpu_model, Decision(desired_plan(gpu_model)), seen(deployment()), {}, NOW
    )
    assert cond(computed, "ConfigApplied")["message"] == (
        "models.config is in effect on 2 of 2 ready pods; several versions share each GPU: size "
        "spec.gpu.memoryFraction for all of them (TF Serving loads a new version before it unloads the old, serving#2017)"
    )
    one_version = spec.parse({**tfmodel(replicas=2, gpu={"count": 1}, versionPolicy={"specific": {"versions": [1]}}, versionLabels={"stable": 1}),
                              "metadata": {"name": "vgg16", "namespace": "ml"}})  # fmt: skip
    single = [
        tf("vgg16-a", {1: "AVAILABLE"}, {"stable": 1}),
        tf("vgg16-b", {1: "AVAILABLE"}, {"stable": 1}),
    ]
    computed = status.compute(
        one_version,
        Decision(desired_plan(one_version)),
        seen(deployment(), serving=single),
        {},
        NOW,
    )
    assert (
        cond(computed, "ConfigApplied")["message"]
        == "models.config is in effect on 2 of 2 ready pods"
    )


def test_a_version_available_on_one_pod_of_two_is_not_reported_available() -> None:
    pods = [tf("vgg16-a", {1: "AVAILABLE", 2: "AVAILABLE"}), tf("vgg16-b", {1: "AVAILABLE"})]
    assert compute(seen(deployment(), serving=pods))["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2},
        {"version": 2, "state": "START", "availableReplicas": 1},
    ]


def test_a_label_named_like_a_state_does_not_change_the_reason() -> None:
    named = spec.parse({**tfmodel(replicas=2, versionLabels={"LOADING": 2, "START": 1}),
                        "metadata": {"name": "vgg16", "namespace": "ml", "generation": 4}})  # fmt: skip
    pods = [tf(p, labels={"LOADING": 1, "START": 1}) for p in ("vgg16-a", "vgg16-b")]
    computed = status.compute(
        named, Decision(desired_plan(named)), seen(deployment(), serving=pods), {}, NOW
    )
    assert cond(computed, "ConfigApplied")["reason"] == "WaitingForReload"  # not Loading


def test_changes_name_the_fields_and_conditions_that_differ() -> None:
    first = compute(seen(deployment()))
    rolling = compute(seen(deployment(updated=1)), previous=first)
    assert conditions.changes(first, rolling) == [
        "conditions[Progressing]",
        "conditions[Reconciling]",
    ]
    assert conditions.changes(first, first) == []


def test_a_late_reload_reads_the_same_at_every_poll() -> None:
    behind = seen(
        deployment(),
        serving=[tf("vgg16-a"), tf("vgg16-b", labels={"stable": 2, "canary": 2})],
        written=NOW,
    )
    first = compute(behind, now=NOW + timedelta(seconds=91))
    later = compute(behind, previous=first, now=NOW + timedelta(seconds=3600))
    assert cond(first, "Degraded")["reason"] == "ReloadNotSeen"
    assert later == first
    assert cond(first, "ConfigApplied")["message"].startswith(
        "models.config written at 2026-11-25T12:00:00Z is not in effect within 90s"
    )


def test_thousands_of_versions_keep_the_status_small() -> None:
    error = "Failed to load servable: NOT_FOUND: " + "x" * 2000
    listed = {v: ("AVAILABLE", "") if v in (1, 2) else ("END", error) for v in range(1, 5001)}
    pods = [
        PodServing(name, tuple(VersionStatus(v, state, e) for v, (state, e) in listed.items()),
                   (("stable", 1), ("canary", 2), ("old", 7)))
        for name in ("vgg16-a", "vgg16-b", "vgg16-c")
    ]  # fmt: skip
    computed = compute(seen(deployment(replicas=3), serving=pods))
    shown = [entry["version"] for entry in computed["versions"]]
    assert len(shown) == served.MAX_STATUS_VERSIONS
    assert shown == [1, 2, 7, *range(5000 - 96, 5001)]  # served, labelled, then the highest
    assert {len(entry.get("error", "")) for entry in computed["versions"]} == {
        0,
        served.MAX_VERSION_ERROR,
    }
    assert len(json.dumps(computed)) < 64 * 1024


def test_the_crd_bounds_status_versions_as_the_operator_does() -> None:
    document = yaml.safe_load(CRD.read_text())
    (version,) = document["spec"]["versions"]
    versions = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["versions"]  # fmt: skip
    assert versions["maxItems"] == served.MAX_STATUS_VERSIONS
    assert versions["items"]["properties"]["error"]["maxLength"] == served.MAX_VERSION_ERROR
