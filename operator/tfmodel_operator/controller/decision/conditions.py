"""Pure: conditions as Kubernetes conventions want them (observedGeneration, a transition time
that moves only when the status does), the events for their transitions, and the status of a
TFModel the operator cannot realise (`blocked`)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from tfmodel_operator.controller.decision.reasons import (
    APPLY_FAILED,
    CHILD_CONFLICT,
    CONFIG_APPLIED,
    DEGRADED,
    EXPORTED,
    INTERNAL_ERROR,
    INVALID_SPEC,
    POLICY_VIOLATION,
    PROGRESSING,
    READY,
    RECONCILING,
    STALLED,
    SYNCED,
    TERMINAL,
)
from tfmodel_operator.controller.kinds import Manifest

MAX_MESSAGE = 1024


class Condition(TypedDict):
    type: str
    status: str
    reason: str
    message: str
    observedGeneration: int
    lastTransitionTime: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


Verdict = tuple[bool, str, str]  # (status, reason, message)


# What a blocked TFModel waits for, by reason.
WAITING = {
    INVALID_SPEC: "Waiting for a valid spec",
    APPLY_FAILED: "Waiting for the children to be accepted",  # valid, but refused as written
    CHILD_CONFLICT: "Waiting for the conflicting objects to be removed or the TFModel renamed",
    POLICY_VIOLATION: "Waiting for a spec within the platform policy",  # nothing is created
    INTERNAL_ERROR: "Retrying with backoff",  # the operator failed in a way it did not foresee
}


def blocked(
    generation: int, reason: str, message: str, previous: Manifest, now: datetime
) -> Manifest:
    """Say why the spec cannot be realised (`reason`, one of WAITING); everything else in the
    status stays as it was. Stalled unless the operator retries by itself: then Reconciling.
    """
    waiting = WAITING[reason]
    stalled = reason in TERMINAL
    verdicts = {
        READY: (False, reason, message),
        RECONCILING: (not stalled, reason, "" if stalled else waiting),
        STALLED: (stalled, reason, message if stalled else ""),
        PROGRESSING: (False, reason, waiting),
        DEGRADED: (True, reason, message),
    }
    conditions_ = conditions(generation, previous, now, verdicts)
    return {**previous, "observedGeneration": generation, "conditions": conditions_}


def conditions(
    generation: int,
    previous: Manifest,
    now: datetime,
    verdicts: dict[str, Verdict],
    dropped: tuple[str, ...] = (),
) -> list[Condition]:
    """Conditions for `verdicts`; other previous conditions are kept as they were, except the
    `dropped` types (conditions of a feature the spec no longer uses)."""
    before = {cond["type"]: cond for cond in previous.get("conditions", [])}
    result = [c for kind, c in before.items() if kind not in verdicts and kind not in dropped]
    for kind, (state, reason, message) in verdicts.items():
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
    order = [READY, RECONCILING, STALLED, PROGRESSING, DEGRADED, CONFIG_APPLIED, EXPORTED, SYNCED]
    return sorted(
        result, key=lambda c: order.index(c["type"]) if c["type"] in order else len(order)
    )


def events(previous: Manifest, current: Manifest) -> list[Event]:
    """Events when Ready, Degraded or Stalled change; an absent condition counts as False.

    Warnings are for what needs a human: Degraded or Stalled turning True, and a model that
    was serving turning unready. Everything else is Normal.
    """
    before = {cond["type"]: cond.get("status") for cond in previous.get("conditions", [])}
    result = []
    for cond in current.get("conditions", []):
        kind, status = cond["type"], cond["status"]
        if kind not in (READY, DEGRADED, STALLED) or status == before.get(kind, "False"):
            continue
        warning = status == ("False" if kind == READY else "True")
        prefix = f"{kind} is {status}"
        message = f"{prefix}: {cond['message']}" if cond["message"] else prefix
        result.append(Event("Warning" if warning else "Normal", cond["reason"], message))
    return result


def changes(previous: Manifest, current: Manifest) -> list[str]:
    """What differs between two statuses: field names, and conditions by type (for logs)."""
    before = {c["type"]: c for c in previous.get("conditions", [])}
    after = {c["type"]: c for c in current.get("conditions", [])}
    fields = [
        k
        for k in sorted(set(previous) | set(current))
        if k != "conditions" and previous.get(k) != current.get(k)
    ]
    kinds = [
        f"conditions[{k}]"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    return fields + kinds


def find_condition(status: Manifest, kind: str) -> Manifest | None:
    return next((cond for cond in status.get("conditions") or [] if cond.get("type") == kind), None)


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_stalled(status: Manifest, generation: int) -> bool:
    """Stalled for this generation: nothing changes until the spec or the world does."""
    stalled = find_condition(status, STALLED) or {}
    return stalled.get("status") == "True" and stalled.get("observedGeneration") == generation


def ready_reason(status: Manifest) -> tuple[str, str]:
    ready = find_condition(status, READY) or {}
    return str(ready.get("status", "Unknown")), str(ready.get("reason", ""))
