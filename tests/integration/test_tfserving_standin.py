"""The TF Serving stand-in behaves like TF Serving where the operator depends on it.

Real SavedModels, real TensorFlow loads, real HTTP on 127.0.0.1; no mocks.
"""

import base64
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import tensorflow as tf
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support.polling import wait_until
from support.tfserving_standin import (
    AVAILABLE,
    END,
    LOADING,
    ServingError,
    StandIn,
    make_broken_version,
    make_saved_model,
)
from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.render import config_files

BASE_PATH = "/models/demo"
TIMEOUT = 20.0
ADAPTER_RULES = Path(__file__).parents[2] / "manifests/autoscaling/prometheus-adapter-rules.yaml"


def models_config(policy: str = "", labels: dict[str, int] | None = None) -> str:
    """models.config for one model "demo"; `policy` is a model_version_policy body."""
    lines = [
        "model_config_list {",
        "  config {",
        '    name: "demo"',
        f'    base_path: "{BASE_PATH}"',
        '    model_platform: "tensorflow"',
    ]
    if policy:
        lines.append(f"    model_version_policy {{ {policy} }}")
    for label, version in (labels or {}).items():
        lines.append(f'    version_labels {{ key: "{label}" value: {version} }}')
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def specific(*versions: int) -> str:
    return "specific { " + " ".join(f"versions: {v}" for v in versions) + " }"


