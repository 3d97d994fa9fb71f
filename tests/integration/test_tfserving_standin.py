"""The TF Serving stand-in behaves like TF Serving where the operator depends on it.

Real SavedModels, real TensorFlow loads, real HTTP on 127.0.0.1; no mocks.
"""

import base64
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import tensorflow as tf

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

BASE_PATH = "/models/demo"
TIMEOUT = 20.0


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
