"""Pure: the observed world -> the TFModel's status (conditions, replicas, labels, endpoints).

`compute` derives the status from the children as they are and TF Serving's answers; from the
previous status it keeps only each condition's lastTransitionTime (while the condition's status
holds) and conditions of types it does not compute. (Where the labels were last seen served,
`status.labels`, is read by decide for the plan, not here.) A status that only says why nothing
is applied (`conditions.blocked`) is the previous status copied, with the blocking conditions
replaced.
"""

from dataclasses import dataclass, field
from datetime import datetime

from tfmodel_operator.controller.api import TFModel, VersionPolicy
from tfmodel_operator.controller.decision.conditions import (
    Verdict,
    conditions,
    find_condition,
    timestamp,
)
from tfmodel_operator.controller.decision.export_jobs import FAILED, ExportDecision
from tfmodel_operator.controller.decision.plan import Decision, Plan
from tfmodel_operator.controller.decision.reasons import (
    APPLIED,
    AS_EXPECTED,
    CONFIG_APPLIED,
    DEGRADED,
    EXPORT_FAILED,
    EXPORT_REFUSED,
    EXPORT_RUNNING,
    EXPORTED,
    EXPORTS_SUCCEEDED,
    IN_SYNC,
    IN_TRANSITION,
    LABEL_MOVE_PENDING,
    LOADING,
    NO_POD_ANSWERED,
    PROGRESSING,
    PROMOTION_BLOCKED,
    READY,
    RECONCILING,
    RELOAD_NOT_SEEN,
    ROLLOUT_COMPLETE,
    SCALED_TO_ZERO,
    SERVING,
    STALLED,
    SYNC_FAILED,
    SYNCED,
    TERMINAL,
    UNAVAILABLE,
    VERSION_LOAD_FAILED,
    WAITING_FOR_RELOAD,
)
from tfmodel_operator.controller.decision.render.names import endpoints, server_selector
from tfmodel_operator.controller.decision.rollout import degraded_cause, rollout_progress
from tfmodel_operator.controller.decision.served import (
    failed_loads,
    mismatches,
    served_labels,
    versions,
)
from tfmodel_operator.controller.decision.serving import PodServing
from tfmodel_operator.controller.kinds import Manifest


@dataclass(frozen=True)
class World:
    """What the operator saw: the Deployment, its pods, and what TF Serving says on each."""

    deployment: Manifest | None
    pods: list[Manifest] = field(default_factory=list)
    serving: list[PodServing] = field(default_factory=list)
    config_written: datetime | None = None  # when the operator last changed models.config
    autoscaler: Manifest | None = None  # the HPA, with spec.autoscaling


NO_EXPORTS = ExportDecision()


def compute(
    tfmodel: TFModel,
    decision: Decision,
    observed: World,
    previous: Manifest,
    now: datetime,
    reload_grace: float = 120.0,
    exports: ExportDecision = NO_EXPORTS,
) -> Manifest:
    deployment = observed.deployment or {}
    dep_status = deployment.get("status", {})
    config = config_applied(tfmodel, decision, observed, now, reload_grace)
    exported = export_verdict(exports)
    stuck = (VERSION_LOAD_FAILED, PROMOTION_BLOCKED, RELOAD_NOT_SEEN, EXPORT_FAILED, EXPORT_REFUSED,
             SYNC_FAILED)  # fmt: skip
    synced = sync_verdict(tfmodel, observed.serving)
    degraded = degraded_cause(observed.deployment, observed.pods) or next(
        ((True, v[1], v[2]) for v in (exported, config, synced) if v and v[1] in stuck), None
    )
    moving = (*IN_TRANSITION, EXPORT_RUNNING)
    progressing = rollout_progress(tfmodel, deployment) or next(
        ((True, v[1], v[2]) for v in (exported, config) if v[1] in moving), None
    )
    stalled = degraded if degraded and degraded[1] in TERMINAL else None
    answered = [p for p in observed.serving if p.answered]
    ready = readiness(tfmodel, deployment, degraded, progressing, config, decision.plan, answered)
    labels = served_labels(decision.plan, answered)
    return {
        "observedGeneration": tfmodel.generation,
        "conditions": conditions(
            tfmodel.generation,
            previous,
            now,
            {
                READY: ready,
                RECONCILING: (progressing if progressing and not stalled else None)
                or (False, stalled[1] if stalled else AS_EXPECTED, ""),
                STALLED: stalled or (False, AS_EXPECTED, ""),
                PROGRESSING: progressing
                or (False, ROLLOUT_COMPLETE, "All pods run the current spec"),
                DEGRADED: degraded or (False, AS_EXPECTED, ""),
                CONFIG_APPLIED: config,
                EXPORTED: exported,
                **({SYNCED: synced} if synced else {}),
            },
            dropped=() if synced else (SYNCED,),
        ),
        "replicas": dep_status.get("replicas", 0),
        "readyReplicas": dep_status.get("readyReplicas", 0),
        # /scale: the HPA counts the pods this selects (a label selector as a string)
        "selector": ",".join(f"{k}={v}" for k, v in sorted(server_selector(tfmodel).items())),
        **desired_replicas(tfmodel, observed.autoscaler),
        "device": tfmodel.device,
        "versionPolicy": policy_summary(tfmodel.version_policy),
        "versions": versions(decision.plan, answered),
        "labels": {label: version for label, (version, _) in labels.items()},
        "labelSummary": {
            label: f"{version} ({count}/{len(observed.serving)})"
            for label, (version, count) in labels.items()
        },
        "exports": [state.as_status() for state in exports.states],
        "endpoints": endpoints(tfmodel),
    }


