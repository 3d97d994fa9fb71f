"""I/O around the pure decision: for one TFModel, observe -> decide -> write -> report.

The observation comes from memory (the watch caches, gathered by the kopf wiring) plus, when
it is due, TF Serving's answers; the writes are only what `decide` found different. Each
reconcile of one TFModel runs in a worker thread and never raises: whatever goes wrong ends in
that TFModel's status (and a retry with backoff), never in anyone else's.
"""

import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tfmodel_operator.controller import metrics, spec, tfserving
from tfmodel_operator.controller.cache import Watched
from tfmodel_operator.controller.decision import conditions, decide, ownership, reasons
from tfmodel_operator.controller.decision.observed import (
    Key,
    Manifest,
    Observed,
    is_ready,
    project,
    resource_version,
    unpack,
)
from tfmodel_operator.controller.decision.plan import Move, PodServing
from tfmodel_operator.controller.decision.promotion import Check
from tfmodel_operator.controller.kube import TRANSIENT, Kube, Refused, Taken
from tfmodel_operator.controller.settings import Settings

log = logging.getLogger(__name__)

# Our own writes stay visible this long even if the watch has not shown them yet.
FRESH_SECONDS = 30.0


@dataclass(frozen=True)
class Asked:
    """What TF Serving last said for one TFModel, and when to ask again."""

    at: float
    pods: frozenset[tuple[str, str]]  # (pod, IP) that were asked
    generation: int
    answers: tuple[PodServing, ...]
    interval: float  # while unsettled: poll after this long (backs off while nobody answers)
    slow: float  # when settled: ask again after this long (jittered)


@dataclass(frozen=True)
class Checked:
    """Promotion checks of one TFModel, good while its spec and its ready pods stay the same
    (a new pod may answer differently; a new spec may say to check differently)."""

    generation: int
    pods: frozenset[tuple[str, str]]
    checks: dict[Move, Check]


