"""Pure: what TF Serving reports per pod + the spec -> the models.config to write next.

TF Serving refuses to move an existing version label onto a version that is not loaded, and
a label that points at an unloaded version cannot be served. So a label moves in two phases:
first the new version is loaded beside the old one with the label left where it is; once the
new version is AVAILABLE on every ready pod, and has passed the promotion checks (promotion.py)
where spec.promotion gates the label, the label moves and versions the policy no longer serves
are dropped, in one config. `next_plan` makes that decision from observations only.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from tfmodel_operator.controller.api import Promotion, TFModel, VersionPolicy
from tfmodel_operator.controller.decision.promotion import Check, Move
from tfmodel_operator.controller.decision.serving import PodServing


@dataclass(frozen=True)
class Plan:
    """What models.config asks for: a version policy and version labels."""

    policy: VersionPolicy
    labels: tuple[tuple[str, int], ...] = ()

    def label(self, name: str) -> int | None:
        return dict(self.labels).get(name)

    def to_json(self) -> str:
        policy = {"kind": self.policy.kind, "numVersions": self.policy.num_versions,
                  "versions": list(self.policy.versions)}  # fmt: skip
        return json.dumps({"policy": policy, "labels": dict(self.labels)}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "Plan | None":
        """The plan recorded on a ConfigMap, or None if it is missing or unreadable."""
        try:
            raw = json.loads(text)
            policy = raw["policy"]
            return Plan(
                policy=VersionPolicy(
                    kind=policy["kind"],
                    num_versions=int(policy["numVersions"]),
                    versions=tuple(int(v) for v in policy["versions"]),
                ),
                labels=tuple(sorted((str(k), int(v)) for k, v in raw["labels"].items())),
            )
        except (ValueError, KeyError, TypeError):
            return None


def desired_plan(tfmodel: TFModel) -> Plan:
    return Plan(policy=tfmodel.version_policy, labels=tfmodel.version_labels)


def gated(desired: Plan, pending: frozenset[int], current: Plan | None) -> Plan:
    """Versions still waiting for their export are neither served nor labelled: a label that
    names one stays where it is (or is not written yet)."""
    if not pending:
        return desired
    labels = {}
    for label, version in desired.labels:
        now = current.label(label) if current else None
        if version not in pending:
            labels[label] = version
        elif now is not None and now not in pending:
            labels[label] = now
    policy = desired.policy
    if policy.kind == "specific":
        policy = VersionPolicy(
            kind="specific", versions=tuple(v for v in policy.versions if v not in pending)
        )
    return Plan(policy, tuple(sorted(labels.items())))


@dataclass(frozen=True)
class Hold:
    """A label kept on its current version because the new one is not AVAILABLE everywhere."""

    label: str
    current: int
    wanted: int
    available_on: int = 0
    pods: int = 0


@dataclass(frozen=True)
class Decision:
    plan: Plan
    holds: tuple[Hold, ...] = field(default=())
    waiting: tuple[str, ...] = field(default=())  # new labels not written yet
    unchecked: tuple[Move, ...] = field(default=())  # moves that wait for their checks
    refused: tuple[tuple[str, Check], ...] = field(default=())  # label, the check it failed


UNGATED = Promotion(check_signatures=False, smoke_request=False)


def next_plan(
    desired: Plan,
    current: Plan | None,
    pods: list[PodServing],
    promotion: Promotion = UNGATED,
    checks: dict[Move, Check] | None = None,
    served: Mapping[str, int] | None = None,
) -> Decision:
    """The config to write now, given what each ready pod reports and the checks made so far.

    With no previous config or no ready pod, a label the promotion gate leaves alone is written
    as desired: a starting server loads every version before it serves (labels on versions
    still loading are allowed only then, by --allow_version_labels_for_unavailable_models), and
    no client depends on a label yet. A gated label is not: written as desired whenever the
    ConfigMap or its plan annotation is lost or no pod is ready, it would jump to a version
    whose check failed or was never made. It starts instead from where the record puts it or,
    with no record, where the answering pods resolve it (`known_current`), and is held or
    moved from there as usual; with neither it is a new label, added once its version is
    AVAILABLE everywhere and its check passed. `served` is status.labels (where the labels were
    last seen served), None before the first status.
    """
    if current is None or not pods:
        current = known_current(desired, current, pods, promotion, served)
    answered = [p for p in pods if p.answered]
    # A pod that did not answer might not have loaded anything: no label moves onto it.
    everywhere = (
        set.intersection(*(p.available() for p in pods))
        if pods and len(answered) == len(pods)
        else set()
    )
    labels: dict[str, int] = {}
    holds: list[Hold] = []
    waiting: list[str] = []
    unchecked: set[Move] = set()
    refused: list[tuple[str, Check]] = []
    for label, wanted in desired.labels:
        now = current.label(label)
        if wanted == now:
            labels[label] = wanted
            continue
        if wanted in everywhere:
            # Not gated: loaded everywhere is enough. Gated: the check of this move decides.
            check = (checks or {}).get((now, wanted))
            if not promotion.gates(label) or (check is not None and check.passed):
                labels[label] = wanted
                continue
            if check is None:
                unchecked.add((now, wanted))
            else:
                refused.append((label, check))
        if now is not None:
            labels[label] = now
            on = sum(wanted in p.available() for p in answered)
            holds.append(Hold(label, now, wanted, available_on=on, pods=len(pods)))
        else:
            waiting.append(label)
    policy = desired.policy
    if policy.kind == "specific":
        # Phase one: keep every version a label still points at, beside the wanted ones.
        policy = VersionPolicy(
            kind="specific", versions=tuple(sorted(set(policy.versions) | set(labels.values())))
        )
    return Decision(
        Plan(policy, tuple(sorted(labels.items()))),
        tuple(holds),
        tuple(waiting),
        tuple(sorted(unchecked, key=str)),
        tuple(refused),
    )


def known_current(
    desired: Plan,
    current: Plan | None,
    pods: list[PodServing],
    promotion: Promotion,
    served: Mapping[str, int] | None,
) -> Plan:
    """What is current when the record or the ready pods are missing. A label not gated is where
    the spec wants it. A gated one is where the record puts it; with no record, on the version
    every pod that answered resolves it to, else where the status last saw it served (`served`);
    else it is new, and waits for its check. Only a TFModel with no status yet (`served` None)
    and no label on any pod is new: its first config is written as desired."""
    resolved = {
        label: {p.resolves(label) for p in pods if p.answered} for label, _ in desired.labels
    }
    agreed = {label: found.pop() for label, found in resolved.items() if len(found) == 1}
    anywhere = any(p.labels for p in pods)
    fresh = current is None and not anywhere and served is None
    labels = []
    for label, wanted in desired.labels:
        if fresh or not promotion.gates(label):
            now: int | None = wanted
        elif current is not None:
            now = current.label(label)
        else:
            now = agreed.get(label) or (served or {}).get(label)
        if now is not None:
            labels.append((label, now))
    return Plan(desired.policy, tuple(labels))
