"""A keyed work queue: many events for one TFModel become one reconcile.

A key is queued at most once; a key being reconciled is not handed to a second worker, and if
it is added meanwhile it is queued again when the first reconcile is done (so no change is
missed and no TFModel is reconciled twice at once). Failures are retried with exponential
backoff. Only the event loop touches it.
"""

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._again: set[K] = set()
        self._soon: set[K] = set()
        self._failures: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    def add_soon(self, key: K, delay: float) -> None:
        """Queue `key` after `delay`, once however often it is asked for meanwhile: a burst of
        events (a Deployment's status steps, its pods) becomes one reconcile."""
        if key in self._queued or key in self._soon:
            return
        self._soon.add(key)

        def due() -> None:
            self._soon.discard(key)
            self.add(key)

        asyncio.get_running_loop().call_later(delay, due)

    async def get(self) -> K:
        key = await self._ready.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def retry(self, key: K) -> float:
        """Queue `key` again after a backoff that doubles with each failure in a row."""
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(BACKOFF_FIRST * 2.0 ** (failures - 1), BACKOFF_MAX)
        self.add_after(key, delay)
        return delay

    def succeeded(self, key: K) -> None:
        self._failures.pop(key, None)
