"""Pure: one TFModel's view, as a reconcile knows it: the TFModel, what it controls and their
pods (from the cache, as slim projections), what TF Serving said, the promotion checks made
and why the last write over this view failed; and what the view's objects say (the plan last
written, when, which pods are ready).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import TFModel
from tfmodel_operator.controller.decision.ownership import controlled_by
from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.promotion import Check, Move
from tfmodel_operator.controller.decision.render.names import config_map_name
from tfmodel_operator.controller.decision.serving import PodServing
from tfmodel_operator.controller.kinds import Manifest


def resource_version(obj: Manifest | None) -> int:
    """The object's resourceVersion as a number, to tell the newer of two copies apart.

    resourceVersions are opaque by contract; every apiserver stores them as etcd revisions,
    which only grow. Anything else counts as 0 (so the watched copy wins).
    """
    value = str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))
    return int(value) if value.isdigit() else 0


# The spec's generation and the ready serving pods (name, IP): what TF Serving's answers and
# the promotion checks hold for.
Identity = tuple[int, frozenset[tuple[str, str]]]


class Failure(NamedTuple):
    """Why the last write for this view failed: a condition reason and its message."""

    reason: str  # ChildConflict, ApplyFailed, InternalError
    message: str


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile knows about one TFModel, gathered before it decides."""

    tfmodel: Manifest | None
    children: tuple[Manifest, ...] = ()  # what it controls (and what an earlier one left)
    pods: tuple[Manifest, ...] = ()  # the pods of its Deployment and of its export Jobs
    serving: tuple[PodServing, ...] = ()  # what TF Serving said on each ready pod
    checks: dict[Move, Check] = field(default_factory=dict)  # label moves checked so far
    failure: Failure | None = None  # the last write over this same view failed

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

    def identity(self) -> Identity:
        generation = int((self.tfmodel or {}).get("metadata", {}).get("generation", 0))
        ready = [p for p in self.pods_of("server") if is_ready(p)]
        return generation, frozenset((p["metadata"]["name"], p["status"]["podIP"]) for p in ready)

    def labels_to_ask(self, tfmodel: TFModel) -> list[str]:
        """The labels to ask TF Serving about: the spec's and those written last."""
        current = recorded_plan(self.child("ConfigMap", config_map_name(tfmodel)))
        written = current.labels if current else ()
        return sorted({label for label, _ in tfmodel.version_labels + written})


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
