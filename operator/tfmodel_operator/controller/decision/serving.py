"""Pure: what TF Serving says on one pod, as the client (tfserving.py) reports it: each
version's state and error, and where each label resolves; or why the pod did not answer; and
with a bucket, what its model-sync sidecar says went wrong.
"""

from dataclasses import dataclass

AVAILABLE = "AVAILABLE"
END = "END"


@dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str  # START | LOADING | AVAILABLE | UNLOADING | END
    error: str = ""  # TF Serving's error_message when error_code is not OK


@dataclass(frozen=True)
class PodServing:
    """One ready pod's answer from TF Serving's status API, or why there was none."""

    pod: str
    versions: tuple[VersionStatus, ...] = ()
    labels: tuple[tuple[str, int], ...] = ()  # the labels that resolve, and to which version
    error: str = ""  # set when the pod did not answer
    # With a bucket: the model-sync sidecar's last error, or why it did not answer ("" if well).
    sync_error: str = ""

    @property
    def answered(self) -> bool:
        return not self.error

    def available(self) -> set[int]:
        return {v.version for v in self.versions if v.state == AVAILABLE}

    def resolves(self, label: str) -> int | None:
        return dict(self.labels).get(label)
