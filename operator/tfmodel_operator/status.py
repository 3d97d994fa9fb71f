"""Pure: the observed world -> the TFModel's status (conditions, replicas, labels, endpoints).

Status is computed from the children as they are, never from the previous status, except for
each condition's lastTransitionTime, which is kept while the condition's status holds.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from tfmodel_operator.render import endpoints
from tfmodel_operator.spec import InvalidSpec, TFModel, VersionPolicy

Manifest = dict[str, Any]

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED)

# Reasons (CamelCase, reused as event reasons).
AS_EXPECTED = "AsExpected"
SERVING = "Serving"
CREATING = "Creating"
ROLLING_OUT = "RollingOut"
ROLLOUT_COMPLETE = "RolloutComplete"
SCALED_TO_ZERO = "ScaledToZero"
UNAVAILABLE = "Unavailable"
UNSCHEDULABLE = "Unschedulable"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
REPLICA_FAILURE = "ReplicaFailure"
INVALID_SPEC = "InvalidSpec"
APPLY_FAILED = "ApplyFailed"

MAX_MESSAGE = 1024


class Condition(TypedDict):
    type: str
    status: str
    reason: str
    message: str
    observedGeneration: int
    lastTransitionTime: str


@dataclass(frozen=True)
class Observed:
    """What the operator saw of a TFModel's children after applying them."""

    deployment: Manifest | None
    pods: list[Manifest] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def compute(tfmodel: TFModel, observed: Observed, previous: Manifest, now: datetime) -> Manifest:
    deployment = observed.deployment or {}
    dep_status = deployment.get("status", {})
    degraded = degraded_cause(observed)
    progressing = rollout_progress(tfmodel, deployment)
    ready = readiness(tfmodel, deployment, degraded, progressing)
    status: Manifest = {
        "observedGeneration": tfmodel.generation,
        "conditions": conditions(
            tfmodel.generation,
            previous,
            now,
            ready=ready,
            progressing=progressing or (False, ROLLOUT_COMPLETE, "All pods run the current spec"),
            degraded=degraded or (False, AS_EXPECTED, ""),
        ),
        "replicas": dep_status.get("replicas", 0),
        "readyReplicas": dep_status.get("readyReplicas", 0),
        "device": tfmodel.device,
        "versionPolicy": policy_summary(tfmodel.version_policy),
        "labels": {label: version for label, version in tfmodel.version_labels},
        "endpoints": endpoints(tfmodel),
    }
    return status


def invalid(generation: int, error: InvalidSpec, previous: Manifest, now: datetime) -> Manifest:
    """The spec cannot be served: say which field and why; everything else stays as it was."""
    message = str(error)
    return {
        **previous,
        "observedGeneration": generation,
        "conditions": conditions(
            generation,
            previous,
            now,
            ready=(False, INVALID_SPEC, message),
            progressing=(False, INVALID_SPEC, "Waiting for a valid spec"),
            degraded=(True, INVALID_SPEC, message),
        ),
    }


def apply_failed(generation: int, message: str, previous: Manifest, now: datetime) -> Manifest:
    """The apiserver refused a child: the spec is valid but cannot be realised as written."""
    return {
        **previous,
        "observedGeneration": generation,
        "conditions": conditions(
            generation,
            previous,
            now,
            ready=(False, APPLY_FAILED, message),
            progressing=(False, APPLY_FAILED, "Waiting for the children to be accepted"),
            degraded=(True, APPLY_FAILED, message),
        ),
    }


Verdict = tuple[bool, str, str]  # (status, reason, message)


