"""Pure: when to ask TF Serving again, per TFModel, and what it said last.

TF Serving's answers hold for one spec generation and one set of ready pods (their names and
IPs): a new spec or a pod that comes or goes is asked at once. Otherwise the answers are reused
until they are due: every `poll_seconds` while a config change is on its way into TF Serving
(the TFModel is unsettled), backing off to the slow check while no pod answers; every
`slow_seconds` (jittered, so that TFModels do not all come due at once) when settled. The
poll loop re-queues the unsettled TFModels whose poll is due.

Thread-safety: the workers record answers and settle TFModels, the event loop's poll loop asks
which are due; one lock guards both maps.
"""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tfmodel_operator.controller.decision.observed import Identity
from tfmodel_operator.controller.decision.serving import PodServing
from tfmodel_operator.controller.kinds import Key


@dataclass(frozen=True)
class Asked:
    """What TF Serving last said for one TFModel, and when to ask again."""

    at: float
    identity: Identity  # the generation and ready pods the answers hold for
    answers: tuple[PodServing, ...]
    interval: float  # while unsettled: poll after this long (backs off while nobody answers)
    slow: float  # when settled: ask again after this long (jittered)


def jitter() -> float:
    return random.uniform(0.8, 1.2)


class PollSchedule:
    def __init__(
        self,
        poll_seconds: float,
        slow_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = jitter,
    ) -> None:
        self.poll_seconds, self.slow_seconds = poll_seconds, slow_seconds
        self._clock, self._jitter = clock, jitter
        self._lock = threading.Lock()
        self._asked: dict[Key, Asked] = {}
        self._unsettled: set[Key] = set()

    def answers(self, key: Key, identity: Identity) -> tuple[PodServing, ...] | None:
        """The last answers while they hold and are not due; None: ask TF Serving now."""
        now = self._clock()
        with self._lock:
            last = self._asked.get(key)
            if last is None or last.identity != identity or now - last.at >= last.slow:
                return None
            if key in self._unsettled and now - last.at >= last.interval:
                return None
            return last.answers

    def record(self, key: Key, identity: Identity, answers: tuple[PodServing, ...]) -> None:
        """TF Serving was just asked; while a ready pod does not answer, the poll backs off."""
        with self._lock:
            last = self._asked.get(key)
            if last is None or all(answer.answered for answer in answers):
                interval = self.poll_seconds
            else:  # a ready pod normally answers (it may be starting): back off to the slow check
                interval = min(last.interval * 2, self.slow_seconds)
            slow = self.slow_seconds * self._jitter()
            self._asked[key] = Asked(self._clock(), identity, answers, interval, slow)

    def asked_at(self, key: Key) -> float | None:
        """When TF Serving last answered for `key` (new answers make a reconcile's view new)."""
        with self._lock:
            last = self._asked.get(key)
        return last.at if last else None

    def settle(self, key: Key, settled: bool) -> None:
        """Unsettled TFModels are polled; settled ones wait for the slow check or a change."""
        with self._lock:
            if settled:
                self._unsettled.discard(key)
            else:
                self._unsettled.add(key)

    def due(self) -> list[Key]:
        """The unsettled TFModels whose poll is due (those never asked included)."""
        now = self._clock()
        with self._lock:
            return [
                key
                for key in self._unsettled
                if (last := self._asked.get(key)) is None or now - last.at >= last.interval
            ]

    def drop_answers(self, key: Key) -> None:
        """There is nobody to ask (no ready pod, or a spec with nothing to ask about)."""
        with self._lock:
            self._asked.pop(key, None)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._asked.pop(key, None)
            self._unsettled.discard(key)
