"""tfserving against hostile "TF Serving" pods on real loopback sockets (no cluster): however a
pod answers, or does not, it is that pod's trouble, reported within its deadline, and it never
holds a worker longer or keeps megabytes. Each test has its own loopback IP, on port 8501 as
the operator dials it."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.hostile_serving import NESTED_BRACKETS, Answer, HostileServing, version_list
from tfmodel_operator.controller import tfserving
from tfmodel_operator.controller.api import Promotion
from tfmodel_operator.controller.decision.promotion import Check
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

STATUS = "/v1/models/m"
STATUS_ANSWER = json.dumps({"model_version_status": [
    {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    {"version": "1", "state": "END", "status": {"error_code": "NOT_FOUND", "error_message": "gone"}},
]}).encode()  # fmt: skip
STABLE = json.dumps({"model_spec": {"name": "m", "version": "2", "signature_name": ""}}).encode()
METADATA = json.dumps({"model_spec": {"name": "m", "version": "2"}, "metadata": {"signature_def": {
    "signature_def": {"serving_default": {
        "method_name": "tensorflow/serving/predict",
        "inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "2"}]}}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "1"}]}}},
    }}}}}).encode()  # fmt: skip
PREDICT = "/v1/models/m/versions/2:predict"
CHECK_DEADLINE = 2.0  # shorter than the operator's 10 s, for quick tests of the same bound
SLACK = 2.0  # a bound on a hang of hours, loose enough for a busy machine


def ready_pod(ip: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "pod"},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(n, {path: Answer}) starts a server on 127.55.0.n:8501, stopped after the test."""
    servers: list[HostileServing] = []

    def start(n: int, answers: dict[str, Answer]) -> HostileServing:
        servers.append(HostileServing(f"127.55.0.{n}", answers))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def observe(n: int) -> tuple[PodServing, float]:
    """What the operator makes of 127.55.0.n, and the seconds it took."""
    start = time.monotonic()
    [answer] = tfserving.observe([ready_pod(f"127.55.0.{n}")], "m", ["stable", "canary"])
    return answer, time.monotonic() - start


def check(n: int) -> tuple[Check, float]:
    """The promotion check of version 2 on 127.55.0.n (a new label: the smoke request only),
    with a short deadline so that the tests run quickly."""
    start = time.monotonic()
    pods = [ready_pod(f"127.55.0.{n}")]
    verdict = tfserving.check_promotion(pods, "m", (None, 2), Promotion(), CHECK_DEADLINE)
    return verdict, time.monotonic() - start


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_a_proper_answer_is_read_however_its_end_is_told(serve: Any, framing: Any) -> None:
    serve(1, {STATUS: Answer(STATUS_ANSWER, framing=framing),
              f"{STATUS}/labels/stable/metadata": Answer(STABLE, framing=framing)})  # fmt: skip
    answer, _ = observe(1)
    assert answer == PodServing(
        pod="pod",
        versions=(VersionStatus(2, "AVAILABLE"), VersionStatus(1, "END", "gone")),
        labels=(("stable", 2),),  # canary: 404, a label it does not know
    )


def test_a_smoke_request_is_posted_and_its_answer_judged(serve: Any) -> None:
    server = serve(2, {"/v1/models/m/versions/2/metadata": Answer(METADATA),
                       PREDICT: Answer(b'{"outputs": [[0.5]]}')})  # fmt: skip
    verdict, _ = check(2)
    assert (verdict.passed, verdict.message) == (True, "")
    method, path, body = server.requests[-1]
    assert (method, path) == ("POST", PREDICT)
    assert json.loads(body) == {"signature_name": "serving_default", "inputs": {"x": [[0.0, 0.0]]}}


def test_a_pod_that_drips_its_status_line_and_headers_is_cut_off_at_the_deadline(
    serve: Any,
) -> None:
    serve(3, {STATUS: Answer(STATUS_ANSWER, drip=0.5, drip_head=True)})
    answer, took = observe(3)
    assert answer.error == "http://127.55.0.3:8501/v1/models/m: no answer within 3s"
    assert took < tfserving.DEADLINE + SLACK


def test_a_pod_that_drips_the_headers_of_its_predict_answer_is_cut_off_at_the_deadline(
    serve: Any,
) -> None:
    serve(4, {"/v1/models/m/versions/2/metadata": Answer(METADATA),
              PREDICT: Answer(b'{"outputs": [[0.5]]}', drip=0.5, drip_head=True)})  # fmt: skip
    verdict, took = check(4)
    assert (verdict.passed, verdict.message) == (False, "no answer within 2s (on pod)")
    assert took < CHECK_DEADLINE + SLACK


@pytest.mark.parametrize("path", ["/v1/models/m/versions/2/metadata", PREDICT])
def test_a_pod_that_accepts_and_never_writes_costs_at_most_the_deadline(
    serve: Any, path: str
) -> None:
    serve(5, {"/v1/models/m/versions/2/metadata": Answer(METADATA), path: Answer(silent=True)})
    verdict, took = check(5)
    assert (verdict.passed, verdict.message) == (False, "no answer within 2s (on pod)")
    assert took < CHECK_DEADLINE + SLACK


def test_an_answer_listing_too_many_versions_is_the_pods_trouble(serve: Any) -> None:
    body = version_list(28_000)
    assert len(body) < tfserving.MAX_BODY  # within the size limit: only the count refuses it
    serve(6, {STATUS: Answer(body)})
    answer, _ = observe(6)
    assert answer == PodServing(
        pod="pod",
        error="http://127.55.0.6:8501/v1/models/m: "
        "ValueError: the answer lists 28000 versions, more than 1000",
    )


def test_an_answer_nested_deeper_than_python_parses_is_the_pods_trouble(serve: Any) -> None:
    serve(7, {STATUS: Answer(NESTED_BRACKETS)})
    answer, _ = observe(7)
    assert answer == PodServing(
        pod="pod",
        error="http://127.55.0.7:8501/v1/models/m: ValueError: the answer is nested too deeply",
    )
