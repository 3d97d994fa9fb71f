"""I/O around the pure decision, for one TFModel at a time: gather -> decide once -> act.

One reconcile is one pass (docs/design.md, "Reconcile one TFModel: one pass"): gather the
cache's view with our own writes over it (overlay.py), TF Serving's answers when the poll
schedule says they are due (schedule.py), the checks made, the spec parsed once, and why the
last write over this same view failed; skip if none of that changed since the pass came to
rest; decide once; then run the checks due, or write the children that differ, and look again,
or else write the status decide made. A reconcile never raises: whatever goes wrong ends in
that TFModel's status (and a retry with backoff), never in anyone else's.

Threading contract: the work queue hands a TFModel's key to one worker at a time, so the
per-key memory of a `Reconciler` (`checked`, `failed`, `decided`, `wrote`) is only ever touched
by the worker holding that key (each dict operation is atomic). The overlay and the poll
schedule are shared with the other workers and the event loop, and lock inside.
"""

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Protocol

from tfmodel_operator.controller import metrics, spec
from tfmodel_operator.controller.api import Promotion, TFModel
from tfmodel_operator.controller.cache import Watched
from tfmodel_operator.controller.decision import conditions, decide, diff, ownership, reasons
from tfmodel_operator.controller.decision.observed import Failure, Identity, Observed
from tfmodel_operator.controller.decision.promotion import Check, Move
from tfmodel_operator.controller.decision.serving import PodServing
from tfmodel_operator.controller.kinds import TFMODEL, Key, Manifest
from tfmodel_operator.controller.kube import TRANSIENT, Refused, Taken
from tfmodel_operator.controller.overlay import Overlay
from tfmodel_operator.controller.projection import project, unpack
from tfmodel_operator.controller.schedule import PollSchedule
from tfmodel_operator.controller.settings import Settings

log = logging.getLogger(__name__)


class Cluster(Protocol):
    """The writes a reconcile makes (kube.Kube)."""

    def apply(self, manifest: Manifest, uid: str | None, owner: str) -> Manifest: ...
    def delete(self, child: Manifest) -> None: ...
    def read(self, kind: str, namespace: str, name: str) -> Manifest | None: ...
    def tfmodel_uid(self, namespace: str, name: str) -> str | None: ...
    def replace_status(self, namespace: str, name: str, uid: str, status: Manifest) -> Manifest: ...
    def post_event(self, tfmodel: Manifest, event: conditions.Event) -> None: ...


class Serving(Protocol):
    """What a reconcile asks TF Serving (the tfserving module)."""

    def observe(
        self, pods: list[Manifest], model: str, labels: Iterable[str], sync: bool = False
    ) -> list[PodServing]: ...
    def check_promotion(
        self, pods: list[Manifest], model: str, move: Move, gate: Promotion
    ) -> Check: ...


class Result(Enum):
    OK = "ok"
    SKIPPED = "skipped"  # nothing it depends on changed since it last came to rest
    BLOCKED = "blocked"  # waits for a change: a name held by someone else, a refused child
    AGAIN = "again"  # acted (checks, writes, a failed write): look again at once
    ERROR = "error"  # retried with backoff


Fingerprint = tuple[object, ...]


@dataclass(frozen=True)
class Checked:
    """Promotion checks of one TFModel, good while its spec and its ready pods stay the same
    (a new pod may answer differently; a new spec may say to check differently)."""

    identity: Identity
    checks: dict[Move, Check]


