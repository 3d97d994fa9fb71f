"""Pure: what the cache keeps of a watched object: a slim projection, packed as compact JSON.

The watch streams deliver whole objects; only the fields that the decision and the status read
are kept, with the specs of children (compared with what should be applied) and a ConfigMap's
data as digests, so memory stays flat as TFModels grow. The reconciler projects its own writes
the same way, so the two compare.
"""

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.diff import digests
from tfmodel_operator.controller.kinds import Manifest

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
        if kind == "Deployment" and (others := replicas_written_by(body.get("metadata") or {})):
            slim["replicasWrittenBy"] = others
        kept = ("conditions", "replicas", "readyReplicas", "updatedReplicas",
                "availableReplicas", "observedGeneration", "active", "ready",
                "currentReplicas", "desiredReplicas")  # fmt: skip
        slim["status"] = {k: status[k] for k in kept if k in status}
    return slim


def replicas_written_by(meta: Mapping[str, Any]) -> list[str]:
    """Who else owns a Deployment's `spec.replicas` (an HPA or `kubectl scale` on it), so that
    setting the size back is reported instead of a silent tug of war."""
    return sorted(
        {
            str(entry.get("manager"))
            for entry in meta.get("managedFields") or []
            if entry.get("manager") != vocabulary.FIELD_MANAGER
            and "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
        }
    )


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
