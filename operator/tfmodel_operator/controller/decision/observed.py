"""Pure: what the operator keeps in memory of the objects it watches, and one TFModel's view.

The watch streams deliver whole objects; only slim projections are kept (the fields that the
decision and the status read, and the specs of children, which are compared with what should
be applied), so memory stays flat as TFModels grow. Everything here is plain data.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.ownership import controlled_by
from tfmodel_operator.controller.decision.plan import Move, Plan, PodServing
from tfmodel_operator.controller.decision.promotion import Check

Manifest = dict[str, Any]
Key = tuple[str, str]  # (namespace, TFModel name)

_META = ("name", "namespace", "uid", "resourceVersion", "generation", "labels",
         "ownerReferences", "deletionTimestamp", "creationTimestamp")  # fmt: skip
# Kept from a child's annotations: what the operator wrote there. Others (kubectl's
# last-applied-configuration, kopf's) can be large and are never read.
_ANNOTATIONS = (vocabulary.APPLIED_HASH, vocabulary.PLAN)


def slim_meta(meta: Mapping[str, Any]) -> Manifest:
    slim: Manifest = {key: meta[key] for key in _META if meta.get(key) is not None}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k in _ANNOTATIONS}
    if annotations:
        slim["annotations"] = annotations
    # When the operator last applied the object (the ConfigMap's tells when models.config moved).
    times = [
        e["time"]
        for e in meta.get("managedFields") or []
        if e.get("manager") == vocabulary.FIELD_MANAGER and e.get("time")
    ]
    if times:
        slim["appliedAt"] = max(times)
    return slim


def project(kind: str, body: Mapping[str, Any]) -> Manifest:
    """The slim projection of a watched object of `kind` (TFModel, a child kind, or Pod)."""
    slim: Manifest = {
        "apiVersion": body.get("apiVersion"),
        "kind": kind,
        "metadata": slim_meta(body.get("metadata") or {}),
    }
    status = body.get("status") or {}
    if kind == vocabulary.KIND:
        slim["spec"] = body.get("spec")
        slim["status"] = status
    elif kind == "ConfigMap":  # digests: a ConfigMap is up to 1 MiB, and only compared
        slim["data"] = digests(body.get("data") or {})
    elif kind == "Pod":
        slim["status"] = _pod_status(status)
    else:  # Service, Deployment, Job: the spec is compared with what should be applied
        slim["spec"] = body.get("spec") or {}
        kept = ("conditions", "replicas", "readyReplicas", "updatedReplicas",
                "availableReplicas", "observedGeneration", "active", "ready")  # fmt: skip
        slim["status"] = {k: status[k] for k in kept if k in status}
    return slim


def digests(data: Mapping[str, str]) -> dict[str, str]:
    return {
        key: "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()
        for key, value in data.items()
    }


def comparable(manifest: Manifest) -> Manifest:
    """A desired child as the cache keeps its kind, to compare the two (a ConfigMap's data as
    digests)."""
    if manifest["kind"] != "ConfigMap":
        return manifest
    return {**manifest, "data": digests(manifest.get("data") or {})}


class Packed(NamedTuple):
    """A projection kept as compact JSON: as nested dicts it would take about five times the
    memory, and it is read only when its TFModel is reconciled."""

    kind: str
    json: bytes


def pack(kind: str, body: Mapping[str, Any]) -> Packed:
    return Packed(kind, json.dumps(project(kind, body), separators=(",", ":")).encode())


def unpack(packed: Packed) -> Manifest:
    result: Manifest = json.loads(packed.json)
    return result


def _pod_status(status: Mapping[str, Any]) -> Manifest:
    conditions = [
        {k: cond[k] for k in ("type", "status", "reason", "message") if k in cond}
        for cond in status.get("conditions") or []
        if cond.get("type") in ("Ready", "PodScheduled")
    ]
    terminated = [
        {"state": {"terminated": {"message": message}}}
        for container in status.get("containerStatuses") or []
        if (message := ((container.get("state") or {}).get("terminated") or {}).get("message"))
    ]
    slim: Manifest = {"phase": status.get("phase"), "conditions": conditions}
    if status.get("podIP"):
        slim["podIP"] = status["podIP"]
    if terminated:
        slim["containerStatuses"] = terminated
    return slim


def owner_key(body: Mapping[str, Any]) -> Key | None:
    """The TFModel an object belongs to, by its instance label (children and their pods)."""
    meta = body.get("metadata") or {}
    instance = (meta.get("labels") or {}).get(vocabulary.LABEL_INSTANCE)
    return (str(meta.get("namespace")), str(instance)) if instance else None


def resource_version(obj: Manifest | None) -> int:
    """The object's resourceVersion as a number, to tell the newer of two copies apart.

    resourceVersions are opaque by contract; every apiserver stores them as etcd revisions,
    which only grow. Anything else counts as 0 (so the watched copy wins).
    """
    value = str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))
    return int(value) if value.isdigit() else 0


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile knows about one TFModel, from memory."""

    tfmodel: Manifest | None
    children: tuple[Manifest, ...] = ()  # ConfigMaps, Services, Deployments, Jobs with its label
    pods: tuple[Manifest, ...] = ()  # serving and export pods with its label
    serving: tuple[PodServing, ...] = ()  # what TF Serving said on each ready pod
    checks: dict[Move, Check] = field(default_factory=dict)  # label moves checked so far

    def child(self, kind: str, name: str) -> Manifest | None:
        return next(
            (o for o in self.children if o["kind"] == kind and o["metadata"]["name"] == name), None
        )

    def of_kind(self, kind: str, uid: str) -> list[Manifest]:
        """The children of `kind` that TFModel `uid` controls."""
        return [o for o in self.children if o["kind"] == kind and controlled_by(o, uid)]

    def fingerprint(self) -> tuple[tuple[str, str, str], ...]:
        """Which versions of which objects this view was made of."""
        objects = [o for o in (self.tfmodel, *self.children, *self.pods) if o is not None]
        return tuple(
            sorted(
                (o["kind"], o["metadata"]["name"], str(o["metadata"].get("resourceVersion")))
                for o in objects
            )
        )

    def pods_of(self, component: str) -> list[Manifest]:
        return [
            p
            for p in self.pods
            if p["metadata"].get("labels", {}).get(vocabulary.LABEL_COMPONENT) == component
        ]


def recorded_plan(config_map: Manifest | None) -> Plan | None:
    """The plan last written into models.config, read back from the ConfigMap."""
    annotations = (config_map or {}).get("metadata", {}).get("annotations") or {}
    return Plan.from_json(annotations.get(vocabulary.PLAN, ""))


def applied_at(obj: Manifest | None) -> datetime | None:
    """When the operator last changed `obj` (its server-side apply timestamp)."""
    text = (obj or {}).get("metadata", {}).get("appliedAt")
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def is_ready(pod: Manifest) -> bool:
    status = pod.get("status", {})
    ready = any(
        cond.get("type") == "Ready" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")