def write_config(path: Path, text: str) -> None:
    """Replace the file in one step, as a ConfigMap update does."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    os.replace(scratch, path)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never through a proxy: the stand-in is on loopback
    yield session
    session.close()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "volume" / "demo"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "models.config"


@pytest.fixture
def serve(base: Path, config_path: Path) -> Iterator[Callable[..., StandIn]]:
    """Start a stand-in on 127.0.0.1 (free port) for `config`; stopped after the test."""
    started: list[StandIn] = []

    def start(config: str, **options: Any) -> StandIn:
        write_config(config_path, config)
        standin = StandIn("127.0.0.1", 0, config_path, {BASE_PATH: base}, 0.1, **options)
        started.append(standin)
        return standin.start(timeout=TIMEOUT)

    yield start
    for standin in started:
        standin.stop()


def predict(http: requests.Session, url: str, body: dict[str, Any]) -> requests.Response:
    return http.post(url, json=body, timeout=10)


def test_specific_policy_loads_only_listed_versions_that_exist(serve, base, http):
    for version in (1, 2, 3):
        make_saved_model(base / str(version), version)
    (base / ".tmp-4").mkdir()  # not a version: the name is not a number

    standin = serve(models_config(specific(1, 3, 7)))

    assert standin.served("demo") == {3: AVAILABLE, 1: AVAILABLE}
    response = http.get(f"{standin.url}/v1/models/demo", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }


def test_status_keeps_end_entries_after_a_version_leaves_the_policy(serve, base, config_path, http):
    for version in (1, 2):
        make_saved_model(base / str(version), version)
    standin = serve(models_config(specific(1, 2)))

    write_config(config_path, models_config(specific(2)))
    standin.wait_state("demo", 1, END, TIMEOUT)

    entries = http.get(f"{standin.url}/v1/models/demo", timeout=10).json()["model_version_status"]
    assert [(e["version"], e["state"]) for e in entries] == [("2", "AVAILABLE"), ("1", "END")]
    one = http.get(f"{standin.url}/v1/models/demo/versions/1", timeout=10).json()
    assert one == {
        "model_version_status": [
            {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    missing = http.get(f"{standin.url}/v1/models/demo/versions/9", timeout=10)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Could not find version 9 of model demo"},
    )
    unknown = http.get(f"{standin.url}/v1/models/nope", timeout=10)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "Could not find any versions of model nope"},
    )
    gone = predict(
        http, f"{standin.url}/v1/models/demo/versions/1:predict", {"instances": [[1.0, 1.0]]}
    )
    assert (gone.status_code, gone.json()) == (
        404,
        {"error": "Servable not found for request: Specific(demo, 1)"},
    )


def test_labels_resolve_for_predict_and_metadata(serve, base, http):
    for version in (1, 2):
        make_saved_model(base / str(version), version)
    standin = serve(models_config(specific(1, 2), {"stable": 1, "canary": 2}))

    canary = predict(
        http, f"{standin.url}/v1/models/demo/labels/canary:predict", {"instances": [[1.0, 2.0]]}
    )
    assert canary.json() == {"predictions": [[2.0, 4.0]]}
    metadata = http.get(f"{standin.url}/v1/models/demo/labels/stable/metadata", timeout=10).json()
    assert metadata["model_spec"] == {"name": "demo", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signature["inputs"]["x"]["tensor_shape"]["dim"] == [
        {"size": "-1", "name": ""},
        {"size": "2", "name": ""},
    ]
    assert "y" in signature["outputs"]

    unknown = predict(
        http, f"{standin.url}/v1/models/demo/labels/nope:predict", {"instances": [[1.0, 2.0]]}
    )
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "Unrecognized servable version label: nope"},
    )
    # As in TF Serving, the status API ignores the label: it lists every version.
    status = http.get(f"{standin.url}/v1/models/demo/labels/stable", timeout=10).json()
    assert [e["version"] for e in status["model_version_status"]] == ["2", "1"]


def test_reload_moving_a_label_to_an_unloaded_version_is_rejected_whole(
    serve, base, config_path, http
):
    for version in (1, 2):
        make_saved_model(base / str(version), version)
    standin = serve(models_config(specific(1), {"stable": 1}))

    write_config(config_path, models_config(specific(1, 2), {"stable": 2}))
    wait_until(lambda: standin.errors, "the reload to be rejected", TIMEOUT)

    assert (
        "Request to assign label to version 2 of model demo, which is not currently available for inference"
        in standin.errors[0]
    )
    assert "failed to ReloadConfig" in standin.errors[0]
    assert standin.served("demo") == {1: AVAILABLE}  # the new policy was not applied either
    assert standin.labels("demo") == {"stable": 1}
    stable = predict(
        http, f"{standin.url}/v1/models/demo/labels/stable:predict", {"instances": [[1.0, 2.0]]}
    )
    assert stable.json() == {"predictions": [[1.0, 2.0]]}


def test_two_phase_label_move_is_accepted(serve, base, config_path, http):
    for version in (1, 2):
        make_saved_model(base / str(version), version)
    standin = serve(models_config(specific(1), {"stable": 1}))

    write_config(config_path, models_config(specific(1, 2), {"stable": 1}))
    standin.wait_state("demo", 2, AVAILABLE, TIMEOUT)
    write_config(config_path, models_config(specific(1, 2), {"stable": 2}))
    wait_until(lambda: standin.labels("demo") == {"stable": 2}, "the label to move", TIMEOUT)

    stable = predict(
        http, f"{standin.url}/v1/models/demo/labels/stable:predict", {"instances": [[1.0, 2.0]]}
    )
    assert stable.json() == {"predictions": [[2.0, 4.0]]}
    assert standin.errors == []


def test_broken_version_ends_with_its_error_and_the_old_one_keeps_serving(
    serve, base, config_path, http
):
    make_saved_model(base / "1", 1)
    standin = serve(models_config(specific(1)))
    make_broken_version(base / "2")

    write_config(config_path, models_config(specific(1, 2)))
    standin.wait_state("demo", 2, END, TIMEOUT)

    entries = http.get(f"{standin.url}/v1/models/demo", timeout=10).json()["model_version_status"]
    broken, old = entries
    assert (broken["version"], broken["state"]) == ("2", "END")
    assert broken["status"]["error_code"] not in ("OK", "")
    assert broken["status"]["error_message"]
    assert (old["version"], old["state"]) == ("1", "AVAILABLE")
    latest = predict(http, f"{standin.url}/v1/models/demo:predict", {"instances": [[1.0, 2.0]]})
    assert latest.json() == {"predictions": [[1.0, 2.0]]}


def test_start_fails_like_tf_serving_when_the_newest_version_is_broken(base, config_path):
    make_saved_model(base / "1", 1)
    make_broken_version(base / "2")
    write_config(config_path, models_config(specific(1, 2)))
    standin = StandIn("127.0.0.1", 0, config_path, {BASE_PATH: base}, 0.1)

    with pytest.raises(RuntimeError, match=r"1 model\(s\) did not become available"):
        standin.start(timeout=TIMEOUT)
    with socket.create_server(("127.0.0.1", standin.port)):
        pass  # the port was released


def test_start_rejects_labels_without_the_allow_flag(base, config_path):
    make_saved_model(base / "1", 1)
    write_config(config_path, models_config(specific(1), {"stable": 1}))
    standin = StandIn(
        "127.0.0.1", 0, config_path, {BASE_PATH: base}, allow_labels_for_unavailable=False
    )

    with pytest.raises(ServingError, match="not currently available for inference"):
        standin.start(timeout=TIMEOUT)


def test_predict_row_and_columnar_formats(serve, base, http):
    make_saved_model(base / "3", 3)
    standin = serve(models_config())
    url = f"{standin.url}/v1/models/demo:predict"

    rows = predict(
        http, url, {"signature_name": "serving_default", "instances": [[1, 2], [3.5, 4]]}
    )
    assert rows.json() == {"predictions": [[3.0, 6.0], [10.5, 12.0]]}
    named_rows = predict(http, url, {"instances": [{"x": [1.0, 2.0]}]})
    assert named_rows.json() == {"predictions": [[3.0, 6.0]]}
    columns = predict(http, url, {"inputs": {"x": [[1.0, 2.0]]}})
    assert columns.json() == {"outputs": [[3.0, 6.0]]}
    bare_columns = predict(http, url, {"inputs": [[0.5, 1.0]]})
    assert bare_columns.json() == {"outputs": [[1.5, 3.0]]}

    wrong_type = predict(http, url, {"instances": [["a", "b"]]})
    assert wrong_type.status_code == 400
    assert "is not of expected type: float" in wrong_type.json()["error"]
    wrong_signature = predict(http, url, {"signature_name": "nope", "instances": [[1.0, 2.0]]})
    assert (wrong_signature.status_code, wrong_signature.json()) == (
        400,
        {"error": 'Serving signature name: "nope" not found in signature def'},
    )
    neither = predict(http, url, {"signature_name": "serving_default"})
    assert (neither.status_code, neither.json()) == (
        400,
        {"error": "Missing 'inputs' or 'instances' key"},
    )


class _TwoInTwoOut(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="x"),
            tf.TensorSpec([None], tf.string, name="s"),
        ]
    )
    def serve(self, x: tf.Tensor, s: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"doubled": x * 2.0, "echo_bytes": s, "length": tf.strings.length(s)}


def test_predict_named_inputs_base64_and_several_outputs(serve, base, http):
    module = _TwoInTwoOut()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.serve})
    standin = serve(models_config())
    url = f"{standin.url}/v1/models/demo/versions/1:predict"
    raw = b"\x00\xffok\x00"
    encoded = {"b64": base64.b64encode(raw).decode()}

    rows = predict(http, url, {"instances": [{"x": 1.5, "s": encoded}, {"x": 2.0, "s": "hi"}]})
    assert rows.json() == {
        "predictions": [
            {"doubled": 3.0, "echo_bytes": encoded, "length": 5},
            {"doubled": 4.0, "echo_bytes": {"b64": base64.b64encode(b"hi").decode()}, "length": 2},
        ]
    }
    columns = predict(http, url, {"inputs": {"x": [0.25], "s": [encoded]}})
    assert columns.json() == {"outputs": {"doubled": [0.5], "echo_bytes": [encoded], "length": [5]}}
    plain_list = predict(http, url, {"instances": [1.0]})
    assert plain_list.status_code == 400
    assert "expecting list of objects" in plain_list.json()["error"]


def test_load_delay_keeps_a_version_loading_while_the_old_one_serves(serve, base, http):
    make_saved_model(base / "1", 1)
    standin = serve(models_config(), load_delay={2: 1.0})  # default policy: latest 1

    make_saved_model(base / "2", 2)
    standin.wait_state("demo", 2, LOADING, TIMEOUT)
    assert standin.served("demo") == {2: LOADING, 1: AVAILABLE}  # availability preserved
    meanwhile = predict(http, f"{standin.url}/v1/models/demo:predict", {"instances": [[1.0, 1.0]]})
    assert meanwhile.json() == {"predictions": [[1.0, 1.0]]}
    states = http.get(f"{standin.url}/v1/models/demo", timeout=10).json()["model_version_status"]
    assert [(e["version"], e["state"]) for e in states] == [("2", "LOADING"), ("1", "AVAILABLE")]

    standin.wait_state("demo", 1, END, TIMEOUT)  # unloaded only once 2 is AVAILABLE
    assert standin.served("demo") == {2: AVAILABLE, 1: END}


def test_unparsable_config_keeps_the_old_one(serve, base, config_path):
    make_saved_model(base / "1", 1)
    standin = serve(models_config(specific(1), {"stable": 1}))

    write_config(config_path, "model_config_list { config { name: ")
    wait_until(lambda: standin.errors, "the parse error to be logged", TIMEOUT)

    assert standin.errors[0].startswith("Failed to read ModelServerConfig file:")
    assert standin.served("demo") == {1: AVAILABLE}
    assert standin.labels("demo") == {"stable": 1}


def test_paths_outside_the_api_and_stop_releases_the_port(serve, base, http):
    make_saved_model(base / "1", 1)
    standin = serve(models_config())

    malformed = http.get(f"{standin.url}/v1/nothing", timeout=10)
    assert (malformed.status_code, malformed.json()) == (
        400,
        {"error": "Malformed request: GET /v1/nothing"},
    )
    elsewhere = http.get(f"{standin.url}/healthz", timeout=10)
    assert (elsewhere.status_code, elsewhere.content) == (404, b"")

    standin.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(f"{standin.url}/v1/models/demo", timeout=10)
    with socket.create_server(("127.0.0.1", standin.port)):
        pass


# ------------------------------------------------------------------ Prometheus metrics

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
# util.cc: request_latency is a Sampler over monitoring::Buckets::Exponential(10, 1.8, 33), to
# which sampler.cc adds a DBL_MAX bucket, written "+Inf"; limits printed like absl::StrCat does.
LATENCY_LE = [f"{10 * 1.8**i:g}" for i in range(33)] + ["+Inf"]
# The stand-in's page before any request: the TYPE lines of its three metrics, which TF
# Serving writes for a metric without points too (its real page has many more metrics).
EMPTY_PAGE = (
    f"# TYPE {REQUEST_COUNT} counter\n"
    f"# TYPE {REQUEST_LATENCY} histogram\n"
    "# TYPE :tensorflow:serving:runtime_latency histogram\n"
)

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def monitoring_config(tmp_path: Path) -> Path:
    """The monitoring.config the operator puts in the ConfigMap, for --monitoring_config_file."""
    path = tmp_path / config_files.MONITORING_CONFIG
    path.write_text(config_files.monitoring_config())
    return path


def scrape(http: requests.Session, standin: StandIn, path: str = vocabulary.METRICS_PATH) -> str:
    response = http.get(f"{standin.url}{path}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain"  # ProcessPrometheusRequest
    return response.text


def series(text: str) -> Series:
    """Each sample of the page, keyed as Prometheus stores it: (name, sorted labels) -> value.

    Parsed with prometheus_client, which names a counter's samples "<name>_total"; Prometheus
    keeps a sample's name as the page writes it, and TF Serving writes counters without _total,
    so the name is taken from the page where the two differ.
    """
    written = {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    found: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name if sample.name in written else family.name
            assert name in written, (name, sorted(written))
            found[(name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def histogram(text: str, name: str, **labels: str) -> tuple[list[tuple[str, float]], float, float]:
    """The (le, cumulative count) buckets, sum and count of one histogram point."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families[name].type == "histogram"
    mine = [s for s in families[name].samples if all(s.labels[k] == v for k, v in labels.items())]
    buckets = [(s.labels["le"], s.value) for s in mine if s.name == f"{name}_bucket"]
    (total,) = [s.value for s in mine if s.name == f"{name}_sum"]
    (count,) = [s.value for s in mine if s.name == f"{name}_count"]
    return buckets, total, count


