"""Pure: the operator's memory of what it watches, kept as an informer keeps it.

The informers (informer.py) feed it each list and each watch event; it keeps, as slim packed
projections, the TFModels and only the objects a TFModel controls:
- children (ConfigMaps, Services, Deployments, Jobs, budgets, NetworkPolicies) whose controller
  ownerReference is a TFModel, by that TFModel's key;
- ReplicaSets controlled by a Deployment (only the link between their UIDs);
- pods controlled by a ReplicaSet or a Job, by that owner's UID.
Anything else that carries the operator's labels is dropped on arrival, however big: a tenant's
labelled ConfigMaps cost the operator nothing. A (re)list replaces everything of its kind and
namespace, so an object deleted while the watch was down leaves the cache; an object that leaves
the selector or loses its controller leaves it too. One entry per name: a TFModel re-created under
the same name replaces the old one.

Thread-safety: informer threads write, reconcile threads and the event loop read; one lock
guards every map, and readers get copies.
"""

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.ownership import controller
from tfmodel_operator.controller.kinds import CHILDREN, Key
from tfmodel_operator.controller.projection import Packed, pack

ObjectKey = tuple[str, str, str]  # (kind, namespace, name)


class Watched(NamedTuple):
    """One TFModel's objects as the cache holds them."""

    tfmodel: Packed | None
    children: list[Packed]
    pods: list[Packed]


@dataclass(frozen=True)
class Entry:
    """One cached object: its UID, what it belongs to, and (except ReplicaSets) its projection."""

    uid: str
    owner: Key | str  # a TFModel's key, or the UID of the owning Deployment, ReplicaSet or Job
    packed: Packed | None
    controller_uid: str = ""  # a child's: the UID of the TFModel that controls it


def entry(kind: str, body: Mapping[str, Any]) -> Entry | None:
    """The cache entry for `body`, or None if it is not one the operator keeps."""
    meta = body.get("metadata") or {}
    uid, namespace = str(meta.get("uid", "")), str(meta.get("namespace", ""))
    if kind == vocabulary.KIND:
        return Entry(uid, (namespace, str(meta.get("name"))), pack(kind, body))
    ref = controller(dict(body)) or {}
    owner_kind = ref.get("kind")
    if kind in CHILDREN:
        group = str(ref.get("apiVersion", "")).split("/")[0]
        if owner_kind != vocabulary.KIND or group != vocabulary.GROUP or not ref.get("name"):
            return None
        return Entry(uid, (namespace, str(ref["name"])), pack(kind, body), str(ref.get("uid")))
    if kind == "ReplicaSet" and owner_kind == "Deployment" and ref.get("uid"):
        return Entry(uid, str(ref["uid"]), None)
    if kind == "Pod" and owner_kind in ("ReplicaSet", "Job") and ref.get("uid"):
        return Entry(uid, str(ref["uid"]), pack(kind, body))
    return None


class Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[ObjectKey, Entry] = {}
        self._by_owner: dict[Key | str, dict[ObjectKey, Entry]] = {}
        self._uid_key: dict[str, ObjectKey] = {}  # UID -> the object, for owners of pods

    def __len__(self) -> int:
        return len(self._objects)

    # --- writes, from the informers: each returns the TFModels whose view changed ------------

    def upsert(self, kind: str, body: Mapping[str, Any]) -> set[Key]:
        meta = body.get("metadata") or {}
        name = (kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        new = entry(kind, body)
        with self._lock:
            return self._put(name, new)

    def delete(self, kind: str, body: Mapping[str, Any]) -> set[Key]:
        meta = body.get("metadata") or {}
        with self._lock:
            return self._put((kind, str(meta.get("namespace", "")), str(meta.get("name"))), None)

    def replace(
        self, kind: str, namespace: str | None, bodies: Iterable[Mapping[str, Any]]
    ) -> set[Key]:
        """What a (re)list of `kind` (in `namespace`, or everywhere) found: it becomes the whole
        truth for that kind there; whatever the list lacks leaves the cache."""
        listed: dict[ObjectKey, Entry | None] = {}
        for body in bodies:
            meta = body.get("metadata") or {}
            listed[(kind, str(meta.get("namespace", "")), str(meta.get("name", "")))] = entry(
                kind, body
            )
        changed: set[Key] = set()
        with self._lock:
            gone = [
                name
                for name in self._objects
                if name[0] == kind and namespace in (None, name[1]) and name not in listed
            ]
            for name in gone:
                changed |= self._put(name, None)
            for name, new in listed.items():
                changed |= self._put(name, new)
        return changed

    def _put(self, name: ObjectKey, new: Entry | None) -> set[Key]:
        old = self._objects.get(name)
        if old == new:
            return set()
        affected = {k for k in (self._key_of(old), self._key_of(new)) if k is not None}
        owned = name[0] != vocabulary.KIND  # a TFModel is found by its name, not its owner
        if old is not None:
            self._by_owner.get(old.owner, {}).pop(name, None)
            if not self._by_owner.get(old.owner):
                self._by_owner.pop(old.owner, None)
            if self._uid_key.get(old.uid) == name:
                del self._uid_key[old.uid]
            del self._objects[name]
        if new is not None:
            self._objects[name] = new
            if owned:
                self._by_owner.setdefault(new.owner, {})[name] = new
            self._uid_key[new.uid] = name
        return affected

    def _key_of(self, found: Entry | None, depth: int = 0) -> Key | None:
        """The TFModel an entry belongs to, following pod -> ReplicaSet -> Deployment."""
        if found is None or depth > 3:
            return None
        if isinstance(found.owner, tuple):
            return found.owner
        owner = self._objects.get(self._uid_key.get(found.owner, ("", "", "")))
        return self._key_of(owner, depth + 1)

    # --- reads -------------------------------------------------------------------------------

    def tfmodel_keys(self) -> list[Key]:
        """Every TFModel's key."""
        with self._lock:
            return [(name[1], name[2]) for name in self._objects if name[0] == vocabulary.KIND]

    def view(self, key: Key) -> Watched:
        """One TFModel's objects: the TFModel, what it controls (also children of an older
        TFModel of that name, so that decide can tell), and the pods of the Deployments and Jobs
        the current TFModel controls."""
        with self._lock:
            tfmodel = self._objects.get((vocabulary.KIND, *key))
            children = dict(self._by_owner.get(key, {}))
            owners = [
                e.uid
                for (kind, _, _), e in children.items()
                if kind in ("Deployment", "Job") and tfmodel and e.controller_uid == tfmodel.uid
            ]
            replica_sets = [rs.uid for uid in owners for rs in self._by_owner.get(uid, {}).values()]
            pods = [
                p.packed
                for uid in (*owners, *replica_sets)
                for (kind, _, _), p in self._by_owner.get(uid, {}).items()
                if kind == "Pod" and p.packed is not None
            ]
        return Watched(
            tfmodel.packed if tfmodel else None,
            [e.packed for e in children.values() if e.packed is not None],
            pods,
        )
