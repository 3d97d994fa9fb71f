"""I/O only: ask each ready pod's TF Serving what it serves (REST status API, port 8501), and
whether a version may take a label (metadata and a smoke request, judged by promotion.py).

GET /v1/models/<model> lists every version with its state. Where a label points is read from
GET /v1/models/<model>/labels/<l>/metadata (model_spec.version): the status API ignores the
label part of its path. The tenant picks the image, so an answer is untrusted input: all that is
asked of a pod shares one total deadline (connect, status line, headers and every byte of the
bodies), answers have a size limit, and their fields are checked; a pod that answers late or
with nonsense is reported as such and holds up nothing but its own TFModel, for at most that
deadline.
"""

import http.client
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from tfmodel_operator import vocabulary
from tfmodel_operator.bounded_http import MAX_BODY as MAX_BODY  # the tests read the limit here
from tfmodel_operator.bounded_http import CannotConnect, NoAnswer, exchange
from tfmodel_operator.controller import metrics
from tfmodel_operator.controller.api import Promotion
from tfmodel_operator.controller.decision import promotion
from tfmodel_operator.controller.decision.observed import is_ready
from tfmodel_operator.controller.decision.promotion import Move
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

DEADLINE = 3.0  # seconds for everything asked of one pod, bodies included
# A predict may take a while on a big model (the first one more), so promotion checks wait longer.
CHECK_DEADLINE = 10.0
# An answer under MAX_BODY could list ~28k versions; no model needs more than this many loaded.
MAX_VERSIONS = 1000
MAX_PARALLEL = 8
MAX_SYNC_ERROR = 256  # characters of the sidecar's error kept in the status
STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")
INT64_MAX = 2**63 - 1


def observe(
    pods: list[dict[str, Any]], model: str, labels: Iterable[str], sync: bool = False
) -> list[PodServing]:
    """One PodServing per ready pod (in pod name order); `sync`: ask its model-sync too."""
    started = time.monotonic()
    names = sorted(set(labels))
    answers = on_each_ready(pods, lambda pod: ask(pod, model, names, sync))
    metrics.SERVING_SECONDS.observe(time.monotonic() - started)
    for answer in answers:
        metrics.SERVING_POLLS.labels("answered" if answer.answered else "failed").inc()
    return answers


def check_promotion(
    pods: list[dict[str, Any]],
    model: str,
    move: Move,
    gate: Promotion,
    seconds: float = CHECK_DEADLINE,
) -> promotion.Check:
    """Check on every ready pod that labels may move from `move`'s source to its target, within
    `seconds` per pod."""
    source, target = move
    started = time.monotonic()
    found = on_each_ready(pods, lambda pod: check_on(pod, model, source, target, gate, seconds))
    metrics.PROMOTION_CHECK_SECONDS.observe(time.monotonic() - started)
    by_problem: dict[str, list[str]] = {}
    for pod, problem in found:
        if problem:
            by_problem.setdefault(problem, []).append(pod)
    message = "; ".join(f"{problem} (on {', '.join(on)})" for problem, on in by_problem.items())
    passed = not by_problem and bool(found)
    metrics.PROMOTION_CHECKS.labels("passed" if passed else "blocked").inc()
    return promotion.Check(source, target, passed=passed, message=message)


def check_on(
    pod: dict[str, Any],
    model: str,
    source: int | None,
    target: int,
    gate: Promotion,
    seconds: float = CHECK_DEADLINE,
) -> tuple[str, str]:
    """(pod, what is wrong, or "" if version `target` passed the checks there)."""
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{vocabulary.REST_PORT}/v1/models/{model}"
    deadline = time.monotonic() + seconds

    def ask_version(version: int, request: dict[str, Any] | None = None) -> Any:
        url = f"{base}/versions/{version}" + ("/metadata" if request is None else ":predict")
        return get(url, deadline, request)

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
        return name, trouble(err, seconds)
    return name, ""


T = TypeVar("T")


