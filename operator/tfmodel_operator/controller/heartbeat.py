"""Is the operator's work going on? The liveness probe and the Lease renewal ask this, so that
a wedged operator is restarted, and its Lease passes to a standby, instead of looking healthy.

The event loop beats every second; each reconcile is timed from its start. Every call a
reconcile makes has a deadline far below RECONCILE_STALE, so one running longer is stuck.
Before the work loop starts (a standby waiting for the Lease) there is nothing to judge.
"""

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

LOOP_STALE = 30.0  # seconds without a beat of the event loop
RECONCILE_STALE = 300.0  # seconds one reconcile may run


class Heartbeat:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._beat: float | None = None
        self._running: dict[int, tuple[Hashable, float]] = {}
        self._next = 0

    def beat(self) -> None:
        self._beat = self.clock()

    @contextmanager
    def working(self, key: Hashable) -> Iterator[None]:
        with self._lock:
            token, self._next = self._next, self._next + 1
            self._running[token] = (key, self.clock())
        try:
            yield
        finally:
            with self._lock:
                del self._running[token]

    def trouble(self) -> str:
        """What is wedged, or "" while the work goes on."""
        now = self.clock()
        if self._beat is not None and now - self._beat > LOOP_STALE:
            return f"the event loop has not run for {now - self._beat:.0f} s"
        with self._lock:
            running = [(key, now - at) for key, at in self._running.values()]
        stuck = [(key, seconds) for key, seconds in running if seconds > RECONCILE_STALE]
        if stuck:
            key, seconds = max(stuck, key=lambda found: found[1])
            return f"the reconcile of {key} has run for {seconds:.0f} s"
        return ""


HEARTBEAT = Heartbeat()
