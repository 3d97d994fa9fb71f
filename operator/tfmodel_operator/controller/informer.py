"""I/O: informers that keep the cache (cache.py) true, one per watched kind and namespace.

Each lists its kind in pages, then watches from the list's resourceVersion. A watch that ends
(its server timeout, a read that waits too long, a broken connection) resumes from the last
resourceVersion it saw; one that cannot resume (410 Gone: etcd was compacted past it, as after
a long outage) lists again, and that list replaces what the cache held of the kind, so objects
deleted meanwhile leave it. Every request has a deadline: a silent connection costs at most the
read timeout, never a stuck cache. Changes are reported to `changed` with the TFModels they touch.
"""

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.cache import Store
from tfmodel_operator.controller.kinds import TFMODEL, WATCHED, Key, Kind

log = logging.getLogger(__name__)

PAGE = 50  # objects per list page: a page of 1 MiB ConfigMaps is the most held at once
LIST_TIMEOUT = (5.0, 30.0)  # (connect, each read) seconds
WATCH_SECONDS = 290  # the apiserver ends each watch after this long; it then resumes
# A watch with bookmarks hears from the apiserver about once a minute even when nothing changes;
# silence for longer than this means the connection is dead.
WATCH_READ_TIMEOUT = (5.0, 90.0)
BACKOFF_MAX = 30.0


SELECTOR = f"{vocabulary.LABEL_MANAGED_BY}={vocabulary.FIELD_MANAGER}"


class Gone(Exception):
    """The watch cannot resume from its resourceVersion: list again."""


class Informer:
    def __init__(
        self,
        api: client.ApiClient,
        kind: Kind,
        namespace: str | None,
        store: Store,
        changed: Callable[[str, set[Key]], None],
    ) -> None:
        self.api, self.kind, self.namespace = api, kind, namespace
        self.store, self.changed = store, changed
        self.synced = threading.Event()  # set once the first list is in the cache
        self.lists = 0  # how many lists were made (the first, then one per lost watch)
        self.path = kind.path(namespace)
        self.name = f"{kind.plural} in {namespace or 'all namespaces'}"

    def run(self, stop: threading.Event) -> None:
        """List and watch until `stop` is set (the body of one thread)."""
        version: str | None = None
        failures = 0
        while not stop.is_set():
            try:
                if version is None:
                    version = self.relist()
                    self.synced.set()
                version = self.watch(version)
                failures = 0
            except Gone:
                log.info("Watch of %s expired: listing again", self.name)
                version = None
            except Exception as err:  # the apiserver away, a timeout: try again, slower each time
                failures += 1
                delay = min(2.0 ** (failures - 1), BACKOFF_MAX)
                log.warning("Watching %s failed (%s); again in %.0f s", self.name, err, delay)
                stop.wait(delay)

    def relist(self) -> str:
        """List every object (in pages); the list replaces the cache's. Returns its version."""
        found: dict[str, str] = {}
        changed = self.store.replace(self.kind.name, self.namespace, self._pages(found))
        self.lists += 1
        self.changed(self.kind.name, changed)
        return found["version"]

    def _pages(self, found: dict[str, str]) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            query = [("limit", str(PAGE))] + ([("continue", token)] if token else [])
            page = json.loads(self._get(query, LIST_TIMEOUT).data or b"{}")
            for item in page.get("items") or []:
                # A list's items carry no apiVersion and kind (watch events and writes do):
                # without them every listed child would differ from what is applied.
                yield {**item, "apiVersion": self.kind.api_version, "kind": self.kind.name}
            meta = page.get("metadata") or {}
            found["version"] = str(meta.get("resourceVersion", ""))
            token = str(meta.get("continue") or "")
            if not token:
                return

    def watch(self, version: str) -> str:
        """Apply watch events from `version` until the stream ends; returns the last version."""
        query = [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(WATCH_SECONDS))]  # fmt: skip
        response = self._get(query, WATCH_READ_TIMEOUT).response
        try:
            for line in lines(response):
                event = json.loads(line)
                kind, body = event.get("type"), event.get("object") or {}
                if kind == "ERROR":  # 410 Gone, or anything else the stream cannot go on from
                    raise Gone(str(body.get("message", body))[:200])
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "DELETED":
                    changed = self.store.delete(self.kind.name, body)
                elif kind in ("ADDED", "MODIFIED"):
                    changed = self.store.upsert(self.kind.name, body)
                else:  # BOOKMARK: only the version moves on
                    continue
                if changed:
                    self.changed(self.kind.name, changed)
        finally:
            response.release_conn()
        return version

    def _get(self, query: list[tuple[str, str]], timeout: tuple[float, float]) -> Any:
        if self.kind is not TFMODEL:  # the others: only objects with our label
            query = [*query, ("labelSelector", SELECTOR)]
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", self.path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(method, url, header_params=headers, _request_timeout=timeout)
        if response.status == 410:
            raise Gone("the list's continue token expired")
        if response.status != 200:
            response.read()  # type: ignore[no-untyped-call]
            raise client.ApiException(http_resp=response)
        if "watch" not in dict(query):
            response.read()  # type: ignore[no-untyped-call]
        return response


def lines(response: Any) -> Iterator[bytes]:
    """The lines of a streamed response, as they arrive (a watch sends one event a line)."""
    pending = b""
    for chunk in response.stream(amt=1 << 16, decode_content=False):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


def start(
    api: client.ApiClient,
    namespaces: tuple[str, ...],
    store: Store,
    changed: Callable[[str, set[Key]], None],
    stop: threading.Event,
) -> list[Informer]:
    """One informer thread per kind and namespace (or per kind, cluster-wide)."""
    informers = [
        Informer(api, kind, namespace, store, changed)
        for kind in WATCHED
        for namespace in (namespaces or (None,))
    ]
    for informer in informers:
        threading.Thread(
            target=informer.run, args=(stop,), name=f"watch-{informer.kind.plural}", daemon=True
        ).start()
    return informers
