"""Pure: export Jobs as they are -> which to create, which to prune, and what each says.

A finished export Job is the record that its version was published. Its export stays in
`apply` (the Job should exist), but decide creates a Job only when there is none and never
applies one again (its pod template is immutable), so it is neither re-applied nor re-run.
A Job's name carries the hash of its inputs, so changed inputs mean a new Job; for a version
already published that is refused, because TF Serving may be serving it and a version must
never change under a label.
"""

from dataclasses import dataclass, field

from tfmodel_operator.controller.api import Export, TFModel
from tfmodel_operator.controller.decision.render.names import EXPORT_VERSION, export_job_name
from tfmodel_operator.controller.kinds import Manifest

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"


@dataclass(frozen=True)
class ExportState:
    version: int
    job: str
    state: str
    message: str = ""

    def as_status(self) -> Manifest:
        entry: Manifest = {"version": self.version, "job": self.job, "state": self.state}
        if self.message:
            entry["message"] = self.message
        return entry


@dataclass(frozen=True)
class ExportDecision:
    apply: tuple[Export, ...] = ()  # exports whose Jobs should exist
    prune: tuple[str, ...] = ()  # superseded Jobs to delete
    states: tuple[ExportState, ...] = ()
    refused: tuple[str, ...] = ()  # changed inputs for published versions
    pending: frozenset[int] = field(default_factory=frozenset)  # versions not published yet


def decide(tfmodel: TFModel, jobs: list[Manifest], pods: list[Manifest]) -> ExportDecision:
    """From the Job records alone: what TF Serving happens to serve says nothing about which
    export made a version (a version outside a `specific` policy is on the volume unseen)."""
    by_name = {job["metadata"]["name"]: job for job in jobs}
    wanted = {export_job_name(tfmodel, e): e for e in tfmodel.exports}
    apply, states, refused, pending = [], [], [], set()
    for name, export in wanted.items():
        version = export.version
        published = [
            other
            for other, job in by_name.items()
            if other != name
            and job_version(job) == version
            and job_state(job, pods)[0] == SUCCEEDED
        ]
        if published and name not in by_name:
            states.append(
                ExportState(version, published[0], SUCCEEDED, "published; changed inputs refused")
            )
            refused.append(
                f"spec.exports[version={version}]: version {version} was published by Job "
                f"{published[0]}; versions are immutable, so export a new version instead"
            )
            continue
        apply.append(export)
        state, message = job_state(by_name[name], pods) if name in by_name else (PENDING, "")
        states.append(ExportState(version, name, state, message))
        if state != SUCCEEDED:
            pending.add(version)
    keep = set(wanted) | {s.job for s in states}
    prune = tuple(sorted(name for name in by_name if name not in keep))
    return ExportDecision(tuple(apply), prune, tuple(states), tuple(refused), frozenset(pending))


def job_version(job: Manifest) -> int | None:
    value = job["metadata"].get("labels", {}).get(EXPORT_VERSION, "")
    return int(value) if value.isdigit() else None


def job_state(job: Manifest, pods: list[Manifest]) -> tuple[str, str]:
    status = job.get("status", {})
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return SUCCEEDED, ""
    if "Failed" in conditions or "FailureTarget" in conditions:
        reason = conditions.get("Failed") or conditions["FailureTarget"]
        return FAILED, last_words(job, pods) or str(reason.get("message", ""))
    if status.get("active", 0) > 0 and status.get("ready", 0) > 0:
        return RUNNING, ""
    return PENDING, ""


def last_words(job: Manifest, pods: list[Manifest]) -> str:
    """The termination message of the job's most recent failed pod (the exporter's error)."""
    uid = job["metadata"].get("uid")
    failed = [
        pod for pod in pods
        if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences", []))
        and pod.get("status", {}).get("phase") == "Failed"
    ]  # fmt: skip
    for pod in sorted(
        failed, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True
    ):
        for container in pod["status"].get("containerStatuses") or []:
            message = (container.get("state", {}).get("terminated") or {}).get("message", "")
            if message:
                return f"pod {pod['metadata']['name']}: {message.strip()}"
    return ""
