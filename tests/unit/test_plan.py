"""plan.next_plan: per-pod TF Serving states in, the next models.config out (two-phase moves)."""

import pytest

from tfmodel_operator.controller.api import Promotion, VersionPolicy
from tfmodel_operator.controller.decision.plan import (
    Decision,
    Hold,
    Plan,
    next_plan,
)
from tfmodel_operator.controller.decision.promotion import Check, Move
from tfmodel_operator.controller.decision.served import mismatches
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus


def specific(*versions: int, **labels: int) -> Plan:
    return Plan(
        VersionPolicy("specific", versions=tuple(sorted(versions))), tuple(sorted(labels.items()))
    )


def latest(n: int, **labels: int) -> Plan:
    return Plan(VersionPolicy("latest", num_versions=n), tuple(sorted(labels.items())))


def pod(
    name: str, available: tuple[int, ...], loading: tuple[int, ...] = (), **labels: int
) -> PodServing:
    states = [VersionStatus(v, "AVAILABLE") for v in available] + [
        VersionStatus(v, "LOADING") for v in loading
    ]
    return PodServing(name, tuple(states), tuple(sorted(labels.items())))


SILENT = PodServing("p3", error="timed out")

CASES = [
    ("first config is written as desired", specific(1, 2, stable=1), None, [], Decision(specific(1, 2, stable=1))),
    ("no ready pod: a starting server loads everything first", specific(2, stable=2), specific(1, stable=1), [], Decision(specific(2, stable=2))),
    ("unchanged", specific(1, stable=1), specific(1, stable=1), [pod("p1", (1,), stable=1)], Decision(specific(1, stable=1))),
    ("phase one: load the new version beside the old, label stays",
     specific(2, stable=2), specific(1, stable=1), [pod("p1", (1,), stable=1), pod("p2", (1,), stable=1)],
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, available_on=0, pods=2),))),
    ("still loading on one pod: the label waits",
     specific(2, stable=2), specific(1, 2, stable=1), [pod("p1", (1, 2), stable=1), pod("p2", (1,), (2,), stable=1)],
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, available_on=1, pods=2),))),
    ("phase two: available everywhere, the label moves and the old version goes",
     specific(2, stable=2), specific(1, 2, stable=1), [pod("p1", (1, 2), stable=1), pod("p2", (1, 2), stable=1)],
     Decision(specific(2, stable=2))),
    ("a pod that does not answer blocks the move, not the config",
     specific(2, stable=2), specific(1, 2, stable=1), [pod("p1", (1, 2), stable=1), SILENT],
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, available_on=1, pods=2),))),
    ("a canary on a new version: the version loads first, the new label is added after",
     specific(1, 2, stable=1, canary=2), specific(1, stable=1), [pod("p1", (1,), stable=1)],
     Decision(specific(1, 2, stable=1), waiting=("canary",))),
    ("the new label's version is available everywhere",
     specific(1, 2, stable=1, canary=2), specific(1, 2, stable=1), [pod("p1", (1, 2), stable=1)],
     Decision(specific(1, 2, canary=2, stable=1))),
    ("removing a label is always safe",
     specific(1, stable=1), specific(1, 2, stable=1, canary=2), [pod("p1", (1, 2), stable=1, canary=2)],
     Decision(specific(1, stable=1))),
    ("latest policy: a label moves once its version is served",
     latest(2, stable=3), latest(2, stable=2), [pod("p1", (2, 3), stable=2)], Decision(latest(2, stable=3))),
    ("latest policy: a label to a version not served yet is held",
     latest(2, stable=4), latest(2, stable=2), [pod("p1", (2, 3), stable=2)],
     Decision(latest(2, stable=2), holds=(Hold("stable", 2, 4, available_on=0, pods=1),))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "desired", "current", "pods", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_next_plan(
    case: str, desired: Plan, current: Plan | None, pods: list[PodServing], expected: Decision
) -> None:
    assert next_plan(desired, current, pods) == expected


def test_a_label_never_points_at_a_version_not_available_on_every_pod() -> None:
    """Walk a canary rollout step by step; after every step check the safety rule."""
    desired = specific(2, stable=2)
    current = specific(1, stable=1)
    loaded = {"p1": {1}, "p2": {1}}
    for step in range(6):
        pods = [
            pod(name, tuple(sorted(v)), stable=current.label("stable") or 0)
            for name, v in loaded.items()
        ]
        decision = next_plan(desired, current, pods)
        for label, version in decision.plan.labels:
            if version != current.label(label):
                assert all(version in v for v in loaded.values()), (step, label, version)
        current = decision.plan
        # TF Serving loads what the plan lists, one pod per step (p1 first), and unloads the rest.
        name = "p1" if step % 2 == 0 else "p2"
        loaded[name] = set(current.policy.versions)
    assert current == desired


def test_plan_round_trips_through_json() -> None:
    plan = specific(1, 2, stable=1, canary=2)
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json("not json") is None


def test_mismatches_say_what_is_missing() -> None:
    assert list(map(str, mismatches(specific(1, 2, stable=2), pod("p1", (1,), (2,), stable=1)))) == [
        "version 2 is LOADING", "label stable resolves to 1, not 2",
    ]  # fmt: skip
    assert mismatches(specific(1, stable=1), pod("p1", (1,), stable=1)) == []


GATED = Promotion()
BOTH_LOADED = [pod("p1", (1, 2), stable=1), pod("p2", (1, 2), stable=1)]
PASSED = {(1, 2): Check(1, 2, passed=True)}
FAILED = Check(1, 2, passed=False, message="signature serving_default: input image is gone")
GATE_CASES = [
    ("loaded everywhere but not checked: held, and the check is asked for",
     specific(2, stable=2), GATED, {}, BOTH_LOADED,
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 2, 2),), unchecked=((1, 2),))),
    ("checked and passed: the label moves", specific(2, stable=2), GATED, PASSED, BOTH_LOADED,
     Decision(specific(2, stable=2))),
    ("checked and failed: held, and refused with the check",
     specific(2, stable=2), GATED, {(1, 2): FAILED}, BOTH_LOADED,
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 2, 2),), refused=(("stable", FAILED),))),
    ("not loaded everywhere yet: no check is asked for",
     specific(2, stable=2), GATED, {}, [pod("p1", (1, 2), stable=1), pod("p2", (1,), (2,), stable=1)],
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 1, 2),))),
    ("a label outside spec.promotion.labels moves once loaded",
     specific(1, 2, stable=1, canary=2), Promotion(labels=("stable",)), {}, [pod("p1", (1, 2), stable=1)],
     Decision(specific(1, 2, canary=2, stable=1))),
    ("both checks switched off: nothing is gated",
     specific(2, stable=2), Promotion(check_signatures=False, smoke_request=False), {}, BOTH_LOADED,
     Decision(specific(2, stable=2))),
    ("a new label: checked with no source version",
     specific(1, 2, stable=1, canary=2), GATED, {}, [pod("p1", (1, 2), stable=1)],
     Decision(specific(1, 2, stable=1), waiting=("canary",), unchecked=((None, 2),))),
    ("a check of another move does not count",
     specific(2, stable=2), GATED, {(None, 2): Check(None, 2, passed=True)}, BOTH_LOADED,
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 2, 2),), unchecked=((1, 2),))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "desired", "gate", "checks", "pods", "expected"),
    GATE_CASES,
    ids=[c[0] for c in GATE_CASES],
)
def test_promotion_gate(
    case: str,
    desired: Plan,
    gate: Promotion,
    checks: dict[Move, Check],
    pods: list[PodServing],
    expected: Decision,
) -> None:
    current = specific(1, 2, stable=1)
    assert next_plan(desired, current, pods, gate, checks) == expected


