"""I/O only: ask each ready pod's TF Serving what it serves (REST status API, port 8501).

GET /v1/models/<model> lists every version with its state. Where a label points is read from
GET /v1/models/<model>/labels/<l>/metadata (model_spec.version): the status API ignores the
label part of its path. The tenant picks the image, so an answer is untrusted input: each
request has a total deadline (connect, headers and the whole body), a size limit, and its fields
are checked; a pod that answers late or with nonsense is reported as such and holds up nothing
but its own TFModel, for at most that deadline.
"""

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tfmodel_operator import config as c
from tfmodel_operator.observed import is_ready
from tfmodel_operator.plan import PodServing, VersionStatus

TIMEOUT = (1.0, 1.0)  # (connect, each read) seconds
DEADLINE = 3.0  # seconds for everything asked of one pod, bodies included
MAX_BODY = 1 << 20
MAX_PARALLEL = 8
STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")
INT64_MAX = 2**63 - 1


def observe(pods: list[dict[str, Any]], model: str, labels: Iterable[str]) -> list[PodServing]:
    """One PodServing per ready pod (in pod name order)."""
    ready = sorted((p for p in pods if is_ready(p)), key=lambda p: str(p["metadata"]["name"]))
    if not ready:
        return []
    names = sorted(set(labels))
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ready))) as pool:
        return list(pool.map(lambda pod: ask(pod, model, names), ready))


def ask(pod: dict[str, Any], model: str, labels: list[str]) -> PodServing:
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{c.REST_PORT}/v1/models/{model}"
    deadline = time.monotonic() + DEADLINE  # for everything asked of this pod
    try:
        answer = get(base, deadline)["model_version_status"]
        versions = tuple(version_status(entry) for entry in answer)
        resolved = []
        for label in labels:
            # TF Serving answers 400 (404 in older releases) for a label it does not know.
            metadata = get(f"{base}/labels/{label}/metadata", deadline, unknown_ok=True)
            if metadata:
                resolved.append((label, version_number(metadata["model_spec"]["version"])))
    except requests.Timeout:
        return PodServing(pod=name, error=f"{base}: no answer within {DEADLINE:.0f}s")
    except requests.ConnectionError:
        return PodServing(pod=name, error=f"{base}: cannot connect")
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as err:
        # The same trouble must read the same each time, or every poll would rewrite the status.
        return PodServing(pod=name, error=f"{base}: {type(err).__name__}: {str(err)[:200]}")
    return PodServing(pod=name, versions=versions, labels=tuple(resolved))


def get(url: str, deadline: float, unknown_ok: bool = False) -> dict[str, Any]:
    with requests.get(url, timeout=TIMEOUT, stream=True) as response:
        if unknown_ok and response.status_code in (400, 404):
            return {}
        body = bytearray()
        # read1 returns whatever has arrived: a pod that drips its answer a byte at a time is
        # stopped by the deadline, not only by a read that waits too long (iter_content would
        # wait for a whole chunk).
        while chunk := response.raw.read1(8192):
            body += chunk
            if len(body) > MAX_BODY:
                raise ValueError(f"answer larger than {MAX_BODY} bytes")
            if time.monotonic() > deadline:
                raise ValueError(f"no complete answer within {DEADLINE:.0f}s")
    if response.status_code != 200:
        raise ValueError(f"HTTP {response.status_code}: {body[:200].decode(errors='replace')}")
    answer = json.loads(body)
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    return answer


def version_status(entry: dict[str, Any]) -> VersionStatus:
    status = entry.get("status") or {}
    error = status.get("error_message", "") if status.get("error_code", "OK") != "OK" else ""
    state = str(entry["state"])
    if state not in STATES:
        raise ValueError(f"unknown version state {state[:40]!r}")
    return VersionStatus(version_number(entry["version"]), state, str(error)[:1024])


def version_number(value: Any) -> int:
    """A version as TF Serving sends it (a number, or a string of one), within int64."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"version {str(value)[:40]!r} is not a number")
    number = int(value)
    if not 0 <= number <= INT64_MAX:
        raise ValueError(f"version {str(value)[:40]} is outside int64")
    return number