@dataclass
class Reconciler:
    cluster: Cluster
    serving: Serving
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    overlay: Overlay = field(init=False)
    schedule: PollSchedule = field(init=False)
    checked: dict[Key, Checked] = field(default_factory=dict)
    failed: dict[Key, tuple[Fingerprint, Failure]] = field(default_factory=dict)
    decided: dict[Key, Fingerprint] = field(default_factory=dict)  # came to rest over this
    # (kind, name) -> (resourceVersion, applied hash) of what our last applies returned
    wrote: dict[Key, dict[tuple[str, str], tuple[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overlay = Overlay(self.clock)
        self.schedule = PollSchedule(
            self.settings.poll_seconds, self.settings.slow_check_seconds, self.clock
        )

    def reconcile(self, key: Key, watched: Watched) -> Result:
        started = self.clock()
        result = Result.ERROR
        observed = Observed(tfmodel=None)
        try:
            observed = self.view(key, watched)
            result = self._reconcile(key, observed)
        except Exception as err:
            log.exception("Reconcile of TFModel %s/%s failed", *key)
            self.decided.pop(key, None)
            if not isinstance(err, TRANSIENT):  # not the API's passing trouble: say so
                self.report(
                    key, observed, Failure(reasons.INTERNAL_ERROR, f"{type(err).__name__}: {err}")
                )
        finally:
            metrics.RECONCILES.labels(result.value).inc()
            metrics.RECONCILE_SECONDS.observe(self.clock() - started)
        return result

    # --- gather ------------------------------------------------------------------------------

    def view(self, key: Key, watched: Watched) -> Observed:
        """The cache's view of `key`, with our own writes the watch has not shown yet."""
        if watched.tfmodel is None:  # gone: a status we wrote does not bring it back
            return Observed(tfmodel=None)
        objects = [unpack(watched.tfmodel), *(unpack(o) for o in watched.children)]
        newest = self.overlay.over(key, objects)
        tfmodel = next(o for o in newest if o["kind"] == TFMODEL.name)
        children = tuple(o for o in newest if o["kind"] != TFMODEL.name)
        return Observed(tfmodel, children, tuple(unpack(p) for p in watched.pods))

    def _reconcile(self, key: Key, observed: Observed) -> Result:
        body = observed.tfmodel
        if body is None:
            self.forget(key)
            return Result.OK
        # Parsed once, and only when needed: a TFModel at rest is skipped unparsed.
        parse = functools.cache(functools.partial(spec.parsed, body))
        identity = observed.identity()
        made = self.checked.get(key)
        observed = replace(
            observed,
            serving=self.ask(key, observed, parse, identity),
            checks=made.checks if made and made.identity == identity else {},
        )
        fingerprint = (
            observed.fingerprint(), self.schedule.asked_at(key), len(observed.checks)
        )  # fmt: skip
        if self.decided.get(key) == fingerprint:
            return Result.SKIPPED  # nothing it depends on changed, TF Serving's answers included
        failure = self.failed.pop(key, None)
        if failure is not None and failure[0] == fingerprint:
            observed = replace(observed, failure=failure[1])

        parsed = parse()
        outcome = decide.decide(
            observed, parsed, self.now(), self.settings.reload_grace_seconds, self.settings.policy
        )

        if outcome.checks_due:  # a label may move once its checks pass
            assert isinstance(parsed, TFModel)  # decide only asks for checks of a parsed spec
            self.check_promotions(key, observed, parsed, identity, outcome.checks_due)
            return Result.AGAIN
        outcome = self.without_own_results(key, observed, outcome)
        if outcome.apply:
            return self.write(key, observed, outcome, fingerprint)
        self.prune(key, outcome.prune)
        self.publish(key, body, outcome.status, outcome.events)
        current = outcome.status or body.get("status") or {}
        metrics.READY.by_key[key] = conditions.ready_reason(current)
        # Stalled: nothing changes until the spec or the world does; the slow check and the
        # watches notice either, so there is no polling meanwhile.
        generation = int(body["metadata"].get("generation", 0))
        self.schedule.settle(key, outcome.settled or conditions.is_stalled(current, generation))
        if outcome.status is None:
            self.decided[key] = fingerprint
        else:
            self.decided.pop(key, None)
        return Result.BLOCKED if observed.failure else Result.OK

    def ask(
        self, key: Key, observed: Observed, parse: Callable[[], spec.Parsed], identity: Identity
    ) -> tuple[PodServing, ...]:
        """TF Serving's answers: the last ones while they hold and are not due, else asked now
        (only then is the spec parsed here, for what to ask)."""
        last = self.schedule.answers(key, identity) if identity[1] else None
        if last is not None:
            return last
        parsed = parse() if identity[1] else None
        if not isinstance(parsed, TFModel):
            self.schedule.drop_answers(key)  # no ready pod, or nothing to ask about
            return ()
        pods, labels = observed.pods_of("server"), observed.labels_to_ask(parsed)
        sync = parsed.storage.bucket is not None
        answers = tuple(self.serving.observe(pods, parsed.model_name, labels, sync))
        self.schedule.record(key, identity, answers)
        return answers

    # --- act ---------------------------------------------------------------------------------

    def check_promotions(
        self, key: Key, observed: Observed, tfmodel: TFModel, identity: Identity,
        moves: tuple[Move, ...],
    ) -> None:  # fmt: skip
        """Run the promotion checks `moves` wait for; remember them with the ones made before."""
        made = dict(observed.checks)
        for move in moves:
            check = made[move] = self.serving.check_promotion(
                observed.pods_of("server"), tfmodel.model_name, move, tfmodel.promotion
            )
            log.info(
                "TFModel %s/%s: labels on version %s may %smove to version %s%s", *key, move[0],
                "" if check.passed else "not ", move[1], f": {check.message}" * bool(check.message),
            )  # fmt: skip
        self.checked[key] = Checked(identity, made)

    def write(
        self, key: Key, observed: Observed, outcome: decide.Outcome, fingerprint: Fingerprint
    ) -> Result:
        """Apply the children that differ and prune; the next pass reports what they became."""
        assert observed.tfmodel is not None
        uid = str(observed.tfmodel["metadata"]["uid"])
        lives = [observed.child(m["kind"], m["metadata"]["name"]) for m in outcome.apply]
        replacing = any(ownership.is_predecessors(c, key[1], uid) for c in outcome.prune)
        if (None in lives or replacing) and self.cluster.tfmodel_uid(*key) != uid:
            # The cache still shows a TFModel deleted (or replaced) since, as after a watch
            # outage: children made now would belong to nobody, and the children it takes for
            # an earlier TFModel's may be its successor's. Its informer catches up.
            log.info("TFModel %s/%s (uid %s) is gone: nothing created for it", *key, uid)
            return Result.OK
        stored = []
        try:
            for i, (manifest, live) in enumerate(zip(outcome.apply, lives, strict=True)):
                kind, name = manifest["kind"], manifest["metadata"]["name"]
                try:
                    written = self.cluster.apply(
                        manifest, live["metadata"]["uid"] if live else None, uid
                    )
                except Taken as err:  # name every other name taken too, in one message
                    rest = zip(outcome.apply[i + 1 :], lives[i + 1 :], strict=True)
                    raise Taken("; ".join([str(err), *self.taken(key[0], rest, uid)])) from err
                stored.append(project(kind, written))
                self.overlay.remember(key, stored[-1])
                log.info("Applied %s %s/%s", kind, key[0], name)
        except (Taken, Refused) as err:
            # Taken: a name held by someone else; Refused: valid, but refused as written. The
            # next pass decides with this failure (and says why) while the view stays the same.
            reason = reasons.CHILD_CONFLICT if isinstance(err, Taken) else reasons.APPLY_FAILED
            self.failed[key] = (fingerprint, Failure(reason, str(err)))
            self.decided.pop(key, None)
            return Result.AGAIN
        for event in outcome.write_events:
            self.cluster.post_event(observed.tfmodel, event)
            log.info("TFModel %s/%s: %s: %s", *key, event.reason, event.message)
        self.prune(key, outcome.prune)
        self.schedule.settle(key, outcome.settled)
        self.decided.pop(key, None)
        self.wrote[key] = {(o["kind"], o["metadata"]["name"]): diff.applied(o) for o in stored}
        return Result.AGAIN

    def without_own_results(
        self, key: Key, observed: Observed, outcome: decide.Outcome
    ) -> decide.Outcome:
        """`outcome` without the children that are exactly what our last apply of the same
        manifest returned: applying it again cannot change them (the apiserver keeps a field
        differently from how it is written), so they are reported, not written in a loop."""
        wrote = self.wrote.get(key, {})
        same = [
            m
            for m in outcome.apply
            if (found := wrote.get((m["kind"], m["metadata"]["name"])))
            and found == diff.applied(observed.child(m["kind"], m["metadata"]["name"]))
            and found[1] == diff.applied(m)[1]
        ]
        if not same:
            return outcome
        log.warning(
            "TFModel %s/%s: %s differ from what was applied even after being applied",
            *key, ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in same),
        )  # fmt: skip
        return replace(outcome, apply=tuple(m for m in outcome.apply if m not in same))

    def prune(self, key: Key, children: tuple[Manifest, ...]) -> None:
        for child in children:
            self.cluster.delete(child)
            log.info("Deleted %s %s/%s", child["kind"], key[0], child["metadata"]["name"])

    def taken(
        self, namespace: str, rest: Iterable[tuple[Manifest, Manifest | None]], uid: str
    ) -> list[str]:
        """Which of the children still to create have names held by someone else (asked only
        once one create found its name taken)."""
        found = []
        for manifest, live in rest:
            if live is None:
                live = self.cluster.read(manifest["kind"], namespace, manifest["metadata"]["name"])
            if problem := ownership.conflict(manifest, live, uid):
                found.append(problem)
        return found

    def publish(
        self,
        key: Key,
        body: Manifest,
        new: Manifest | None,
        events: tuple[conditions.Event, ...],
    ) -> None:
        """Write the status decide made, if it changed; post events for the transitions."""
        previous = body.get("status") or {}
        if new is None or new == previous:
            return
        meta = body["metadata"]
        log.debug(
            "Status of TFModel %s/%s: %s changed",
            *key,
            ", ".join(conditions.changes(previous, new)),
        )
        stored = self.cluster.replace_status(meta["namespace"], meta["name"], meta["uid"], new)
        self.overlay.remember(key, project(TFMODEL.name, stored))
        for event in events:
            self.cluster.post_event(body, event)
            log.info("TFModel %s/%s: %s: %s", *key, event.reason, event.message)

    def report(self, key: Key, observed: Observed, failure: Failure) -> None:
        """A pass failed on its way (a bug, an answer nobody expected): decide says so in the
        status, over the view the pass had; with a failure, decide looks at nothing else."""
        body = observed.tfmodel
        if body is None:
            return
        try:
            failed = decide.decide(
                replace(observed, failure=failure), spec.parsed(body), self.now()
            )
            self.publish(key, body, failed.status, failed.events)
        except Exception:
            log.exception("Could not report the failure on TFModel %s/%s", *key)

    def forget(self, key: Key) -> None:
        """The TFModel is gone: drop what was kept for it."""
        for memory in (self.checked, self.failed, self.decided, self.wrote):
            memory.pop(key, None)
        self.schedule.forget(key)
        self.overlay.forget(key)
        metrics.READY.by_key.pop(key, None)
