"""Pure: one TFModel and everything observed of it -> what to write. The whole decision.

`decide` is called once per reconcile, over what the reconciler gathered first (the cache's
view with its own writes laid over it, TF Serving's answers, the promotion checks made, the
spec parsed once, and why the last write over this same view failed, if it did). It gates
versions still being exported, plans the next models.config from what TF Serving reports,
renders the children, keeps only those that differ from what is observed, refuses names held
by objects this TFModel does not control, lists the children to prune, and computes the status:
it is the only producer of status. What to do next comes back in the `Outcome` (checks due,
whether to keep polling); the reconciler acts on it and looks again instead of deciding twice.
`tfmodel render` calls it with nothing observed.
"""

from dataclasses import dataclass, field
from datetime import datetime

from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision import (
    conditions,
    export_jobs,
    plan,
    reasons,
    render,
    status,
)
from tfmodel_operator.controller.decision.conditions import Event
from tfmodel_operator.controller.decision.diff import comparable, is_applied
from tfmodel_operator.controller.decision.observed import Observed, applied_at, recorded_plan
from tfmodel_operator.controller.decision.ownership import conflict, controlled_by, is_predecessors
from tfmodel_operator.controller.decision.promotion import Move
from tfmodel_operator.controller.decision.render import names
from tfmodel_operator.controller.kinds import Manifest
from tfmodel_operator.controller.policy import Policy, violations

OPEN = Policy()  # no platform policy: anything the schema admits
OPTIONAL = ("PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler")


@dataclass(frozen=True)
class Outcome:
    apply: tuple[Manifest, ...] = ()  # children that differ from what is observed, in order
    prune: tuple[Manifest, ...] = ()  # children (as observed) no longer wanted
    status: Manifest | None = None  # the new status; None when it has not changed
    events: tuple[Event, ...] = ()  # condition transitions, posted with the status
    write_events: tuple[Event, ...] = ()  # what the writes do, posted once they succeed
    settled: bool = True  # False while a config change is on its way into TF Serving
    checks_due: tuple[Move, ...] = ()  # label moves to check, then look again
    manifests: tuple[Manifest, ...] = field(default=(), repr=False)  # every desired child


