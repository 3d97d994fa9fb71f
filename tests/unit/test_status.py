"""status: observed Deployment and pods -> conditions, with transition times and events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.tfmodels import tfmodel
from tfmodel_operator import spec, status

NOW = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
MODEL = spec.parse(
    {**tfmodel(replicas=2), "metadata": {"name": "vgg16", "namespace": "ml", "generation": 4}}
)


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


def verdicts(observed: status.Observed) -> dict[str, tuple[str, str]]:
    computed = status.compute(MODEL, observed, {}, NOW)
    return {c["type"]: (c["status"], c["reason"]) for c in computed["conditions"]}


CASES = [
    ("no deployment yet", status.Observed(None),
     {"Ready": ("False", "Creating"), "Progressing": ("True", "Creating"), "Degraded": ("False", "AsExpected")}),
    ("all pods ready", status.Observed(deployment()),
     {"Ready": ("True", "Serving"), "Progressing": ("False", "RolloutComplete"), "Degraded": ("False", "AsExpected")}),
    ("controller has not seen the spec", status.Observed(deployment(generation=2, seen=1)),
     {"Ready": ("False", "RollingOut"), "Progressing": ("True", "RollingOut"), "Degraded": ("False", "AsExpected")}),
    ("one pod not updated", status.Observed(deployment(updated=1)),
     {"Ready": ("False", "RollingOut"), "Progressing": ("True", "RollingOut"), "Degraded": ("False", "AsExpected")}),
    ("old pods still terminating", status.Observed(deployment(total=3)),
     {"Ready": ("False", "RollingOut"), "Progressing": ("True", "RollingOut"), "Degraded": ("False", "AsExpected")}),
    ("pod cannot be scheduled", status.Observed(deployment(available=0, ready=0), [unschedulable_pod("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")]),
     {"Ready": ("False", "Unschedulable"), "Progressing": ("True", "RollingOut"), "Degraded": ("True", "Unschedulable")}),
    ("replica set refused by admission", status.Observed(deployment(available=0, ready=0, conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "forbidden: violates PodSecurity"}])),
     {"Ready": ("False", "ReplicaFailure"), "Progressing": ("True", "RollingOut"), "Degraded": ("True", "ReplicaFailure")}),
    ("rollout stuck", status.Observed(deployment(updated=1, conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}])),
     {"Ready": ("False", "ProgressDeadlineExceeded"), "Progressing": ("True", "RollingOut"), "Degraded": ("True", "ProgressDeadlineExceeded")}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "observed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_conditions_from_the_world(case: str, observed: status.Observed, expected: dict) -> None:
    assert verdicts(observed) == expected


def test_status_fields_and_observed_generation() -> None:
    computed = status.compute(MODEL, status.Observed(deployment()), {}, NOW)
    assert computed["observedGeneration"] == 4
    assert {c["observedGeneration"] for c in computed["conditions"]} == {4}
    assert computed["replicas"] == 2
    assert computed["readyReplicas"] == 2
    assert computed["device"] == "cpu"
    assert computed["versionPolicy"] == "1,2"
    assert computed["labels"] == {"canary": 2, "stable": 1}
    assert computed["endpoints"] == {
        "rest": "http://vgg16.ml.svc:8501/v1/models/vgg16", "grpc": "vgg16.ml.svc:8500",
    }  # fmt: skip
    assert all(c["lastTransitionTime"] == "2026-11-25T12:00:00Z" for c in computed["conditions"])


def test_unschedulable_message_quotes_the_scheduler() -> None:
    observed = status.Observed(
        deployment(available=0),
        [unschedulable_pod("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")],
    )
    ready = status.compute(MODEL, observed, {}, NOW)["conditions"][0]
    assert ready["message"] == "Pod vgg16-abc cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."  # fmt: skip


def test_transition_time_is_kept_while_status_holds() -> None:
    first = status.compute(MODEL, status.Observed(deployment()), {}, NOW)
    later = NOW + timedelta(minutes=5)
    again = status.compute(MODEL, status.Observed(deployment()), first, later)
    assert again == first  # nothing changed: nothing to write
    degraded = status.compute(MODEL, status.Observed(deployment(updated=1)), first, later)
    times = {c["type"]: c["lastTransitionTime"] for c in degraded["conditions"]}
    assert times == {"Ready": "2026-11-25T12:05:00Z", "Progressing": "2026-11-25T12:05:00Z", "Degraded": "2026-11-25T12:00:00Z"}  # fmt: skip


def test_invalid_spec_keeps_the_rest_of_the_status() -> None:
    good = status.compute(MODEL, status.Observed(deployment()), {}, NOW)
    error = spec.InvalidSpec("spec.gpu.count", "must be at least 1 and at most 16, got 0")
    bad = status.invalid(5, error, good, NOW)
    assert bad["readyReplicas"] == 2
    assert bad["observedGeneration"] == 5
    ready, _, degraded = bad["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert degraded["message"] == "spec.gpu.count: must be at least 1 and at most 16, got 0"


def test_events_only_on_ready_and_degraded_transitions() -> None:
    creating = status.compute(MODEL, status.Observed(None), {}, NOW)
    assert status.events({}, creating) == []  # absent counts as False: nothing happened yet
    serving = status.compute(MODEL, status.Observed(deployment()), creating, NOW)
    assert status.events(creating, serving) == [
        status.Event("Normal", "Serving", "Ready is True: 2 of 2 pods ready")
    ]
    assert status.events(serving, serving) == []
    stuck = status.compute(
        MODEL, status.Observed(deployment(available=0), [unschedulable_pod("no GPU")]), serving, NOW
    )
    assert [(e.type, e.reason) for e in status.events(serving, stuck)] == [
        ("Warning", "Unschedulable"), ("Warning", "Unschedulable"),
    ]  # fmt: skip


def test_long_messages_are_capped() -> None:
    observed = status.Observed(deployment(available=0), [unschedulable_pod("x" * 5000)])
    assert all(
        len(c["message"]) <= 1024 for c in status.compute(MODEL, observed, {}, NOW)["conditions"]
    )
