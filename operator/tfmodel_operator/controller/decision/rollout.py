"""Pure: what the Deployment and its pods say: a rollout under way, or stuck in a way that needs
a human (past its progress deadline, a replica failure, a pod nobody can schedule)."""

from tfmodel_operator.controller.api import TFModel
from tfmodel_operator.controller.decision.conditions import Verdict, find_condition
from tfmodel_operator.controller.decision.reasons import (
    CREATING,
    PROGRESS_DEADLINE_EXCEEDED,
    REPLICA_FAILURE,
    ROLLING_OUT,
    UNSCHEDULABLE,
)
from tfmodel_operator.controller.kinds import Manifest


def degraded_cause(deployment: Manifest | None, pods: list[Manifest]) -> Verdict | None:
    """What needs a human in the Deployment and its pods; a stuck rollout before a pod that is
    only waiting for capacity (the scheduler's words are kept in the message)."""
    waiting = None
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        scheduled = find_condition(pod.get("status", {}), "PodScheduled")
        if (
            scheduled
            and scheduled.get("status") == "False"
            and scheduled.get("reason") == UNSCHEDULABLE
        ):
            name = pod["metadata"]["name"]
            waiting = f"Pod {name} cannot be scheduled: {scheduled.get('message', '')}"
            break
    dep_status = (deployment or {}).get("status", {})
    progressing = find_condition(dep_status, "Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        message = str(progressing.get("message", ""))
        return True, PROGRESS_DEADLINE_EXCEEDED, f"{message}; {waiting}" if waiting else message
    failure = find_condition(dep_status, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return True, REPLICA_FAILURE, str(failure.get("message", ""))
    return (True, UNSCHEDULABLE, waiting) if waiting else None


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
