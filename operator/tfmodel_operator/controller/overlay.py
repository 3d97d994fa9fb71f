"""Pure: the operator's own writes laid over the cache until the watches show them.

A reconcile that has just written a child must not decide again over the copy the watch still
holds (it would see its own write as missing and make it again): what the apiserver returned
for each write is kept here and wins over the cache's copy until the cache holds a copy at
least as new (by resourceVersion), or until FRESH_SECONDS have passed (the watch shows every
write well within that; should it not, the cache is the truth again).

Thread-safety: the worker reconciling a TFModel remembers its writes while other workers lay
theirs over theirs; one lock guards the map.
"""

import threading
import time
from collections.abc import Callable, Iterable

from tfmodel_operator.controller.decision.observed import resource_version
from tfmodel_operator.controller.kinds import Key, Manifest

FRESH_SECONDS = 30.0
ObjectName = tuple[str, str]  # (kind, name) within the TFModel's namespace


class Overlay:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._written: dict[Key, dict[ObjectName, tuple[float, Manifest]]] = {}

    def remember(self, key: Key, stored: Manifest) -> None:
        """`stored` is what a write for TFModel `key` returned (projected as the cache keeps it)."""
        name = (stored["kind"], stored["metadata"]["name"])
        with self._lock:
            self._written.setdefault(key, {})[name] = (self._clock(), stored)

    def over(self, key: Key, watched: Iterable[Manifest]) -> list[Manifest]:
        """The watched objects of TFModel `key`, each replaced by our newer write of it, plus
        what we wrote that the watch has not shown at all."""
        merged = {(o["kind"], o["metadata"]["name"]): o for o in watched}
        now = self._clock()
        with self._lock:
            written = self._written.get(key, {})
            for name, (at, stored) in list(written.items()):
                seen = merged.get(name)
                caught_up = seen is not None and resource_version(seen) >= resource_version(stored)
                if caught_up or now - at > FRESH_SECONDS:
                    del written[name]
                else:
                    merged[name] = stored
            if not written:
                self._written.pop(key, None)
        return list(merged.values())

    def forget(self, key: Key) -> None:
        with self._lock:
            self._written.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(written) for written in self._written.values())