@dataclass
class Reconciler:
    kube: Kube
    settings: Settings = field(default_factory=Settings)
    asked: dict[Key, Asked] = field(default_factory=dict)
    unsettled: set[Key] = field(default_factory=set)
    # Objects as our own writes returned them, until the watch shows them (or a newer copy).
    fresh: dict[Key, dict[tuple[str, str], tuple[float, Manifest]]] = field(default_factory=dict)
    decided: dict[Key, tuple[object, ...]] = field(default_factory=dict)
    checked: dict[Key, Checked] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- observation -------------------------------------------------------------------------

    def newest(self, key: Key, packed: Watched) -> Observed:
        """The watched copies, with our own writes where the watch has not shown them yet."""
        tfmodel = unpack(packed.tfmodel) if packed.tfmodel else None
        children = [unpack(o) for o in packed.children]
        watched = {(o["kind"], o["metadata"]["name"]): o for o in children}
        if tfmodel is not None:
            watched[("TFModel", key[1])] = tfmodel
        merged = dict(watched)
        now = time.monotonic()
        with self.lock:
            fresh = self.fresh.get(key, {})
            for name, (at, written) in list(fresh.items()):
                seen = watched.get(name)
                caught_up = seen is not None and resource_version(seen) >= resource_version(written)
                if caught_up or now - at > FRESH_SECONDS:
                    del fresh[name]
                else:
                    merged[name] = written
            if not fresh:
                self.fresh.pop(key, None)
        current = merged.pop(("TFModel", key[1]), None)
        return Observed(
            tfmodel=current if tfmodel is not None else None,
            children=tuple(merged.values()),
            pods=tuple(unpack(p) for p in packed.pods),
        )

    def remember(self, key: Key, obj: Manifest) -> None:
        with self.lock:
            entry = self.fresh.setdefault(key, {})
            entry[(obj["kind"], obj["metadata"]["name"])] = (time.monotonic(), obj)

    def is_due(self, key: Key, now: float) -> bool:
        """Should TF Serving be asked now (for the poll loop)?"""
        asked = self.asked.get(key)
        return asked is None or now - asked.at >= asked.interval

    def ask_serving(self, key: Key, observed: Observed) -> tuple[PodServing, ...]:
        """TF Serving's answers: asked again only when something may have changed.

        Whether to ask is settled before the spec is parsed for the labels to ask about, so a
        resync of a TFModel at rest costs no parse. A changed spec changes the generation.
        """
        generation, who = serving_identity(observed)
        if observed.tfmodel is None or not who:
            self.asked.pop(key, None)
            return ()
        now = time.monotonic()
        last = self.asked.get(key)
        due = (
            last is None
            or last.pods != who
            or last.generation != generation
            or (key in self.unsettled and now - last.at >= last.interval)
            or now - last.at >= last.slow
        )
        if last is not None and not due:
            return last.answers
        query = decide.serving_labels(observed)
        if query is None:
            self.asked.pop(key, None)
            return ()
        model, labels = query
        answers = tuple(tfserving.observe(observed.pods_of("server"), model, labels))
        metrics.SERVING_SECONDS.observe(time.monotonic() - now)
        for answer in answers:
            metrics.SERVING_POLLS.labels("answered" if answer.answered else "failed").inc()
        poll = self.settings.poll_seconds
        if any(a.answered for a in answers) or last is None:
            interval = poll
        else:  # nobody answers (a ready pod normally does): back off to the slow check
            interval = min(last.interval * 2, self.settings.slow_check_seconds)
        slow = self.settings.slow_check_seconds * random.uniform(0.8, 1.2)
        self.asked[key] = Asked(now, who, generation, answers, interval, slow)
        return answers

    def checks(self, key: Key, observed: Observed) -> dict[Move, Check]:
        """The promotion checks made for this TFModel's current spec and pods (none otherwise)."""
        made = self.checked.get(key)
        if made is None or (made.generation, made.pods) != serving_identity(observed):
            return {}
        return made.checks

    def check_promotions(
        self, key: Key, observed: Observed, moves: tuple[Move, ...]
    ) -> dict[Move, Check]:
        """Run the promotion checks `moves` wait for; remember them with the ones made before."""
        assert observed.tfmodel is not None
        tfmodel = spec.parse(observed.tfmodel)  # decide parsed it: it parses
        made = dict(self.checks(key, observed))
        for move in moves:
            started = time.monotonic()
            check = tfserving.check_promotion(
                observed.pods_of("server"), tfmodel.model_name, move, tfmodel.promotion
            )
            seconds = time.monotonic() - started
            metrics.PROMOTION_CHECKS.labels("passed" if check.passed else "blocked").inc()
            metrics.PROMOTION_CHECK_SECONDS.observe(seconds)
            log.info(
                "TFModel %s/%s: labels on version %s may %smove to version %s (%.3f s)%s",
                *key,
                move[0],
                "" if check.passed else "not ",
                move[1],
                seconds,
                f": {check.message}" if check.message else "",
            )
            made[move] = check
        generation, pods = serving_identity(observed)
        self.checked[key] = Checked(generation, pods, made)
        return made

    # --- one reconcile ------------------------------------------------------------------------

    def reconcile(self, key: Key, watched: Watched) -> bool:
        """Observe, decide, write. False when it should be retried with backoff."""
        started = time.monotonic()
        result = "error"
        observed = Observed(tfmodel=None)
        try:
            observed = self.newest(key, watched)
            result = self._reconcile(key, observed)
        except Exception as err:
            log.exception("Reconcile of TFModel %s/%s failed", *key)
            self.decided.pop(key, None)
            if not isinstance(err, TRANSIENT):  # not the API's passing trouble: say so
                self.report_failure(key, observed, f"{type(err).__name__}: {err}")
        finally:
            metrics.RECONCILES.labels(result).inc()
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        return result in ("ok", "skipped", "blocked")

    def _reconcile(self, key: Key, observed: Observed) -> str:
        body = observed.tfmodel
        if body is None:
            self.forget(key)
            return "ok"
        serving_now = self.ask_serving(key, observed)
        observed = replace(observed, serving=serving_now, checks=self.checks(key, observed))
        asked = self.asked.get(key)
        fingerprint = (observed.fingerprint(), asked.at if asked else None, len(observed.checks))
        if self.decided.get(key) == fingerprint:
            # Nothing it depends on changed since the last reconcile, TF Serving's answers
            # included (asked again whenever their poll is due).
            return "skipped"
        now = datetime.now(UTC)
        grace, policy = self.settings.reload_grace_seconds, self.settings.policy
        outcome = decide.decide(observed, now, grace, policy)
        if outcome.checks_due:  # a label may move once its checks pass: check, decide again
            checks = self.check_promotions(key, observed, outcome.checks_due)
            observed = replace(observed, checks=checks)
            outcome = decide.decide(observed, now, grace, policy)
        previous = body.get("status") or {}
        generation = int(body["metadata"].get("generation", 0))
        uid = str(body["metadata"]["uid"])
        # The cache holds what TFModels control; a name held by anyone else is found by the
        # create-only apply (Taken).
        lives = [observed.child(m["kind"], m["metadata"]["name"]) for m in outcome.apply]
        replacing = any(ownership.is_predecessors(c, key[1], uid) for c in outcome.prune)
        if (None in lives or replacing) and self.kube.tfmodel_uid(*key) != uid:
            # The cache still shows a TFModel deleted (or replaced) since, as after a watch
            # outage: children made now would belong to nobody, and the children it takes for
            # an earlier TFModel's may be its successor's. Its informer catches up.
            log.info("TFModel %s/%s (uid %s) is gone: nothing created for it", *key, uid)
            return "ok"
        try:
            problems = [
                problem
                for manifest, live in zip(outcome.apply, lives, strict=True)
                if (problem := ownership.conflict(manifest, live, uid))
            ]
            if problems:  # touch nothing: not ours to change, and nothing half-created
                raise Taken("; ".join(problems))
            stored = []
            for i, (manifest, live) in enumerate(zip(outcome.apply, lives, strict=True)):
                kind, name = manifest["kind"], manifest["metadata"]["name"]
                try:
                    written = self.kube.apply(
                        manifest, live["metadata"]["uid"] if live else None, uid
                    )
                except Taken as err:  # name every other name taken too, in one message
                    rest = zip(outcome.apply[i + 1 :], lives[i + 1 :], strict=True)
                    raise Taken("; ".join([str(err), *self.taken(key[0], rest, uid)])) from err
                stored.append(project(kind, written))
                self.remember(key, stored[-1])
                log.info("Applied %s %s/%s", kind, key[0], name)
        except (Taken, Refused) as err:
            # Taken: a name held by someone else; Refused: valid, but refused as written.
            reason = reasons.CHILD_CONFLICT if isinstance(err, Taken) else reasons.APPLY_FAILED
            blocked = conditions.blocked(generation, reason, str(err), previous, now)
            self.publish(key, body, blocked)
            # Until something it depends on changes (the slow check included), nothing to do.
            self.decided[key] = fingerprint
            return "blocked" if isinstance(err, Taken) else "refused"
        for child in outcome.prune:
            self.kube.delete(child)
            log.info("Deleted %s %s/%s", child["kind"], key[0], child["metadata"]["name"])
        report = outcome
        if stored:  # the status describes the children as they are now, not as they were
            report = decide.decide(written_over(observed, stored), now, grace, policy)
        if report.status is not None:
            self.publish(key, body, report.status, report.events)
        current = report.status or previous
        metrics.READY.by_key[key] = ready_reason(current)
        # Stalled: nothing changes until the spec or the world does; the slow check and the
        # watches notice either, so there is no polling meanwhile.
        if (outcome.settled and report.settled) or is_stalled(current, generation):
            self.unsettled.discard(key)
        else:
            self.unsettled.add(key)
        at_rest = not stored and report.status is None
        self.decided[key] = fingerprint if at_rest else ()
        return "ok"

    def taken(
        self, namespace: str, rest: Iterable[tuple[Manifest, Manifest | None]], uid: str
    ) -> list[str]:
        """Which of the children still to create have names held by someone else (asked only
        once one create found its name taken)."""
        found = []
        for manifest, live in rest:
            if live is None:
                live = self.kube.read(manifest["kind"], namespace, manifest["metadata"]["name"])
            if problem := ownership.conflict(manifest, live, uid):
                found.append(problem)
        return found

    def publish(
        self,
        key: Key,
        body: Manifest,
        new: Manifest,
        events: tuple[conditions.Event, ...] | None = None,
    ) -> None:
        """Write the status if it changed; post events for the transitions."""
        previous = body.get("status") or {}
        if new == previous:
            return
        meta = body["metadata"]
        log.debug(
            "Status of TFModel %s/%s: %s changed",
            *key,
            ", ".join(conditions.changes(previous, new)),
        )
        stored = self.kube.replace_status(meta["namespace"], meta["name"], meta["uid"], new)
        self.remember(key, project("TFModel", stored))
        for event in conditions.events(previous, new) if events is None else events:
            self.kube.post_event(body, event)
            log.info("TFModel %s/%s: %s: %s", *key, event.reason, event.message)

    def report_failure(self, key: Key, observed: Observed, message: str) -> None:
        body = observed.tfmodel
        if body is None:
            return
        previous = body.get("status") or {}
        generation = int(body["metadata"].get("generation", 0))
        new = conditions.blocked(
            generation, reasons.INTERNAL_ERROR, message, previous, datetime.now(UTC)
        )
        try:
            self.publish(key, body, new)
        except Exception:
            log.exception("Could not report the failure on TFModel %s/%s", *key)

    def forget(self, key: Key) -> None:
        """The TFModel is gone: drop what was kept for it."""
        self.asked.pop(key, None)
        self.unsettled.discard(key)
        self.decided.pop(key, None)
        self.checked.pop(key, None)
        metrics.READY.by_key.pop(key, None)
        with self.lock:
            self.fresh.pop(key, None)


def serving_identity(observed: Observed) -> tuple[int, frozenset[tuple[str, str]]]:
    """The spec's generation and the ready serving pods (name, IP): what TF Serving's answers
    and the promotion checks hold for."""
    generation = int((observed.tfmodel or {}).get("metadata", {}).get("generation", 0))
    pods = [p for p in observed.pods_of("server") if is_ready(p)]
    return generation, frozenset((p["metadata"]["name"], p["status"]["podIP"]) for p in pods)


def written_over(observed: Observed, stored: list[Manifest]) -> Observed:
    """`observed` with the children just written replaced by what the apiserver stored."""
    names = {(o["kind"], o["metadata"]["name"]) for o in stored}
    kept = [o for o in observed.children if (o["kind"], o["metadata"]["name"]) not in names]
    return replace(observed, children=(*kept, *stored))


def is_stalled(current: Manifest, generation: int) -> bool:
    stalled = conditions.find_condition(current, reasons.STALLED) or {}
    return stalled.get("status") == "True" and stalled.get("observedGeneration") == generation


def ready_reason(current: Manifest) -> tuple[str, str]:
    ready = conditions.find_condition(current, reasons.READY) or {}
    return str(ready.get("status", "Unknown")), str(ready.get("reason", ""))