def on_each_ready(pods: list[dict[str, Any]], ask_pod: Callable[[dict[str, Any]], T]) -> list[T]:
    """`ask_pod` of every ready pod, in parallel, in pod name order."""
    ready = sorted((p for p in pods if is_ready(p)), key=lambda p: str(p["metadata"]["name"]))
    if not ready:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ready))) as pool:
        return list(pool.map(ask_pod, ready))


def ask(pod: dict[str, Any], model: str, labels: list[str], sync: bool = False) -> PodServing:
    name = pod["metadata"]["name"]
    base = f"http://{pod['status']['podIP']}:{vocabulary.REST_PORT}/v1/models/{model}"
    deadline = time.monotonic() + DEADLINE  # for everything asked of this pod's TF Serving
    try:
        versions = version_statuses(get(base, deadline)["model_version_status"])
        resolved = []
        for label in labels:
            # TF Serving answers 400 (404 in older releases) for a label it does not know.
            metadata = get(f"{base}/labels/{label}/metadata", deadline, unknown_ok=True)
            if metadata:
                resolved.append((label, version_number(metadata["model_spec"]["version"])))
    except TROUBLE as err:
        answer = PodServing(pod=name, error=f"{base}: {trouble(err, DEADLINE)}")
    else:
        answer = PodServing(pod=name, versions=versions, labels=tuple(resolved))
    if not sync:
        return answer
    # The sidecar has a deadline of its own: a slow TF Serving must not hide its trouble.
    sync_error = sync_trouble(pod["status"]["podIP"], time.monotonic() + DEADLINE)
    return replace(answer, sync_error=sync_error)


def sync_trouble(pod_ip: str, deadline: float) -> str:
    """What the pod's model-sync sidecar reports as its last error ("" when it syncs well), or
    why it did not answer. Its answer is the tenant's too: only a bounded string is taken."""
    url = f"http://{pod_ip}:{vocabulary.SYNC_PORT}/state"
    try:
        error = get(url, deadline).get("error") or ""
        if not isinstance(error, str):
            raise TypeError(f"error is {type(error).__name__}, not a string")
    except TROUBLE as err:
        return f"model-sync at {url}: {trouble(err, DEADLINE)}"
    return error[:MAX_SYNC_ERROR]


# What a pod's answer can go wrong with: no answer, or one that is not what TF Serving sends.
TROUBLE = (
    NoAnswer,
    CannotConnect,
    OSError,
    http.client.HTTPException,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    RecursionError,  # the pod's nesting, deeper than Python's stack (parsing or printing it)
)


def trouble(err: Exception, deadline: float) -> str:
    """`err` in a few words. The same trouble must read the same each time, or every poll
    would rewrite the status."""
    if isinstance(err, NoAnswer):
        return f"no answer within {deadline:.0f}s"
    if isinstance(err, CannotConnect):
        return "cannot connect"
    return f"{type(err).__name__}: {str(err)[:200]}"


def get(
    url: str, deadline: float, request: dict[str, Any] | None = None, unknown_ok: bool = False
) -> dict[str, Any]:
    """The JSON object TF Serving answers to a GET (or, with a `request`, a POST) of `url`,
    all of it before `deadline` (a time.monotonic())."""
    payload = None if request is None else json.dumps(request).encode()
    status, body = exchange(url, deadline, payload)
    if unknown_ok and status in (400, 404):
        return {}
    if status != 200:
        raise ValueError(f"HTTP {status}: {body[:200].decode(errors='replace')}")
    return json_object(body)


def json_object(body: bytes) -> dict[str, Any]:
    """`body` as a JSON object; anything else is the pod's trouble (a ValueError)."""
    try:
        answer = json.loads(body)
    except RecursionError:  # e.g. b"[" * 100000: C json gives up at Python's stack limit
        raise ValueError("the answer is nested too deeply") from None
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    return answer


def version_statuses(listed: Any) -> tuple[VersionStatus, ...]:
    """model_version_status, capped: a pod's answer never keeps megabytes of versions."""
    if not isinstance(listed, list):
        raise ValueError("model_version_status is not a list")
    if len(listed) > MAX_VERSIONS:
        raise ValueError(f"the answer lists {len(listed)} versions, more than {MAX_VERSIONS}")
    return tuple(version_status(entry) for entry in listed)


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