def degraded_cause(observed: Observed) -> Verdict | None:
    for pod in sorted(observed.pods, key=lambda p: str(p["metadata"]["name"])):
        scheduled = find_condition(pod.get("status", {}), "PodScheduled")
        if (
            scheduled
            and scheduled.get("status") == "False"
            and scheduled.get("reason") == UNSCHEDULABLE
        ):
            name = pod["metadata"]["name"]
            return (
                True,
                UNSCHEDULABLE,
                f"Pod {name} cannot be scheduled: {scheduled.get('message', '')}",
            )
    dep_status = (observed.deployment or {}).get("status", {})
    failure = find_condition(dep_status, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return True, REPLICA_FAILURE, str(failure.get("message", ""))
    progressing = find_condition(dep_status, "Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        return True, PROGRESS_DEADLINE_EXCEEDED, str(progressing.get("message", ""))
    return None


def rollout_progress(tfmodel: TFModel, deployment: Manifest) -> Verdict | None:
    if not deployment:
        return True, CREATING, "Creating the Deployment"
    spec_replicas = deployment.get("spec", {}).get("replicas", tfmodel.replicas)
    status = deployment.get("status", {})
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0):
        return True, ROLLING_OUT, "The Deployment controller has not seen the latest spec yet"
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    if updated < spec_replicas or available < spec_replicas or total > spec_replicas:
        return (
            True,
            ROLLING_OUT,
            f"{updated} of {spec_replicas} pods updated, {available} available, {total} in total",
        )
    return None


def readiness(
    tfmodel: TFModel, deployment: Manifest, degraded: Verdict | None, progressing: Verdict | None
) -> Verdict:
    if degraded:
        return False, degraded[1], degraded[2]
    if progressing:
        return False, progressing[1], progressing[2]
    if tfmodel.replicas == 0:
        return False, SCALED_TO_ZERO, "spec.replicas is 0"
    available = find_condition(deployment.get("status", {}), "Available")
    if not available or available.get("status") != "True":
        return False, UNAVAILABLE, str((available or {}).get("message", "No pod is available"))
    ready = deployment.get("status", {}).get("readyReplicas", 0)
    return True, SERVING, f"{ready} of {tfmodel.replicas} pods ready"


def conditions(
    generation: int,
    previous: Manifest,
    now: datetime,
    *,
    ready: Verdict,
    progressing: Verdict,
    degraded: Verdict,
) -> list[Condition]:
    before = {cond["type"]: cond for cond in previous.get("conditions", [])}
    result = []
    for kind, (state, reason, message) in (
        (READY, ready),
        (PROGRESSING, progressing),
        (DEGRADED, degraded),
    ):
        status = "True" if state else "False"
        old = before.get(kind)
        kept = old is not None and old.get("status") == status
        result.append(
            Condition(
                type=kind,
                status=status,
                reason=reason,
                message=message[:MAX_MESSAGE],
                observedGeneration=generation,
                lastTransitionTime=old["lastTransitionTime"] if kept and old else timestamp(now),
            )
        )
    return result


def events(previous: Manifest, current: Manifest) -> list[Event]:
    """Events for Ready and Degraded transitions only; an absent condition counts as False."""
    before = {cond["type"]: cond.get("status") for cond in previous.get("conditions", [])}
    result = []
    for cond in current.get("conditions", []):
        kind, status = cond["type"], cond["status"]
        if kind == PROGRESSING or status == before.get(kind, "False"):
            continue
        warning = (kind == DEGRADED and status == "True") or (kind == READY and status == "False")
        prefix = f"{kind} is {status}"
        message = f"{prefix}: {cond['message']}" if cond["message"] else prefix
        result.append(Event("Warning" if warning else "Normal", cond["reason"], message))
    return result


def find_condition(status: Manifest, kind: str) -> Manifest | None:
    return next((cond for cond in status.get("conditions") or [] if cond.get("type") == kind), None)


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_summary(policy: VersionPolicy) -> str:
    """What `kubectl get tfm` shows under VERSIONS: "1,2", "latest:2" or "all"."""
    if policy.kind == "latest":
        return f"latest:{policy.num_versions}"
    if policy.kind == "all":
        return "all"
    return ",".join(str(v) for v in policy.versions)