STABLE_ONLY = Promotion(labels=("stable",))
LOST_CASES = [
    ("record lost after a refused move: the pods say stable is on 1, and it stays there",
     specific(2, stable=2), None, BOTH_LOADED, GATED, {(1, 2): FAILED}, {},
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 2, 2),), refused=(("stable", FAILED),))),
    ("record lost: the move from where the pods resolve stable is checked first",
     specific(2, stable=2), None, BOTH_LOADED, GATED, {}, {},
     Decision(specific(1, 2, stable=1), holds=(Hold("stable", 1, 2, 2, 2),), unchecked=((1, 2),))),
    ("record lost, no pod resolves the gated label: it stays where the status saw it served",
     specific(1, 2, stable=2, canary=2), None, [pod("p1", (1,), (2,))], STABLE_ONLY, {}, {"stable": 1},
     Decision(specific(1, 2, canary=2, stable=1), holds=(Hold("stable", 1, 2, 0, 1),))),
    ("record lost, pods disagree on the gated label: it is new",
     specific(2, stable=2), None, [pod("p1", (1, 2), stable=1), pod("p2", (1, 2), stable=2)], GATED, {}, {},
     Decision(specific(2), waiting=("stable",), unchecked=((None, 2),))),
    ("record lost, nobody answers: the gated label stays where the status saw it",
     specific(1, 2, stable=2, canary=2), None, [SILENT], STABLE_ONLY, {}, {"stable": 1},
     Decision(specific(1, 2, canary=2, stable=1), holds=(Hold("stable", 1, 2, 0, 1),))),
    ("a new TFModel (no status, no label on a pod): its first config is written as desired",
     specific(1, 2, stable=1, canary=2), None, [], STABLE_ONLY, {}, None,
     Decision(specific(1, 2, canary=2, stable=1))),
    ("record lost while no pod is ready and the status saw no label: the gated label waits",
     specific(1, 2, stable=2, canary=2), None, [], STABLE_ONLY, {}, {},
     Decision(specific(1, 2, canary=2), waiting=("stable",))),
    ("no ready pod: the gated label stays where the record puts it, the ungated one moves",
     specific(2, stable=2, canary=2), specific(1, stable=1, canary=1), [], STABLE_ONLY, {}, {},
     Decision(specific(1, 2, canary=2, stable=1), holds=(Hold("stable", 1, 2, 0, 0),))),
    ("no ready pod: a gated label the record does not have waits",
     specific(1, 2, stable=1, canary=2), specific(1, stable=1), [], GATED, {}, {},
     Decision(specific(1, 2, stable=1), waiting=("canary",))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "desired", "current", "pods", "gate", "checks", "served", "expected"),
    LOST_CASES,
    ids=[c[0] for c in LOST_CASES],
)
def test_a_gated_label_never_moves_for_want_of_a_record_or_a_ready_pod(
    case: str,
    desired: Plan,
    current: Plan | None,
    pods: list[PodServing],
    gate: Promotion,
    checks: dict[Move, Check],
    served: dict[str, int] | None,
    expected: Decision,
) -> None:
    assert next_plan(desired, current, pods, gate, checks, served) == expected
