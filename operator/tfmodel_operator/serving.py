"""I/O only: ask each ready pod's TF Serving what it serves (REST status API, port 8501).

GET /v1/models/<model> lists every version with its state. Where a label points is read from
GET /v1/models/<model>/labels/<l>/metadata (model_spec.version): the status API ignores the
label part of its path. Short timeouts and a bounded pool: a pod that does not answer is
reported as such and never holds up the reconcile for long.
"""

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tfmodel_operator import config as c
from tfmodel_operator.plan import PodServing, VersionStatus

TIMEOUT = (1.0, 2.0)  # (connect, read) seconds
MAX_PARALLEL = 8


def observe(pods: list[dict[str, Any]], model: str, labels: Iterable[str]) -> list[PodServing]:
    """One PodServing per ready pod (in pod name order)."""
    ready = sorted((p for p in pods if is_ready(p)), key=lambda p: str(p["metadata"]["name"]))
    if not ready:
        return []
    names = sorted(set(labels))
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ready))) as pool:
        return list(pool.map(lambda pod: ask(pod, model, names), ready))


def is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status", {})
    ready = any(
        cond.get("type") == "Ready" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")


def ask(pod: dict[str, Any], model: str, labels: list[str]) -> PodServing:
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{c.REST_PORT}/v1/models/{model}"
    try:
        versions = tuple(version_status(entry) for entry in get(base)["model_version_status"])
        resolved = []
        for label in labels:
            # TF Serving answers 400 (404 in older releases) for a label it does not know.
            metadata = get(f"{base}/labels/{label}/metadata", unknown_ok=True)
            if metadata:
                resolved.append((label, int(metadata["model_spec"]["version"])))
    except (requests.RequestException, ValueError, KeyError, TypeError) as err:
        return PodServing(pod=name, error=f"{base}: {err}")
    return PodServing(pod=name, versions=versions, labels=tuple(resolved))


def get(url: str, unknown_ok: bool = False) -> dict[str, Any]:
    response = requests.get(url, timeout=TIMEOUT)
    if unknown_ok and response.status_code in (400, 404):
        return {}
    if response.status_code != 200:
        raise ValueError(f"HTTP {response.status_code}: {response.text[:200]}")
    answer: dict[str, Any] = response.json()
    return answer


def version_status(entry: dict[str, Any]) -> VersionStatus:
    status = entry.get("status") or {}
    error = status.get("error_message", "") if status.get("error_code", "OK") != "OK" else ""
    return VersionStatus(version=int(entry["version"]), state=str(entry["state"]), error=error)