def sync_verdict(tfmodel: TFModel, serving: list[PodServing]) -> Verdict | None:
    """With a bucket: what the ready pods' model-sync sidecars report, the same trouble on
    several pods said once with the pods named. What is already served stays served."""
    bucket = tfmodel.storage.bucket
    if bucket is None:
        return None
    troubled: dict[str, list[str]] = {}
    for pod in serving:
        if pod.sync_error:
            troubled.setdefault(pod.sync_error, []).append(pod.pod)
    if troubled:
        said = "; ".join(
            f"{error} (on {', '.join(pods)})" for error, pods in sorted(troubled.items())
        )
        return False, SYNC_FAILED, f"{bucket.url}: {said}"
    if not serving:
        return False, NO_POD_ANSWERED, f"No ready pod has synced from {bucket.url} yet"
    return True, IN_SYNC, f"{len(serving)} of {len(serving)} ready pods sync from {bucket.url}"


def export_verdict(exports: ExportDecision) -> Verdict:
    failed = [s for s in exports.states if s.state == FAILED]
    if exports.refused:
        return False, EXPORT_REFUSED, "; ".join(exports.refused)
    if failed:
        return (
            False,
            EXPORT_FAILED,
            "; ".join(
                f"Export of version {s.version} failed (Job {s.job}): {s.message}" for s in failed
            ),
        )
    if exports.pending:
        waiting = [s for s in exports.states if s.version in exports.pending]
        return (
            False,
            EXPORT_RUNNING,
            "; ".join(
                f"version {s.version} is not served until Job {s.job} succeeds ({s.state})"
                for s in waiting
            ),
        )
    done = len(exports.states)
    return True, EXPORTS_SUCCEEDED, f"{done} of {done} exports succeeded" if done else "No exports"