def decide(
    observed: Observed,
    parsed: spec.Parsed,
    now: datetime,
    reload_grace: float = 120.0,
    policy: Policy = OPEN,
) -> Outcome:
    """`parsed` is what `spec.parse` made of `observed.tfmodel` (parsed once, by the caller)."""
    body = observed.tfmodel
    if body is None or body["metadata"].get("deletionTimestamp"):
        return Outcome()  # gone or going: the garbage collector removes the children
    previous = body.get("status") or {}
    generation = int(body["metadata"].get("generation", 0))
    if observed.failure is not None:  # the write over this view failed: say why, write nothing
        return blocked(previous, generation, *observed.failure, now)
    if isinstance(parsed, spec.InvalidSpec):  # the user's to fix: report it, do not retry
        return blocked(previous, generation, reasons.INVALID_SPEC, str(parsed), now)
    tfmodel = parsed
    refused = violations(tfmodel, body.get("spec") or {}, policy)
    if refused:  # nothing is created for a TFModel outside the platform policy
        return blocked(previous, generation, reasons.POLICY_VIOLATION, "; ".join(refused), now)

    def mine(kind: str, name: str) -> Manifest | None:
        obj = observed.child(kind, name)
        return obj if obj is not None and controlled_by(obj, tfmodel.uid) else None

    config_map = mine("ConfigMap", names.config_map_name(tfmodel))
    current = recorded_plan(config_map)
    serving = list(observed.serving)
    owned_jobs = observed.of_kind("Job", tfmodel.uid)
    exports = export_jobs.decide(tfmodel, owned_jobs, observed.pods_of("export"))
    desired = plan.gated(plan.desired_plan(tfmodel), exports.pending, current)
    # status.labels: where the labels were last seen served (None: a TFModel never reconciled).
    served = (
        {str(k): int(v) for k, v in (previous.get("labels") or {}).items()} if previous else None
    )
    decision = plan.next_plan(desired, current, serving, tfmodel.promotion, observed.checks, served)
    manifests = tuple(render.desired(tfmodel, decision.plan, exports.apply).in_apply_order())

    # Children of an earlier TFModel of this name (deleted since, so their controller UID is
    # gone): the garbage collector misses them when the name was taken again while its watch
    # was down. They are removed, as it would, and their names used once they are gone.
    leftovers = tuple(o for o in observed.children if is_predecessors(o, tfmodel.name, tfmodel.uid))
    held = {(o["kind"], o["metadata"]["name"]) for o in leftovers}
    manifests_now = [m for m in manifests if (m["kind"], m["metadata"]["name"]) not in held]
    live = [observed.child(m["kind"], m["metadata"]["name"]) for m in manifests_now]
    conflicts = [
        problem
        for manifest, obj in zip(manifests_now, live, strict=True)
        if (problem := conflict(manifest, obj, tfmodel.uid))
    ]
    if conflicts:  # touch nothing: not ours to change, and nothing half-created
        return blocked(previous, generation, reasons.CHILD_CONFLICT, "; ".join(conflicts), now)

    # A Job's template is immutable and a Job that exists is the record of its export: it is
    # created once and never applied again.
    apply = tuple(
        m
        for m, obj in zip(manifests_now, live, strict=True)
        if obj is None or (m["kind"] != "Job" and not is_applied(comparable(m), obj))
    )
    written = any(m["kind"] == "ConfigMap" for m in apply)
    world = status.World(
        deployment=mine("Deployment", tfmodel.name),
        autoscaler=mine("HorizontalPodAutoscaler", tfmodel.name),
        pods=observed.pods_of("server"),
        serving=serving,
        config_written=now if written else applied_at(config_map),
    )
    new = status.compute(tfmodel, decision, world, previous, now, reload_grace, exports)
    in_effect = any(
        cond["type"] == reasons.CONFIG_APPLIED and cond["status"] == "True"
        for cond in new["conditions"]
    )
    # Superseded export Jobs, and the optional children the spec no longer asks for: a
    # NetworkPolicy (left in place, it would keep the pods unreachable to clients the user has
    # opened them to), an autoscaler (it would go on scaling), a budget for a single pod.
    wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    prune = (
        tuple(j for j in owned_jobs if j["metadata"]["name"] in exports.prune)
        + tuple(
            child
            for kind in OPTIONAL
            for child in observed.of_kind(kind, tfmodel.uid)
            if (child["kind"], child["metadata"]["name"]) not in wanted
        )
        + leftovers
    )
    return Outcome(
        apply=apply,
        prune=prune,
        status=None if new == previous else new,
        events=tuple(conditions.events(previous, new)),
        write_events=size_reset(world.deployment, apply),
        # With no ready pod, pod events (not polls) bring the next reconcile; a ready pod that
        # does not answer yet (TF Serving still starting) is asked again, backing off.
        settled=not serving or (in_effect and not written and all(p.answered for p in serving)),
        checks_due=decision.unchecked,
        manifests=manifests,
    )


def size_reset(deployment: Manifest | None, apply: tuple[Manifest, ...]) -> tuple[Event, ...]:
    """A Deployment resized by someone else (an HPA or `kubectl scale` on the Deployment) is set
    back to the TFModel's size: both cannot own it, so say who, instead of a silent tug of war."""
    wanted = next((m for m in apply if m["kind"] == "Deployment"), None)
    others = (deployment or {}).get("replicasWrittenBy")
    if deployment is None or wanted is None or not others:
        return ()
    size, back_to = deployment["spec"].get("replicas"), wanted["spec"].get("replicas")
    if size == back_to:
        return ()
    name = deployment["metadata"]["name"]
    return (
        Event(
            "Warning",
            reasons.SCALED_ELSEWHERE,
            f"Deployment {name} was resized to {size} by {', '.join(others)}; its size is the "
            f"TFModel's spec.replicas ({back_to}) and is set back: scale the TFModel instead "
            f"(kubectl scale tfm/{name}, or an autoscaler whose scaleTargetRef is the TFModel)",
        ),
    )


def blocked(
    previous: Manifest, generation: int, reason: str, message: str, now: datetime
) -> Outcome:
    """An outcome that only reports why nothing is applied (conditions.WAITING's reasons)."""
    new = conditions.blocked(generation, reason, message, previous, now)
    return Outcome(
        status=None if new == previous else new, events=tuple(conditions.events(previous, new))
    )
