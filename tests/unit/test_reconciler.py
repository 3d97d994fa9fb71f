"""The reconcile, one pass at a time: decide runs once and the spec is parsed at most once per
pass on every path (first writes, a label move with its promotion check, status), and each pass
leaves the next one what it needs (its writes, its checks, why a write failed).

The reconciler's two ports are played in memory: `Apiserver` stores what is applied as the
apiserver does (a UID, a growing resourceVersion, the apply's time in managedFields), and
`TFServing` answers for the versions and labels of the models.config each pod last read. The
cache is the real Store, fed with what the Apiserver holds as the informers feed it. The real
decide and parse run; the test counts their calls.
"""

import copy
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from support.tfmodels import tfmodel
from tfmodel_operator import vocabulary
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.api import Promotion
from tfmodel_operator.controller.cache import Store
from tfmodel_operator.controller.decision import decide, reasons
from tfmodel_operator.controller.decision.conditions import Event, find_condition
from tfmodel_operator.controller.decision.observed import recorded_plan
from tfmodel_operator.controller.decision.ownership import controlled_by, taken
from tfmodel_operator.controller.decision.promotion import Check, Move
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus
from tfmodel_operator.controller.kinds import WATCHED, Manifest
from tfmodel_operator.controller.kube import Taken
from tfmodel_operator.controller.reconciler import Reconciler, Result
from tfmodel_operator.controller.settings import Settings