def point_labels(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of a histogram's points, in page order."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return [s.labels for s in families[name].samples if s.name == f"{name}_count"]


def timed_predict(
    http: requests.Session, url: str, body: dict[str, Any], expected_status: int
) -> float:
    started = time.monotonic()
    response = predict(http, url, body)
    elapsed = time.monotonic() - started
    assert response.status_code == expected_status, response.text
    return elapsed


def test_metrics_count_each_predict_by_model_and_status(serve, base, http, monitoring_config):
    """request_count: +1 per request under (model_name, TF's error code name); request_latency:
    one microsecond sample per *successful* request (http_server.cc records it only if OK)."""
    delay = 0.02  # every good predict takes at least this long on the server
    make_saved_model(base / "1", 1)
    standin = serve(models_config(), monitoring_config=monitoring_config, predict_delays={1: delay})
    url = f"{standin.url}/v1/models/demo"
    assert scrape(http, standin) == EMPTY_PAGE

    good, bad, missing = 5, 3, 2
    durations = [
        timed_predict(http, f"{url}:predict", {"instances": [[1.0, 2.0]]}, 200) for _ in range(good)
    ]
    for _ in range(bad):
        timed_predict(http, f"{url}:predict", {"signature_name": "nope", "instances": [[1.0]]}, 400)
    for _ in range(missing):
        timed_predict(http, f"{url}/versions/9:predict", {"instances": [[1.0, 2.0]]}, 404)
    timed_predict(http, f"{standin.url}/v1/models/other:predict", {"instances": [[1.0]]}, 404)

    page = scrape(http, standin)
    counts = [line for line in page.splitlines() if line.startswith(f"{REQUEST_COUNT}{{")]
    assert counts == [
        f'{REQUEST_COUNT}{{model_name="demo",status="INVALID_ARGUMENT"}} {bad}',
        f'{REQUEST_COUNT}{{model_name="demo",status="NOT_FOUND"}} {missing}',
        f'{REQUEST_COUNT}{{model_name="demo",status="OK"}} {good}',
        f'{REQUEST_COUNT}{{model_name="other",status="NOT_FOUND"}} 1',
    ]
    assert point_labels(page, REQUEST_LATENCY) == [
        {"model_name": "demo", "API": "predict", "entrypoint": "REST"}  # failures: no sample
    ]
    buckets, total, count = histogram(page, REQUEST_LATENCY, model_name="demo", API="predict")
    assert [le for le, _ in buckets] == LATENCY_LE
    cumulative = [value for _, value in buckets]
    assert cumulative == sorted(cumulative)  # cumulative, so never decreasing
    assert cumulative[-1] == count == good
    # Microseconds: nothing below the delay, and no more than the client waited in all.
    assert all(value == 0 for le, value in buckets if le != "+Inf" and float(le) <= delay * 1e6)
    assert good * delay * 1e6 <= total <= sum(durations) * 1e6

    # Counters only grow: a second round adds to the same series.
    more = [
        timed_predict(http, f"{url}:predict", {"instances": [[1.0, 2.0]]}, 200) for _ in range(2)
    ]
    again = scrape(http, standin)
    assert [line for line in again.splitlines() if line.startswith(f"{REQUEST_COUNT}{{")] == [
        f'{REQUEST_COUNT}{{model_name="demo",status="INVALID_ARGUMENT"}} {bad}',
        f'{REQUEST_COUNT}{{model_name="demo",status="NOT_FOUND"}} {missing}',
        f'{REQUEST_COUNT}{{model_name="demo",status="OK"}} {good + 2}',
        f'{REQUEST_COUNT}{{model_name="other",status="NOT_FOUND"}} 1',
    ]
    buckets_again, total_again, count_again = histogram(again, REQUEST_LATENCY, API="predict")
    assert count_again == good + 2
    assert all(b >= a for (_, a), (_, b) in zip(buckets, buckets_again, strict=True))
    assert total + 2 * delay * 1e6 <= total_again <= (sum(durations) + sum(more)) * 1e6


def test_metrics_count_the_status_api_too_but_not_other_paths(serve, base, http, monitoring_config):
    """http_server.cc counts every request the REST handler gets, status and metadata GETs
    included (so kubelet probes and the operator's polls count); a successful GET's latency
    goes under API "" (ParseModelInfo only sets the method for POST). Paths outside /v1/ and
    the Prometheus page itself are not counted."""
    make_saved_model(base / "1", 1)
    standin = serve(models_config(), monitoring_config=monitoring_config)

    assert http.get(f"{standin.url}/v1/models/demo", timeout=10).status_code == 200
    assert http.get(f"{standin.url}/v1/models/demo/metadata", timeout=10).status_code == 200
    assert http.get(f"{standin.url}/v1/models/demo/versions/7", timeout=10).status_code == 404
    assert http.get(f"{standin.url}/v1/foo", timeout=10).status_code == 400
    assert http.get(f"{standin.url}/healthz", timeout=10).status_code == 404
    scrape(http, standin)

    page = scrape(http, standin)
    assert [line for line in page.splitlines() if line.startswith(f"{REQUEST_COUNT}{{")] == [
        f'{REQUEST_COUNT}{{model_name="",status="INVALID_ARGUMENT"}} 1',
        f'{REQUEST_COUNT}{{model_name="demo",status="NOT_FOUND"}} 1',
        f'{REQUEST_COUNT}{{model_name="demo",status="OK"}} 2',
    ]
    assert point_labels(page, REQUEST_LATENCY) == [
        {"model_name": "demo", "API": "", "entrypoint": "REST"}
    ]
    assert histogram(page, REQUEST_LATENCY, API="")[2] == 2


def test_metrics_page_only_with_an_enabled_monitoring_config(
    serve, base, config_path, http, tmp_path
):
    """http_server.cc registers the page only if prometheus_config.enable, at its path or
    kPrometheusPath; the handler answers 400 when a query follows the path. server.cc fails
    the start on a monitoring config it cannot parse."""
    make_saved_model(base / "1", 1)

    def started_with(text: str | None) -> StandIn:
        if text is None:
            return serve(models_config())
        path = tmp_path / f"monitoring-{len(list(tmp_path.glob('monitoring-*')))}.config"
        path.write_text(text)
        return serve(models_config(), monitoring_config=path)

    for text in (None, "prometheus_config { enable: false }", ""):
        plain = started_with(text)
        page = http.get(f"{plain.url}{vocabulary.METRICS_PATH}", timeout=10)
        assert (page.status_code, page.content) == (404, b""), text  # no handler: bare 404
        assert http.get(f"{plain.url}/v1/models/demo", timeout=10).status_code == 200

    default = started_with("prometheus_config { enable: true }")  # empty path: the default
    assert scrape(http, default, "/monitoring/prometheus/metrics") == EMPTY_PAGE

    custom = started_with('prometheus_config { enable: true path: "/metrics" }')
    assert scrape(http, custom, "/metrics") == EMPTY_PAGE
    elsewhere = http.get(f"{custom.url}{vocabulary.METRICS_PATH}", timeout=10)
    assert (elsewhere.status_code, elsewhere.content) == (404, b"")
    query = http.get(f"{custom.url}/metrics?x=1", timeout=10)
    assert (query.status_code, query.headers["Content-Type"], query.text) == (
        400,
        "text/plain",
        "Unexpected path: /metrics?x=1. Should be /metrics",
    )

    broken = tmp_path / "broken.config"
    broken.write_text("prometheus_config { enable: maybe }")
    standin = StandIn("127.0.0.1", 0, config_path, {BASE_PATH: base}, 0.1,
                      monitoring_config=broken)  # fmt: skip
    with pytest.raises(RuntimeError, match=r"INVALID_ARGUMENT: Invalid protobuf file: '.*broken"):
        standin.start(timeout=TIMEOUT)
    with socket.create_server(("127.0.0.1", standin.port)):
        pass  # the port was released


def _selector(query: str) -> tuple[str, list[tuple[str, str, str]]]:
    """A PromQL series selector 'name{label op "value", ...}': its name and label matchers."""
    match = re.fullmatch(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*", query)
    assert match, query
    matchers = re.findall(
        r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', match[2] or ""
    )
    return match[1], matchers


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    """PromQL label matching: a missing label is ""; regexes are anchored."""

    def one(actual: str, op: str, value: str) -> bool:
        if op in ("=", "!="):
            return (actual == value) == (op == "=")
        return (re.fullmatch(value, actual) is not None) == (op == "=~")

    return all(one(labels.get(label, ""), op, value) for label, op, value in matchers)


def test_prometheus_adapter_rules_select_the_series_and_their_rates_hold(
    serve, base, http, monitoring_config
):
    """manifests/autoscaling/prometheus-adapter-rules.yaml against the stand-in's page.

    Prometheus and prometheus-adapter are not available here, so this checks the rules'
    selectors and the counter semantics their queries rely on, not PromQL itself: each rule's
    seriesQuery (metric name and label matchers, with the namespace and pod labels a scrape
    adds) and name.matches select series the stand-in exposes; and over two scrapes, the
    increase of the selected series summed over the one pod, divided by the seconds between
    the scrapes (what sum(rate(...)) by (pod) approximates), is the requests sent in between
    per second, and for request_latency_sum, divided by 1e6, lies between the server-side time
    those requests must have taken and the time the clients waited for them (Little's law:
    the mean number in flight). rate()'s extrapolation to the window's edges, counter-reset
    handling and the adapter's templating are not exercised.
    """
    rules = {
        rule["name"]["as"]: rule for rule in yaml.safe_load(ADAPTER_RULES.read_text())["rules"]
    }
    assert set(rules) == {"tfserving_requests_per_second", "tfserving_requests_in_flight"}
    delay, workers, per_worker = 0.3, 4, 2
    make_saved_model(base / "1", 1)
    standin = serve(models_config(), monitoring_config=monitoring_config, predict_delays={1: delay})
    url = f"{standin.url}/v1/models/demo"
    good = {"instances": [[1.0, 2.0]]}
    missing = f"{url}/versions/9:predict"  # NOT_FOUND before the delay, and no latency sample
    # Every series must exist at the first scrape: rate() has no first sample for one born later.
    timed_predict(http, f"{url}:predict", good, 200)
    timed_predict(http, missing, good, 404)
    assert http.get(url, timeout=10).status_code == 200

    def worker(_: int) -> list[float]:
        with requests.Session() as session:
            session.trust_env = False
            return [timed_predict(session, f"{url}:predict", good, 200) for _ in range(per_worker)]

    first = scrape(http, standin)
    t1 = time.monotonic()  # the two scrapes' times: nothing is sent outside [t1, t2]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        durations = [d for ds in pool.map(worker, range(workers)) for d in ds]
    started = time.monotonic()
    assert http.get(url, timeout=10).status_code == 200
    durations.append(time.monotonic() - started)  # a successful GET's latency is recorded too
    timed_predict(http, missing, good, 404)
    timed_predict(http, missing, good, 404)
    t2 = time.monotonic()
    second = scrape(http, standin)
    sent = workers * per_worker + 1 + 2
    seconds = t2 - t1

    # The page has no namespace/pod labels of its own: the scrape's relabeling adds them.
    before, after = series(first), series(second)
    assert all(label not in ("namespace", "pod") for _, labels in after for label, _ in labels)
    assert all(after[key] >= value for key, value in before.items())  # cumulative: only grow
    target = (("namespace", "serving"), ("pod", "demo-0"))

    def increase(rule: dict[str, Any]) -> float:
        """What the rule's sum(rate(...)) by (pod) sees, times the seconds between scrapes."""
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
        name, matchers = _selector(rule["seriesQuery"])
        selected = [
            key for key in after if key[0] == name and _matches(dict(key[1] + target), matchers)
        ]
        assert selected, f"{rule['seriesQuery']} selects nothing the stand-in exposes"
        assert all(re.search(rule["name"]["matches"], key[0]) for key in selected)
        assert all(key in before for key in selected)
        return sum(after[key] - before[key] for key in selected)

    requests_rule = rules["tfserving_requests_per_second"]
    types = {family.name: family.type for family in text_string_to_metric_families(second)}
    assert types[REQUEST_COUNT] == "counter"
    assert increase(requests_rule) == sent  # every status, every model, summed over the pod
    assert increase(requests_rule) / seconds == pytest.approx(sent / seconds, rel=1e-9)

    in_flight_rule = rules["tfserving_requests_in_flight"]
    assert types[REQUEST_LATENCY] == "histogram"
    assert in_flight_rule["metricsQuery"].rstrip().endswith("/ 1e6")  # microseconds -> seconds
    in_flight = increase(in_flight_rule) / seconds / 1e6
    # _sum is written with six significant digits (absl::StrCat(double)): allow that rounding
    # (at most 5e-6 of the value, in each of the two scrapes).
    largest = max(v for k, v in after.items() if k[0] == f"{REQUEST_LATENCY}_sum")
    rounding = 2 * 5e-6 * largest / 1e6 / seconds
    assert workers * per_worker * delay / seconds - rounding <= in_flight
    assert in_flight <= sum(durations) / seconds + rounding
    assert in_flight > 1  # four clients at a time: more than one request in flight on average
