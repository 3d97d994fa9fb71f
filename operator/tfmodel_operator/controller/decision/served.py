"""Pure: what TF Serving's answers say of a plan: how a pod differs from it, which versions
failed to load, and the per-version and per-label summaries the status shows.
"""

from collections import Counter
from dataclasses import dataclass

from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.serving import AVAILABLE, END, PodServing, VersionStatus
from tfmodel_operator.controller.kinds import Manifest

# Order of the states a version passes through; the least advanced one describes a version.
STATE_ORDER = ("END", "START", "LOADING", "UNLOADING", "AVAILABLE")
# A pod may list thousands of versions: the status (an etcd object, shown by kubectl) stays
# small. MAX_STATUS_VERSIONS is the CRD's maxItems for status.versions.
MAX_STATUS_VERSIONS = 100
MAX_VERSION_ERROR = 256


@dataclass(frozen=True)
class Mismatch:
    """How a pod differs from the plan: a version not AVAILABLE there, or a label elsewhere."""

    version: int | None = None  # a version the plan serves
    state: str = ""  # its state on the pod ("" when the pod does not know it)
    label: str = ""  # a label the plan sets
    resolved: int | None = None  # where the label resolves on the pod
    wanted: int | None = None  # where the plan puts it

    @property
    def loading(self) -> bool:
        return self.state in ("START", "LOADING")

    def __str__(self) -> str:
        if self.label:
            return f"label {self.label} resolves to {self.resolved or 'nothing'}, not {self.wanted}"
        if self.version is None:
            return "no version is AVAILABLE"
        return f"version {self.version} is {self.state or 'not loaded'}"


def mismatches(plan: Plan, pod: PodServing) -> list[Mismatch]:
    """How a pod that answered differs from `plan` (empty when the plan is in effect there)."""
    states = {v.version: v.state for v in pod.versions}
    problems = []
    if plan.policy.kind == "specific":
        for version in plan.policy.versions:
            state = states.get(version, "")
            if state != AVAILABLE:
                problems.append(Mismatch(version=version, state=state))
    elif not pod.available():
        problems.append(Mismatch())
    for label, version in plan.labels:
        resolved = pod.resolves(label)
        if resolved != version:
            problems.append(Mismatch(label=label, resolved=resolved, wanted=version))
    return problems


def failed_loads(plan: Plan, pods: list[PodServing]) -> dict[int, tuple[list[str], str]]:
    """version -> (pods where it failed to load, TF Serving's error) for versions the plan wants."""
    failures: dict[int, tuple[list[str], str]] = {}
    for pod in pods:
        for v in pod.versions:
            wanted = plan.policy.kind != "specific" or v.version in plan.policy.versions
            if v.state == END and v.error and wanted:
                names, _ = failures.setdefault(v.version, ([], v.error))
                names.append(pod.pod)
    return failures


def versions(plan: Plan, answered: list[PodServing]) -> list[Manifest]:
    """Per version: its least advanced state across the pods that answered, on how many it is
    AVAILABLE, and any load error. A pod that does not list a version at all counts as START
    for it (so a version AVAILABLE on one pod of two is not reported AVAILABLE).

    TF Serving keeps END entries for versions it unloaded long ago; versions that are only
    such entries are left out. A pod may list thousands of versions, so at most
    MAX_STATUS_VERSIONS are: the pinned ones first, then the highest others.
    """
    # The first entry of a version wins, as TF Serving lists each once.
    by_pod = [{v.version: v for v in reversed(pod.versions)} for pod in answered]
    listed = {v.version for pod in answered for v in pod.versions if v.state != "END" or v.error}
    pinned = pinned_versions(plan, answered)
    shown = sorted(listed, key=lambda version: (version not in pinned, -version))
    result = []
    for version in sorted(shown[:MAX_STATUS_VERSIONS]):
        statuses = [found.get(version, VersionStatus(version, "START")) for found in by_pod]
        state = min((v.state for v in statuses), key=STATE_ORDER.index)
        available = sum(v.state == "AVAILABLE" for v in statuses)
        entry: Manifest = {"version": version, "state": state, "availableReplicas": available}
        error = next((v.error for v in statuses if v.error), "")
        if error:
            entry["error"] = error[:MAX_VERSION_ERROR]
        result.append(entry)
    return result


def pinned_versions(plan: Plan, answered: list[PodServing]) -> set[int]:
    """The versions status.versions lists first: those the plan serves (under latest or all,
    those AVAILABLE on some pod) and those a label points at, in the plan or on a pod."""
    if plan.policy.kind == "specific":
        served = set(plan.policy.versions)
    else:
        served = {version for pod in answered for version in pod.available()}
    labelled = {v for _, v in plan.labels} | {v for pod in answered for _, v in pod.labels}
    return served | labelled


def served_labels(plan: Plan, answered: list[PodServing]) -> dict[str, tuple[int, int]]:
    """label -> (version it resolves to on most pods, on how many pods)."""
    result = {}
    for label in sorted(
        {name for p in answered for name, _ in p.labels} | {n for n, _ in plan.labels}
    ):
        counts = Counter(v for p in answered if (v := p.resolves(label)) is not None)
        if counts:
            version, count = max(counts.items(), key=lambda item: (item[1], item[0]))
            result[label] = (version, count)
    return result