NS, NAME = "ml", "vgg16"
KEY = (NS, NAME)
UID = "tfmodel-uid"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Apiserver:
    """What the reconciler writes, kept as the apiserver keeps it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Manifest] = {}
        self.version = 100
        self.writes: list[str] = []
        self.events: list[str] = []
        self.rewrite: dict[str, Callable[[Manifest], None]] = {}  # kind -> what it changes

    def store(self, obj: Manifest) -> Manifest:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return copy.deepcopy(obj)

    def apply(self, manifest: Manifest, uid: str | None, owner: str) -> Manifest:
        live = self.objects.get((manifest["kind"], manifest["metadata"]["name"]))
        if live is not None and not controlled_by(live, owner):
            raise Taken(taken(manifest, live))
        stored = copy.deepcopy(manifest)
        stored["metadata"]["uid"] = live["metadata"]["uid"] if live else f"uid-{self.version}"
        stored["metadata"]["managedFields"] = [
            {"manager": vocabulary.FIELD_MANAGER, "time": "2026-12-04T12:00:00Z"}
        ]
        generation = live["metadata"].get("generation", 1) if live else 1
        if live is not None and live.get("spec") != stored.get("spec"):
            generation += 1
        stored["metadata"]["generation"] = generation
        if live is not None and "status" in live:
            stored["status"] = live["status"]
        self.rewrite.get(manifest["kind"], lambda _: None)(stored)
        self.writes.append(f"apply {manifest['kind']}")
        return self.store(stored)

    def delete(self, child: Manifest) -> None:
        self.writes.append(f"delete {child['kind']}")
        self.objects.pop((child["kind"], child["metadata"]["name"]), None)

    def read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return copy.deepcopy(self.objects.get((kind, name)))

    def tfmodel_uid(self, namespace: str, name: str) -> str | None:
        found = self.objects.get(("TFModel", name))
        return found["metadata"]["uid"] if found else None

    def replace_status(self, namespace: str, name: str, uid: str, status: Manifest) -> Manifest:
        tfm = self.objects[("TFModel", name)]
        assert tfm["metadata"]["uid"] == uid
        self.writes.append("status")
        return self.store({**tfm, "status": status})

    def post_event(self, tfmodel: Manifest, event: Event) -> None:
        self.events.append(event.reason)

    def edit_spec(self, **spec: Any) -> None:
        tfm = self.objects[("TFModel", NAME)]
        tfm["metadata"]["generation"] += 1
        self.store({**tfm, "spec": {**tfm["spec"], **spec}})

    def start_pods(self, count: int) -> None:
        """A ReplicaSet of the Deployment with `count` ready serving pods (loopback IPs)."""
        deployment = self.objects[("Deployment", NAME)]
        deployment["status"] = {
            "observedGeneration": deployment["metadata"]["generation"], "replicas": count,
            "readyReplicas": count, "updatedReplicas": count, "availableReplicas": count,
            "conditions": [{"type": "Available", "status": "True"},
                           {"type": "Progressing", "status": "True",
                            "reason": "NewReplicaSetAvailable"}],
        }  # fmt: skip
        self.store(deployment)
        self.store(owned("ReplicaSet", f"{NAME}-rs", "Deployment", deployment, "apps/v1"))
        for i in range(count):
            replica_set = self.objects[("ReplicaSet", f"{NAME}-rs")]
            pod = owned("Pod", f"{NAME}-rs-{i}", "ReplicaSet", replica_set, "apps/v1")
            pod["metadata"]["labels"] = {vocabulary.LABEL_COMPONENT: "server"}
            pod["status"] = {"podIP": f"127.0.1.{i + 1}", "phase": "Running",
                             "conditions": [{"type": "Ready", "status": "True"}]}  # fmt: skip
            self.store(pod)

    def kind(self, kind: str) -> list[Manifest]:
        return [copy.deepcopy(o) for (k, _), o in self.objects.items() if k == kind]


def owned(kind: str, name: str, owner_kind: str, owner: Manifest, api: str) -> Manifest:
    ref = {"apiVersion": api, "kind": owner_kind, "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True}  # fmt: skip
    meta = {"name": name, "namespace": NS, "uid": f"{name}-uid", "ownerReferences": [ref]}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


class TFServing:
    """Each pod serves what the models.config it last read says (`reads`)."""

    def __init__(self) -> None:
        self.served: dict[str, tuple[tuple[int, ...], tuple[tuple[str, int], ...]]] = {}
        self.asked = 0
        self.checked: list[Move] = []

    def reads(self, apiserver: Apiserver) -> None:
        plan = recorded_plan(apiserver.objects[("ConfigMap", f"{NAME}-models-config")])
        assert plan is not None
        for pod in apiserver.kind("Pod"):
            self.served[pod["metadata"]["name"]] = (plan.policy.versions, plan.labels)

    def observe(
        self, pods: list[Manifest], model: str, labels: Iterable[str], sync: bool = False
    ) -> list[PodServing]:
        self.asked += 1
        answers = []
        for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
            versions, resolved = self.served.get(pod["metadata"]["name"], ((), ()))
            states = tuple(VersionStatus(v, "AVAILABLE") for v in versions)
            answers.append(PodServing(pod["metadata"]["name"], states, resolved))
        return answers

    def check_promotion(
        self, pods: list[Manifest], model: str, move: Move, gate: Promotion
    ) -> Check:
        self.checked.append(move)
        return Check(move[0], move[1], passed=True)


class World:
    """The reconciler with the Apiserver, TF Serving and the cache between them."""

    def __init__(self, calls: Counter[str], **spec: Any) -> None:
        self.clock, self.calls = Clock(), calls
        self.apiserver, self.serving = Apiserver(), TFServing()
        body = tfmodel(NAME, **spec)
        body["metadata"] = {"name": NAME, "namespace": NS, "uid": UID, "generation": 1}
        self.apiserver.store(body)
        now = lambda: datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # noqa: E731
        self.reconciler = Reconciler(
            self.apiserver, self.serving, Settings(), clock=self.clock, now=now
        )
        self.passes: list[tuple[Result, int, int, list[str]]] = []

    def reconcile(self) -> Result:
        """One pass over what the informers would have cached by now."""
        store = Store()
        for kind in WATCHED:
            store.replace(kind.name, None, self.apiserver.kind(kind.name))
        before = (self.calls["decide"], self.calls["parse"], len(self.apiserver.writes))
        result = self.reconciler.reconcile(KEY, store.view(KEY))
        self.passes.append((
            result,
            self.calls["decide"] - before[0],
            self.calls["parse"] - before[1],
            self.apiserver.writes[before[2]:],
        ))  # fmt: skip
        return result

    def until_rest(self) -> list[Result]:
        """Reconcile as the work queue would: again at once after AGAIN, else once more."""
        results = [self.reconcile()]
        while results[-1] is Result.AGAIN or results[-1] is not Result.SKIPPED:
            assert len(results) < 20, results
            results.append(self.reconcile())
        return results

    def status(self) -> Manifest:
        return dict(self.apiserver.objects[("TFModel", NAME)].get("status") or {})

    def condition(self, kind: str) -> Manifest:
        return find_condition(self.status(), kind) or {}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the calls of decide and of the spec parser; the real functions run."""
    counted: Counter[str] = Counter()

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(decide, "decide", counting("decide", decide.decide))
    monkeypatch.setattr(spec, "parse", counting("parse", spec.parse))
    return counted


ONE_VERSION = {"versionPolicy": {"specific": {"versions": [1]}}, "versionLabels": {"stable": 1}}


