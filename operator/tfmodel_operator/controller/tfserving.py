"""I/O only: ask each ready pod's TF Serving what it serves (REST status API, port 8501), and
whether a version may take a label (metadata and a smoke request, judged by promotion.py).

GET /v1/models/<model> lists every version with its state. Where a label points is read from
GET /v1/models/<model>/labels/<l>/metadata (model_spec.version): the status API ignores the
label part of its path. The tenant picks the image, so an answer is untrusted input: each
request has a total deadline (connect, headers and the whole body), a size limit, and its fields
are checked; a pod that answers late or with nonsense is reported as such and holds up nothing
but its own TFModel, for at most that deadline.
"""

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import Promotion
from tfmodel_operator.controller.decision import promotion
from tfmodel_operator.controller.decision.observed import is_ready
from tfmodel_operator.controller.decision.plan import Move, PodServing, VersionStatus

TIMEOUT = (1.0, 1.0)  # (connect, each read) seconds
DEADLINE = 3.0  # seconds for everything asked of one pod, bodies included
# A predict may take a while on a big model (the first one more), so promotion checks wait longer.
CHECK_TIMEOUT = (1.0, 10.0)
CHECK_DEADLINE = 10.0
MAX_BODY = 1 << 20
MAX_PARALLEL = 8
STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")
INT64_MAX = 2**63 - 1


def observe(pods: list[dict[str, Any]], model: str, labels: Iterable[str]) -> list[PodServing]:
    """One PodServing per ready pod (in pod name order)."""
    names = sorted(set(labels))
    return on_each_ready(pods, lambda pod: ask(pod, model, names))


def check_promotion(
    pods: list[dict[str, Any]], model: str, move: Move, gate: Promotion
) -> promotion.Check:
    """Check on every ready pod that labels may move from `move`'s source to its target."""
    source, target = move
    found = on_each_ready(pods, lambda pod: check_on(pod, model, source, target, gate))
    by_problem: dict[str, list[str]] = {}
    for pod, problem in found:
        if problem:
            by_problem.setdefault(problem, []).append(pod)
    message = "; ".join(f"{problem} (on {', '.join(on)})" for problem, on in by_problem.items())
    return promotion.Check(source, target, passed=not by_problem and bool(found), message=message)


def check_on(
    pod: dict[str, Any], model: str, source: int | None, target: int, gate: Promotion
) -> tuple[str, str]:
    """(pod, what is wrong, or "" if version `target` passed the checks there)."""
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{vocabulary.REST_PORT}/v1/models/{model}"
    deadline = time.monotonic() + CHECK_DEADLINE

    def ask_version(version: int, request: dict[str, Any] | None = None) -> Any:
        url = f"{base}/versions/{version}" + ("/metadata" if request is None else ":predict")
        return get(url, deadline, CHECK_TIMEOUT, request)

    try:
        new = promotion.signatures(ask_version(target))
        if gate.check_signatures and source is not None:
            breaks = promotion.contract_breaks(promotion.signatures(ask_version(source)), new)
            if breaks:
                return name, f"it breaks the contract of version {source}: {'; '.join(breaks)}"
        for key, signature in sorted(new.items()) if gate.smoke_request else ():
            answer = ask_version(target, promotion.smoke_request(key, signature))
            problems = promotion.answer_problems(signature, answer)
            if problems:
                return name, f"smoke request to signature {key}: {'; '.join(problems)}"
    except TROUBLE as err:
        return name, trouble(err, CHECK_DEADLINE)
    return name, ""


T = TypeVar("T")


def on_each_ready(pods: list[dict[str, Any]], ask_pod: Callable[[dict[str, Any]], T]) -> list[T]:
    """`ask_pod` of every ready pod, in parallel, in pod name order."""
    ready = sorted((p for p in pods if is_ready(p)), key=lambda p: str(p["metadata"]["name"]))
    if not ready:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ready))) as pool:
        return list(pool.map(ask_pod, ready))


def ask(pod: dict[str, Any], model: str, labels: list[str]) -> PodServing:
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{vocabulary.REST_PORT}/v1/models/{model}"
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
    except TROUBLE as err:
        return PodServing(pod=name, error=f"{base}: {trouble(err, DEADLINE)}")
    return PodServing(pod=name, versions=versions, labels=tuple(resolved))


# What a pod's answer can go wrong with: no answer, or one that is not what TF Serving sends.
TROUBLE = (requests.RequestException, ValueError, KeyError, TypeError, AttributeError)


def trouble(err: Exception, deadline: float) -> str:
    """`err` in a few words. The same trouble must read the same each time, or every poll
    would rewrite the status."""
    if isinstance(err, requests.Timeout):
        return f"no answer within {deadline:.0f}s"
    if isinstance(err, requests.ConnectionError):
        return "cannot connect"
    return f"{type(err).__name__}: {str(err)[:200]}"


def get(
    url: str,
    deadline: float,
    timeout: tuple[float, float] = TIMEOUT,
    request: dict[str, Any] | None = None,
    unknown_ok: bool = False,
) -> dict[str, Any]:
    """The JSON object TF Serving answers to a GET (or, with a `request`, a POST) of `url`."""
    method = "GET" if request is None else "POST"
    with requests.request(method, url, json=request, timeout=timeout, stream=True) as response:
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
            if time.monotonic() > deadline:  # answered in part: as late as no answer at all
                raise requests.Timeout("the whole answer did not arrive before the deadline")
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