def config_applied(
    tfmodel: TFModel, decision: Decision, observed: World, now: datetime, reload_grace: float
) -> Verdict:
    if tfmodel.replicas == 0:
        return True, SCALED_TO_ZERO, "No pod runs; models.config takes effect when pods start"
    pods = observed.serving
    answered = [p for p in pods if p.answered]
    silent = [f"{p.pod} ({p.error})" for p in pods if not p.answered]
    failures = failed_loads(decision.plan, answered)
    if failures:
        version, (names, error) = min(failures.items())
        return (
            False,
            VERSION_LOAD_FAILED,
            f"Version {version} failed to load on {', '.join(names)}: {error}",
        )
    if not answered:
        detail = f": {'; '.join(silent)}" if silent else ""
        return (
            False,
            NO_POD_ANSWERED,
            f"No ready pod has answered TF Serving's status API yet{detail}",
        )
    behind = {p.pod: problems for p in answered if (problems := mismatches(decision.plan, p))}
    detail = "; ".join(f"{pod}: {', '.join(map(str, found))}" for pod, found in behind.items())
    written = observed.config_written
    deadline = tfmodel.config_poll_seconds + reload_grace
    if behind and written and (now - written).total_seconds() > deadline:
        # Names the time of the change, not its age: the message must not change every poll.
        return (
            False,
            RELOAD_NOT_SEEN,
            (
                f"models.config written at {timestamp(written)} is not in effect within "
                f"{deadline:.0f}s (TF Serving only logs a config it rejects; a stuck kubelet "
                f"never delivers one): {detail}"
            ),
        )
    if decision.refused:
        return (
            False,
            PROMOTION_BLOCKED,
            "; ".join(
                f"label {label} stays on version {check.source}: version {check.target} "
                f"failed its promotion checks: {check.message}"
                if check.source is not None
                else f"label {label} is not added: version {check.target} failed its smoke "
                f"request: {check.message}"
                for label, check in decision.refused
            )
            + " (a new spec, or spec.promotion, lets it proceed)",
        )
    unchecked = {target for _, target in decision.unchecked}
    pending = [
        f"label {h.label} stays on version {h.current} until version {h.wanted} "
        + (
            "passes its promotion checks"
            if h.wanted in unchecked
            else f"is AVAILABLE on every ready pod ({h.available_on} of {h.pods} so far)"
        )
        for h in decision.holds
    ] + [
        f"label {label} is added once its version is AVAILABLE on every ready pod"
        for label in decision.waiting
    ]
    notes = ([detail] if detail else []) + (
        [f"not answering: {'; '.join(silent)}"] if silent else []
    )
    if pending:
        return False, LABEL_MOVE_PENDING, "; ".join(pending + notes)
    if behind:
        loading = any(problem.loading for found in behind.values() for problem in found)
        return False, LOADING if loading else WAITING_FOR_RELOAD, "; ".join(notes)
    message = f"models.config is in effect on {len(answered)} of {len(pods)} ready pods"
    if tfmodel.gpu and keeps_several_versions(decision.plan):
        notes.append(
            "several versions share each GPU: size spec.gpu.memoryFraction for all of them "
            "(TF Serving loads a new version before it unloads the old, serving#2017)"
        )
    return True, APPLIED, "; ".join([message, *notes])


def keeps_several_versions(plan: Plan) -> bool:
    policy = plan.policy
    if policy.kind == "specific":
        return len(policy.versions) > 1
    return policy.kind == "all" or policy.num_versions > 1


def readiness(
    tfmodel: TFModel,
    deployment: Manifest,
    degraded: Verdict | None,
    progressing: Verdict | None,
    config: Verdict,
    plan: Plan,
    answered: list[PodServing],
) -> Verdict:
    """Ready means serving: every label written so far resolves, on every ready pod that
    answers, to a version AVAILABLE there (the old one during a label move), and the Deployment
    is available. A routine rollout or label move does not make a serving model unready; it
    shows as Reconciling."""
    if degraded and degraded[1] in TERMINAL:
        return False, degraded[1], degraded[2]
    if tfmodel.replicas == 0:
        return True, SCALED_TO_ZERO, "spec.replicas is 0: nothing runs, nothing is served"
    available = find_condition(deployment.get("status", {}), "Available")
    if not available or available.get("status") != "True":
        why = degraded or progressing
        if why:
            return False, why[1], why[2]
        return False, UNAVAILABLE, str((available or {}).get("message", "No pod is available"))
    if config[1] == NO_POD_ANSWERED or not answered:
        return False, NO_POD_ANSWERED, config[2]
    unserved = [
        f"{pod.pod}: label {label} resolves to no AVAILABLE version"
        for pod in answered
        for label, _ in plan.labels
        if pod.resolves(label) not in pod.available()
    ] + [f"{pod.pod}: no version is AVAILABLE" for pod in answered if not pod.available()]
    if unserved:
        return False, config[1], "; ".join(unserved)
    ready = deployment.get("status", {}).get("readyReplicas", 0)
    return True, SERVING, f"{ready} of {tfmodel.replicas} pods ready; {config[2]}"


def policy_summary(policy: VersionPolicy) -> str:
    """What `kubectl get tfm` shows under VERSIONS: "1,2", "latest:2" or "all"."""
    if policy.kind == "latest":
        return f"latest:{policy.num_versions}"
    if policy.kind == "all":
        return "all"
    return ",".join(str(v) for v in policy.versions)


def desired_replicas(tfmodel: TFModel, autoscaler: Manifest | None) -> Manifest:
    """The size the autoscaler wants (shown beside the size), once it has computed one."""
    desired = ((autoscaler or {}).get("status") or {}).get("desiredReplicas")
    return {"desiredReplicas": desired} if tfmodel.autoscaling and desired is not None else {}