def test_every_pass_decides_once_and_parses_at_most_once_through_a_gated_label_move(
    calls: Counter[str],
) -> None:
    world = World(calls, **ONE_VERSION)
    # First writes, then the status over what was stored; then at rest.
    assert world.until_rest() == [Result.AGAIN, Result.OK, Result.OK, Result.SKIPPED]
    assert world.passes[0][3] == ["apply ConfigMap", "apply Service", "apply Deployment"]
    assert world.passes[1][3] == ["status"]
    world.apiserver.start_pods(2)
    world.serving.reads(world.apiserver)
    world.until_rest()
    assert world.condition(reasons.READY)["status"] == "True"

    # Version 2 with the gated label: loaded beside 1 first, the label held.
    world.apiserver.edit_spec(**{"versionPolicy": {"specific": {"versions": [2]}},
                                 "versionLabels": {"stable": 2}})  # fmt: skip
    world.until_rest()
    plan = recorded_plan(world.apiserver.objects[("ConfigMap", f"{NAME}-models-config")])
    assert plan is not None
    assert (plan.policy.versions, plan.label("stable")) == ((1, 2), 1)
    # TF Serving loads 2 on both pods; at the next poll the move is checked, then made.
    world.serving.reads(world.apiserver)
    world.clock.now += Settings().poll_seconds
    moved = world.until_rest()
    assert world.serving.checked == [(1, 2)]
    assert moved[:3] == [Result.AGAIN, Result.AGAIN, Result.OK]  # checks; the write; status
    plan = recorded_plan(world.apiserver.objects[("ConfigMap", f"{NAME}-models-config")])
    assert plan is not None
    assert (plan.policy.versions, plan.label("stable")) == ((2,), 2)

    for result, decides, parses, _ in world.passes:
        assert decides == (0 if result is Result.SKIPPED else 1)
        assert parses <= decides
    paths = {result for result, _, _, writes in world.passes if writes}
    assert paths == {Result.AGAIN, Result.OK}  # passes with writes, of both kinds


def test_a_tfmodel_at_rest_is_skipped_without_parsing_until_its_slow_check() -> None:
    counted: Counter[str] = Counter()
    world = World(counted, **ONE_VERSION)
    world.until_rest()
    world.apiserver.start_pods(1)
    world.serving.reads(world.apiserver)
    world.until_rest()
    asked = world.serving.asked
    for _ in range(5):  # resyncs
        assert world.reconcile() is Result.SKIPPED
    assert world.serving.asked == asked
    world.clock.now += Settings().slow_check_seconds * 1.2
    world.reconcile()
    assert world.serving.asked == asked + 1


def test_a_name_taken_by_someone_else_is_reported_by_the_next_pass_and_then_waits(
    calls: Counter[str],
) -> None:
    world = World(calls, **ONE_VERSION)
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"{NAME}-models-config", "namespace": NS, "uid": "theirs",
        "managedFields": [{"manager": "helm"}]}}  # fmt: skip
    world.apiserver.store(foreign)  # not ours: the cache never shows it
    results = world.until_rest()
    assert results == [Result.AGAIN, Result.BLOCKED, Result.AGAIN, Result.BLOCKED, Result.SKIPPED]
    conflict = world.condition(reasons.READY)
    assert conflict["reason"] == reasons.CHILD_CONFLICT
    assert (
        f"ConfigMap {NAME}-models-config already exists and is not controlled by this TFModel (managed by helm)"
        in (conflict["message"])
    )
    assert (
        world.apiserver.objects[("ConfigMap", f"{NAME}-models-config")]["metadata"]["uid"]
        == "theirs"
    )
    assert all(decides == (result is not Result.SKIPPED) for result, decides, _, _ in world.passes)


def test_a_child_the_apiserver_keeps_otherwise_is_not_applied_again_in_a_loop(
    calls: Counter[str], caplog: pytest.LogCaptureFixture
) -> None:
    world = World(calls, **ONE_VERSION)

    def other_port(service: Manifest) -> None:
        service["spec"]["ports"][0]["port"] = 9999

    world.apiserver.rewrite["Service"] = other_port
    with caplog.at_level(logging.WARNING):
        results = world.until_rest()
    assert results[:2] == [Result.AGAIN, Result.OK]
    assert world.passes[1][3] == ["status"]  # reported, not applied again
    assert "Service vgg16 differ from what was applied even after being applied" in caplog.text
    assert sum(w == "apply Service" for _, _, _, ws in world.passes for w in ws) == 1


def test_a_pass_that_fails_on_its_way_says_so_in_the_status_and_is_retried(
    calls: Counter[str],
) -> None:
    world = World(calls, **ONE_VERSION)

    def broken(_: Manifest) -> None:
        raise RuntimeError("an answer nobody expected")

    world.apiserver.rewrite["Deployment"] = broken
    assert world.reconcile() is Result.ERROR
    failed = world.condition(reasons.READY)
    assert failed["reason"] == reasons.INTERNAL_ERROR
    assert "RuntimeError: an answer nobody expected" in failed["message"]


def test_a_deleted_tfmodel_is_forgotten() -> None:
    world = World(Counter(), **ONE_VERSION)
    world.until_rest()
    del world.apiserver.objects[("TFModel", NAME)]
    assert world.reconcile() is Result.OK
    assert world.reconciler.decided == {}
    assert world.reconciler.schedule.due() == []
