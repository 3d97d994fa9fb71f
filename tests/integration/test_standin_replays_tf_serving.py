"""TF Serving's own REST handler tests, replayed against the stand-in.

The cases come from tensorflow/serving 2.20.0 (unchanged on master):
tensorflow_serving/model_servers/http_rest_api_handler_test.cc (every TEST except the
:regress/:classify results, which the stand-in does not imitate and says so), and the
json_tensor_test.cc TESTs whose requests can go through :predict of that test's model. Each
test names the TEST it replays. Expected values and texts are the ones those tests assert, or,
where they only assert a substring, the full text the TF Serving source builds (cited).

The model is an equivalent of tensorflow_serving/servables/tensorflow/testdata/
saved_model_half_plus_two_2_versions, built here with tf.compat.v1 rather than copied: the
same graph (y = 0.5 * x + 2 from variables a, b, c; x and x2 parsed from tf.Examples), the same
six signature defs with the same keys, tensor names, dtypes and shapes, so its metadata equals
saved_model_half_plus_two_2_versions_metadata.json (checked against the real SavedModel while
writing this). Its versions 00000123 and 00000124 are identical, as in the testdata.

Also replayed: every TEST of tensorflow_serving/util/prometheus_exporter_test.cc, against
the stand-in's exporter (``http_server.Registry``, in-process as the .cc calls GeneratePage), and
tensorflow_model_server_test.py's testPrometheusEndpoint over HTTP. TF Serving's C++ tests have
no test of request_count or request_latency themselves (http_server.cc records them);
test_tfserving_standin.py tests those.

Besides the replays, direct tests of the four places where the stand-in used to be stricter
than TF Serving (integers of 2^24 or more and numbers beyond float range for float inputs,
text after the JSON body, a query string on a status URL), and of ``predict_delays``.
"""

import http.client
import json
import math
import shutil
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tensorflow as tf

from support.polling import wait_until
from support.tfserving_standin import AVAILABLE, StandIn
from support.tfserving_standin.http_server import Registry, exponential_buckets

# http_rest_api_handler_test.cc
MODEL = "saved_model_half_plus_two_2_versions"  # kTestModelName
VERSION = 123  # kTestModelVersion1
LABEL = "Version_Label"  # kTestModelVersionLabel
MISSING_LABEL = "Version_Nonexistent"  # kNonexistentModelVersionLabel
BASE_PATH = "/models/half_plus_two"
TIMEOUT = 60.0
JSON_HEADERS = {"Content-Type": "application/json"}

# tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_2_versions_metadata.json
# (Apache License 2.0, The TensorFlow Serving Authors), verbatim.
EXPECTED_METADATA = """{
 "model_spec": {
  "name": "saved_model_half_plus_two_2_versions",
  "signature_name": "",
  "version": "123"
 },
 "metadata": {
  "signature_def": {
   "signature_def": {
    "regress_x2_to_y3": {
     "inputs": {
      "inputs": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "x2:0"
      }
     },
     "outputs": {
      "outputs": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y3:0"
      }
     },
     "method_name": "tensorflow/serving/regress",
     "defaults": {}
    },
    "serving_default": {
     "inputs": {
      "x": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "x:0"
      }
     },
     "outputs": {
      "y": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y:0"
      }
     },
     "method_name": "tensorflow/serving/predict",
     "defaults": {}
    },
    "classify_x_to_y": {
     "inputs": {
      "inputs": {
       "dtype": "DT_STRING",
       "tensor_shape": {
        "dim": [],
        "unknown_rank": true
       },
       "name": "tf_example:0"
      }
     },
     "outputs": {
      "scores": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y:0"
      }
     },
     "method_name": "tensorflow/serving/classify",
     "defaults": {}
    },
    "classify_x2_to_y3": {
     "inputs": {
      "inputs": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "x2:0"
      }
     },
     "outputs": {
      "scores": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y3:0"
      }
     },
     "method_name": "tensorflow/serving/classify",
     "defaults": {}
    },
    "regress_x_to_y2": {
     "inputs": {
      "inputs": {
       "dtype": "DT_STRING",
       "tensor_shape": {
        "dim": [],
        "unknown_rank": true
       },
       "name": "tf_example:0"
      }
     },
     "outputs": {
      "outputs": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y2:0"
      }
     },
     "method_name": "tensorflow/serving/regress",
     "defaults": {}
    },
    "regress_x_to_y": {
     "inputs": {
      "inputs": {
       "dtype": "DT_STRING",
       "tensor_shape": {
        "dim": [],
        "unknown_rank": true
       },
       "name": "tf_example:0"
      }
     },
     "outputs": {
      "outputs": {
       "dtype": "DT_FLOAT",
       "tensor_shape": {
        "dim": [
         {
          "size": "-1",
          "name": ""
         },
         {
          "size": "1",
          "name": ""
         }
        ],
        "unknown_rank": false
       },
       "name": "y:0"
      }
     },
     "method_name": "tensorflow/serving/regress",
     "defaults": {}
    }
   }
  }
 }
}"""

# What GetStatus expects for each of its three requests.
EXPECTED_STATUS = """{
     "model_version_status": [
      {
       "version": "123",
       "state": "AVAILABLE",
       "status": {
       "error_code": "OK",
       "error_message": ""
       }
      }
     ]
    }"""


# -------------------------------------------------------------------- the model


def build_half_plus_two(target: Path) -> None:
    """saved_model_half_plus_two.py as it was when the 2_versions testdata was exported."""
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example")  # unknown rank, as there
        features = v1.parse_example(
            serialized,
            {
                "x": v1.FixedLenFeature([1], dtype=tf.float32),
                "x2": v1.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
            },
        )
        x = tf.identity(features["x"], name="x")
        x.set_shape([None, 1])  # TF 1.1 inferred it from the feature spec; today's TF does not
        x2 = tf.identity(features["x2"], name="x2")
        x2.set_shape([None, 1])
        y = tf.add(tf.multiply(a, x), b, name="y")
        y2 = tf.add(tf.multiply(a, x), c, name="y2")
        y3 = tf.add(tf.multiply(a, x2), c, name="y3")

        def signature(inputs: dict[str, Any], outputs: dict[str, Any], method: str) -> Any:
            info = v1.saved_model.utils.build_tensor_info
            return v1.saved_model.signature_def_utils.build_signature_def(
                {k: info(t) for k, t in inputs.items()},
                {k: info(t) for k, t in outputs.items()},
                f"tensorflow/serving/{method}",
            )

        signatures = {
            "serving_default": signature({"x": x}, {"y": y}, "predict"),
            "regress_x_to_y": signature({"inputs": serialized}, {"outputs": y}, "regress"),
            "regress_x_to_y2": signature({"inputs": serialized}, {"outputs": y2}, "regress"),
            "regress_x2_to_y3": signature({"inputs": x2}, {"outputs": y3}, "regress"),
            "classify_x_to_y": signature({"inputs": serialized}, {"scores": y}, "classify"),
            "classify_x2_to_y3": signature({"inputs": x2}, {"scores": y3}, "classify"),
        }
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(target))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
        builder.save()


class _Echo(tf.Module):
    """Returns its float and double inputs: shows what the JSON numbers became."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="f"),
            tf.TensorSpec([None], tf.float64, name="d"),
        ]
    )
    def serve(self, f: tf.Tensor, d: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"f": tf.identity(f), "d": tf.identity(d)}


def models_config(name: str, policy: str, labels: Mapping[str, int] | None = None) -> str:
    lines = [
        "model_config_list {",
        "  config {",
        f'    name: "{name}"',
        f'    base_path: "{BASE_PATH}"',
        '    model_platform: "tensorflow"',
        f"    model_version_policy {{ {policy} }}",
    ]
    for label, version in (labels or {}).items():
        lines.append(f'    version_labels {{ key: "{label}" value: {version} }}')
    return "\n".join([*lines, "  }", "}", ""])


def write_config(path: Path, text: str) -> None:
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    scratch.replace(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("half_plus_two")
    build_half_plus_two(base / "00000123")
    shutil.copytree(base / "00000123", base / "00000124")
    return base


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """HttpRestApiHandlerTest::CreateServerCore: only version 123 (a specific policy), then a
    ReloadConfig that adds the label Version_Label -> 123."""
    config = tmp_path_factory.mktemp("config") / "models.config"
    write_config(config, models_config(MODEL, f"specific {{ versions: {VERSION} }}"))
    standin = StandIn("127.0.0.1", 0, config, {BASE_PATH: model_dir}, poll_seconds=0.1)
    standin.start(timeout=TIMEOUT)
    try:
        write_config(
            config, models_config(MODEL, f"specific {{ versions: {VERSION} }}", {LABEL: VERSION})
        )
        wait_until(lambda: standin.labels(MODEL) == {LABEL: VERSION}, "the label", TIMEOUT)
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def serve_dir(tmp_path: Path) -> Iterator[Any]:
    """Start a stand-in for one model at `base` (policy all); stopped after the test."""
    started: list[StandIn] = []

    def start(name: str, base: Path, **options: Any) -> StandIn:
        config = tmp_path / f"{name}.config"
        write_config(config, models_config(name, "all {}"))
        standin = StandIn("127.0.0.1", 0, config, {BASE_PATH: base}, poll_seconds=0, **options)
        started.append(standin)
        return standin.start(timeout=TIMEOUT)

    yield start
    for standin in started:
        standin.stop()


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    base = tmp_path_factory.mktemp("echo")
    module = _Echo()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.serve})
    config = base.parent / "echo.config"
    write_config(config, models_config("echo", "all {}"))
    standin = StandIn("127.0.0.1", 0, config, {BASE_PATH: base}, poll_seconds=0)
    with standin:
        yield standin


def call(
    standin: StandIn, method: str, path: str, body: bytes | str = b""
) -> tuple[int, Any, Mapping[str, str]]:
    """One request as the .cc's handler_.ProcessRequest(method, path, body, ...) makes it."""
    data = body.encode() if isinstance(body, str) else body
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy: the stand-in is on loopback
        response = session.request(method, f"{standin.url}{path}", data=data, timeout=30)
    payload = response.json() if response.content else None
    return response.status_code, payload, response.headers


def error(standin: StandIn, method: str, path: str, body: bytes | str = b"") -> tuple[int, str]:
    status, payload, headers = call(standin, method, path, body)
    assert headers["Content-Type"] == "application/json"  # AddHeaders, errors too
    return status, payload["error"]


def canonical(text: str) -> str:
    """CompareJson compares parsed documents; this compares them byte for byte, canonically
    (key order and whitespace aside, which also tells a number from a bool or a string)."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def as_float32(values: Any) -> Any:
    return np.asarray(values, dtype=np.float64).astype(np.float32)


# -------------------------------------------------------------------- http_rest_api_handler_test.cc


def test_kPathRegex(server: StandIn) -> None:
    """TEST_F(HttpRestApiHandlerTest, kPathRegex): "(?i)/v1/.*" is handled, nothing else."""
    assert error(server, "GET", "/v1/models") == (400, "Missing model name in request.")
    assert error(server, "GET", "/V1/MODELS") == (400, "Missing model name in request.")
    for path in ("/statuspage", "/index"):
        status, payload, _ = call(server, "GET", path)
        assert (status, payload) == (404, None)  # no handler: the HTTP server's empty 404


UNSUPPORTED_API_CALLS = [
    ("GET", "/v1/foo", "Malformed request: GET /v1/foo"),
    ("POST", "/v1/foo", "Malformed request: POST /v1/foo"),
    ("GET", "/v1/models", "Missing model name in request."),
    (
        "GET",
        "/v1/models/debug/model_name",
        "Malformed request: GET /v1/models/debug/model_name",
    ),
    ("POST", "/v1/models", "Malformed request: POST /v1/models"),
    ("GET", "/v1/models/foo:predict", "Malformed request: GET /v1/models/foo:predict"),
    (
        "GET",
        "/v1/models/foo/version/50:predict",
        "Malformed request: GET /v1/models/foo/version/50:predict",
    ),
    (
        "POST",
        "/v1/models/foo/version/50:regress",
        "Malformed request: POST /v1/models/foo/version/50:regress",
    ),
    (
        "POST",
        "/v1/models/foo/versions/HELLO:regress",
        "Malformed request: POST /v1/models/foo/versions/HELLO:regress",
    ),
    (
        "POST",
        f"/v1/models/foo/versions/{2**64 - 1}:regress",  # numeric_limits<uint64_t>::max()
        f"Failed to convert version: {2**64 - 1} to numeric.",
    ),
    ("POST", "/v1/models/foo/metadata", "Malformed request: POST /v1/models/foo/metadata"),
    (
        "POST",
        "/v1/models/foo/label/some_label:regress",
        "Malformed request: POST /v1/models/foo/label/some_label:regress",
    ),
    (
        "POST",
        "/v1/models/foo/versions/50/labels/some_label:regress",
        "Malformed request: POST /v1/models/foo/versions/50/labels/some_label:regress",
    ),
    (
        "POST",
        "/v1/models/foo/versions/some_label:regress",
        "Malformed request: POST /v1/models/foo/versions/some_label:regress",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [pytest.param(*case, id=f"{case[0]} {case[1]}") for case in UNSUPPORTED_API_CALLS],
)
def test_UnsupportedApiCalls(server: StandIn, method: str, path: str, expected: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, UnsupportedApiCalls): each is INVALID_ARGUMENT (400).

    The .cc checks substrings; the full texts are those of http_rest_api_handler.cc
    ProcessRequest ("Malformed request: ", method, " ", path), ProcessModelStatusRequest and
    http_rest_api_util.cc ParseModelInfo.
    """
    assert error(server, method, path) == (400, expected)


@pytest.mark.parametrize(
    ("path", "request_text"),
    [
        ("/v1/models/foo:predict", "Latest(foo)"),  # 'foo' is not a valid model name
        ("/v1/models/foo/versions/50:predict", "Specific(foo, 50)"),
        (f"/v1/models/{MODEL}99:predict", f"Latest({MODEL}99)"),  # "invalid version number (99)"
    ],
)
def test_PredictModelNameVersionErrors(server: StandIn, path: str, request_text: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, PredictModelNameVersionErrors): NOT_FOUND (404), with
    basic_manager.cc's "Servable not found for request: " text."""
    assert error(server, "POST", path, '{ "instances": [1] }') == (
        404,
        f"Servable not found for request: {request_text}",
    )


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # Empty document: json_tensor.cc ParseJson's own check.
        (f"/v1/models/{MODEL}:predict", "", "JSON Parse error: The document is empty"),
        # Badly formatted JSON: rapidjson's message and offset.
        (
            f"/v1/models/{MODEL}:predict",
            "instances = [1, 2]",
            "JSON Parse error: Invalid value. at offset: 0",
        ),
        # Incorrect type: FillTensorMapFromInstancesList around AddValueToTensor's TypeError.
        (
            f"/v1/models/{MODEL}:predict",
            '{ "instances": ["x", "y"] }',
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            'JSON Value: "x" Type: String is not of expected type: float',
        ),
        # Nonexistent version label: server_core.cc.
        (
            f"/v1/models/{MODEL}/labels/{MISSING_LABEL}:predict",
            '{ "instances": ["x", "y"] }',
            f"Unrecognized servable version label: {MISSING_LABEL}",
        ),
        # Incorrect signature_name type: FormatSignatureError, the document as
        # JsonValueToDebugString writes it (rapidjson PrettyWriter).
        (
            f"/v1/models/{MODEL}:predict",
            '{ "signature_name": 100 }',
            'JSON Value: {\n    "signature_name": 100\n} not formatted correctly. '
            "'signature_name' key must be a string value.",
        ),
    ],
    ids=["empty", "bad-json", "type", "label", "signature-name"],
)
def test_PredictRequestErrors(server: StandIn, path: str, body: str, expected: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, PredictRequestErrors): INVALID_ARGUMENT (400) each."""
    assert error(server, "POST", path, body) == (400, expected)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            f"/v1/models/{MODEL}:predict",
            '{"instances": [[1.0, 2.0], [3.0, 4.0]]}',
            '{ "predictions": [[2.5, 3.0], [3.5, 4.0]] }',
        ),
        (
            f"/v1/models/{MODEL}/versions/{VERSION}:predict",
            '{"instances": [1.0, 2.0]}',
            '{ "predictions": [2.5, 3.0] }',
        ),
        (
            f"/v1/models/{MODEL}/labels/{LABEL}:predict",
            '{"instances": [1.0, 2.0]}',
            '{ "predictions": [2.5, 3.0] }',
        ),
        (
            f"/v1/models/{MODEL}/versions/{VERSION}:predict",
            '{"signature_name": "serving_default", "instances": [3.0, 4.0]}',
            '{ "predictions": [3.5, 4.0] }',
        ),
        (
            f"/v1/models/{MODEL}/versions/{VERSION}:predict",
            '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}',
            '{ "outputs": [3.5, 4.0] }',
        ),
    ],
    ids=["latest", "version", "label", "signature-name", "columnar"],
)
def test_Predict(server: StandIn, path: str, body: str, expected: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, Predict): row and columnar, by latest, version, label."""
    status, payload, headers = call(server, "POST", path, body)
    assert status == 200
    assert canonical(json.dumps(payload)) == canonical(expected)
    assert headers["Content-Type"] == JSON_HEADERS["Content-Type"]


@pytest.mark.parametrize("verb", ["regress", "classify"])
def test_Regress_and_Classify_are_not_imitated(server: StandIn, verb: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, Regress) and (..., Classify) expect {"results": [42]} and
    {"results": [[["", 12]]]} from the tf.Example signatures; the stand-in documents that it
    does not imitate these APIs and answers UNIMPLEMENTED (501), whatever the request."""
    body = '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }'
    assert error(server, "POST", f"/v1/models/{MODEL}:{verb}", body) == (
        501,
        f"the TF Serving stand-in does not implement :{verb}",
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/models/{MODEL}",
        f"/v1/models/{MODEL}/versions/{VERSION}",
        f"/v1/models/{MODEL}/labels/{LABEL}",  # the status API ignores the label
    ],
)
def test_GetStatus(server: StandIn, path: str) -> None:
    """TEST_F(HttpRestApiHandlerTest, GetStatus): all versions, one version, through a label.

    Version 124 is on disk but outside the specific policy, so it is not listed at all.
    """
    status, payload, headers = call(server, "GET", path)
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert canonical(json.dumps(payload)) == canonical(EXPECTED_STATUS)


def test_GetModelMetadata(server: StandIn) -> None:
    """TEST_F(HttpRestApiHandlerTest, GetModelMetadata): equal to the testdata's JSON file.

    The .cc compares parsed documents (CompareJson); this compares them canonically, byte for
    byte. The response bytes themselves differ in whitespace: TF Serving pretty-prints.
    """
    status, payload, headers = call(server, "GET", f"/v1/models/{MODEL}/metadata")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert canonical(json.dumps(payload)) == canonical(EXPECTED_METADATA)


# -------------------------------------------------------------------- json_tensor_test.cc


def predict_values(standin: StandIn, body: bytes | str, model: str = MODEL) -> Any:
    status, payload, _ = call(standin, "POST", f"/v1/models/{model}:predict", body)
    assert status == 200, payload
    return payload


def test_MixedInputForFloatTensor(server: StandIn) -> None:
    """TEST(JsontensorTest, MixedInputForFloatTensor): integers and decimals both fill float."""
    values = [1, 2.0, 3, 4, 5.003, 0.007, 0.0]
    payload = predict_values(server, '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}')
    x = as_float32(values)
    expected = np.float32(0.5) * x + np.float32(2.0)
    np.testing.assert_array_equal(as_float32(payload["predictions"]), expected)


def test_FloatTensorWithPrecisionLoss(server: StandIn) -> None:
    """TEST(JsontensorTest, FloatTensorWithPrecisionLoss): 1435774380 and 1435774380.0 are
    accepted alike, both becoming the float 1435774336 (serving commit 57dac6cd, 2021)."""
    as_int = predict_values(server, '{"instances": [1435774380]}')
    as_decimal = predict_values(server, '{"instances": [1435774380.0]}')
    assert as_int == as_decimal
    expected = np.float32(0.5) * np.float32(1435774336.0) + np.float32(2.0)
    assert as_float32(as_int["predictions"]).tolist() == [expected]


def test_FloatTensorThatExceedsMaxReturnsInf(server: StandIn) -> None:
    """TEST(JsontensorTest, FloatTensorThatExceedsMaxReturnsInf): +/-DBL_MAX, as absl::
    Substitute writes it ("1.79769e+308"), is +/-inf as a float; 0.5 * inf + 2 is inf."""
    assert predict_values(server, '{ "instances": [1.79769e+308] }') == {"predictions": [math.inf]}
    assert predict_values(server, '{ "instances": [-1.79769e+308] }') == {
        "predictions": [-math.inf]
    }


def test_FloatTensorThatExceedsMinReturnsZero(server: StandIn) -> None:
    """TEST(JsontensorTest, FloatTensorThatExceedsMinReturnsZero): +/-DBL_MIN
    ("2.22507e-308") is +/-0 as a float; 0.5 * 0 + 2 is 2."""
    for text in ("2.22507e-308", "-2.22507e-308"):
        assert predict_values(server, f'{{ "instances": [{text}] }}') == {"predictions": [2.0]}


def test_TensorFromNonNullTerminatedBuffer(server: StandIn) -> None:
    """TEST(JsontensorTest, TensorFromNonNullTerminatedBuffer): the body ends before the 'X'
    that follows it in memory; sent along, the 'X' is ignored too (kParseStopWhenDoneFlag)."""
    expected = {"predictions": [[2.5, 3.0], [3.5, 4.0], [4.5, 5.0]]}
    jsonstr = '{"instances": [[1,2],[3,4],[5,6]]}X'
    assert predict_values(server, jsonstr[:-1]) == expected
    assert predict_values(server, jsonstr) == expected


def test_DeeplyNestedWellFormed(server: StandIn) -> None:
    """TEST(JsontensorTest, DeeplyNestedWellFormed): 500000 levels of nesting parse
    (kParseIterativeFlag); the unused "nested" key does not matter."""
    body = '{"instances":[1], "nested":' + "[" * 500000 + "]" * 500000 + "}"
    assert predict_values(server, body) == {"predictions": [2.5]}


def test_DeeplyNestedMalformed(server: StandIn) -> None:
    """TEST(JsontensorTest, DeeplyNestedMalformed): a deeply nested signature_name is
    INVALID_ARGUMENT "key must be a string value"; JsonValueToDebugString stops writing the
    document once it has 256 bytes (kMaxJsonDebugStringBytes)."""
    body = '{"signature_name":' + "[" * 500000 + "]" * 500000 + "}"
    start = '{\n    "signature_name": '
    debug = start + "[" * (256 - len(start))
    assert error(server, "POST", f"/v1/models/{MODEL}:predict", body) == (
        400,
        f"JSON Value: {debug} not formatted correctly. "
        "'signature_name' key must be a string value.",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
            'JSON Value: {\n    "signature_name": 5,\n    "instances": [[1, 2], [3, 4], '
            "[5, 6, 7]]\n} not formatted correctly. 'signature_name' key must be a string value.",
        ),
        (
            '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
            'JSON Value: {\n    "instances": [[1, 2], [3, 4], [5, 6, 7]],\n    "inputs": '
            "[[1, 2], [3, 4], [5, 6, 7]]\n} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist ",
        ),
        (
            '{"instances": [[1,2],[3,4],[5,6,7]]}',
            "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 2 but got: 3",
        ),
        (
            '{"instances": [[1,2],[3,4],[[5,6]]]}',
            "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting shape [2] but got: [1,2]",
        ),
        (
            '{"instances": [1, [1]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting shape [] but got: [1]",
        ),
        (
            '{"instances": [[1,2],["a", "b"]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            'JSON Value: "a" Type: String is not of expected type: float',
        ),
    ],
    ids=["signature-name", "both-keys", "size", "shape", "shape-scalar", "type"],
)
def test_SingleUnnamedTensorErrors(server: StandIn, body: str, expected: str) -> None:
    """TEST(JsontensorTest, SingleUnnamedTensorErrors), on the model's one float input (the
    .cc's is int32; the texts only differ in the type name)."""
    assert error(server, "POST", f"/v1/models/{MODEL}:predict", body) == (400, expected)


# -------------------------------------------------------------------- the four alignments


def test_integers_of_2_24_and_more_are_converted_for_float_inputs(echo: StandIn) -> None:
    """AddValueToTensor: add_float_val(val.GetFloat()) for any JSON number, GetFloat() being
    static_cast<float>(GetDouble()); no "without loss of precision" check since 2021."""
    body = json.dumps(
        {
            "inputs": {
                "f": [16777216, 16777217, 1435774380, 2**63 - 1, 2**64 - 1],
                "d": [16777217, 2**53 + 1, -(2**63), 2**64 - 1, 2**53],
            }
        }
    )
    outputs = predict_values(echo, body, model="echo")["outputs"]
    assert as_float32(outputs["f"]).tolist() == [
        16777216.0,
        16777216.0,
        1435774336.0,
        2.0**63,
        2.0**64,
    ]
    assert outputs["d"] == [16777217.0, 2.0**53, -(2.0**63), 2.0**64, 2.0**53]


def test_numbers_beyond_float_range_are_infinity_for_float_inputs(echo: StandIn) -> None:
    """A double beyond float range casts to +/-inf; a double input keeps it. rapidjson 1.1.0
    rejects an exponent beyond 308 ("Number too big...", reader.h ParseNumber), but 2e308,
    whose product overflows without that check, is +/-Infinity for both types."""
    body = '{"inputs": {"f": [1e39, -1e39, 3.4e38, 2e308], "d": [1e39, -1e39, 3.4e38, -2e308]}}'
    outputs = predict_values(echo, body, model="echo")["outputs"]
    assert as_float32(outputs["f"]).tolist() == [
        math.inf,
        -math.inf,
        float(np.float32(3.4e38)),
        math.inf,
    ]
    assert outputs["d"] == [1e39, -1e39, 3.4e38, -math.inf]

    for dtype in ("f", "d"):
        other = "d" if dtype == "f" else "f"
        body = f'{{"inputs": {{"{other}": [1], "{dtype}": [1e309]}}}}'
        assert error(echo, "POST", "/v1/models/echo:predict", body) == (
            400,
            f"JSON Parse error: Number too big to be stored in double. at offset: "
            f"{body.index('1e309')}",
        )


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1.0]]} and then some text',
        b'{"instances": [[1.0]]}{"instances": [[5.0]]}',
        b'{"instances": [[1.0]]}\n\xff\xfe not even UTF-8',
        b'{"instances": [[1.0]]}\x00',
        b'\xef\xbb\xbf  {"instances": [[1.0]]}',  # a UTF-8 BOM is skipped (EncodedInputStream)
    ],
    ids=["text", "second-value", "binary", "nul", "bom"],
)
def test_text_after_the_json_body_is_ignored(server: StandIn, body: bytes) -> None:
    """json_tensor.cc ParseJson parses with kParseStopWhenDoneFlag (since 2.18): rapidjson
    stops at the end of the first value and never reads what follows."""
    assert predict_values(server, body) == {"predictions": [[2.5]]}


def test_a_query_string_is_part_of_the_path(server: StandIn) -> None:
    """uri_path() is path + "?" + query + "#" + fragment (evhttp_request.cc), and the
    http_rest_api_util.cc regexes match all of it: `([^/:]+)` takes "M?x=1" as the model."""
    model = f"/v1/models/{MODEL}"
    assert error(server, "GET", f"{model}?x=1") == (
        404,
        f"Could not find any versions of model {MODEL}?x=1",
    )
    for method, path in (
        ("GET", f"{model}/versions/{VERSION}?x=1"),
        ("GET", f"{model}/metadata?x=1"),
        ("POST", f"{model}:predict?x=1"),
    ):
        assert error(server, method, path, '{"instances": [[1.0]]}') == (
            400,
            f"Malformed request: {method} {path}",
        )
    # The label then swallows the query, and the status API ignores labels: 200, all versions.
    status, payload, _ = call(server, "GET", f"{model}/labels/{LABEL}?x=1")
    assert status == 200
    assert canonical(json.dumps(payload)) == canonical(EXPECTED_STATUS)

    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", f"{model}#top")  # clients do not send fragments; evhttp keeps one
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            404,
            {"error": f"Could not find any versions of model {MODEL}#top"},
        )
    finally:
        connection.close()


# -------------------------------------------------------------------- prometheus_exporter_test.cc


def test_PrometheusExporterTest_Counter() -> None:
    """TEST(PrometheusExporterTest, Counter)."""
    registry = Registry()
    counter = registry.counter("/test/path/total", "A counter.", "name")
    counter.increment_by(("abc",), 2)
    expected = '# TYPE :test:path:total counter\n:test:path:total{name="abc"} 2\n'
    assert expected in registry.page()


def test_PrometheusExporterTest_Gauge() -> None:
    """TEST(PrometheusExporterTest, Gauge)."""
    registry = Registry()
    gauge = registry.gauge("/test/path/gague", "A gauge", "x", "y")
    gauge.set(("abc", "def"), 5)
    expected = '# TYPE :test:path:gague gauge\n:test:path:gague{x="abc",y="def"} 5\n'
    assert expected in registry.page()


def test_PrometheusExporterTest_Histogram() -> None:
    """TEST(PrometheusExporterTest, Histogram): Buckets::Exponential(1, 2, 10); Add(2) lands
    under le="4" (Histogram::Add takes the first limit *greater* than the value)."""
    registry = Registry()
    histogram = registry.sampler(
        "/test/path/histogram", "A histogram.", ("status",), exponential_buckets(1, 2, 10)
    )
    for value in (2, 20, 200):
        histogram.add(("good",), value)
    expected = "\n".join(
        [
            "# TYPE :test:path:histogram histogram",
            ':test:path:histogram_bucket{status="good",le="1"} 0',
            ':test:path:histogram_bucket{status="good",le="2"} 0',
            ':test:path:histogram_bucket{status="good",le="4"} 1',
            ':test:path:histogram_bucket{status="good",le="8"} 1',
            ':test:path:histogram_bucket{status="good",le="16"} 1',
            ':test:path:histogram_bucket{status="good",le="32"} 2',
            ':test:path:histogram_bucket{status="good",le="64"} 2',
            ':test:path:histogram_bucket{status="good",le="128"} 2',
            ':test:path:histogram_bucket{status="good",le="256"} 3',
            ':test:path:histogram_bucket{status="good",le="512"} 3',
            ':test:path:histogram_bucket{status="good",le="+Inf"} 3',
            ':test:path:histogram_sum{status="good"} 222',
            ':test:path:histogram_count{status="good"} 3',
        ]
    )
    assert expected + "\n" in registry.page()


def test_PrometheusExporterTest_SanitizeLabelValue() -> None:
    """TEST(PrometheusExporterTest, SanitizeLabelValue): a backslash and double quotes."""
    registry = Registry()
    counter = registry.counter("/test/path/total", "A counter.", "name")
    counter.increment_by(('"abc\\"',), 2)
    expected = '# TYPE :test:path:total counter\n:test:path:total{name="\\"abc\\\\\\""} 2\n'
    assert expected in registry.page()


def test_PrometheusExporterTest_SanitizeLabelName() -> None:
    """TEST(PrometheusExporterTest, SanitizeLabelName)."""
    registry = Registry()
    counter = registry.counter("/test/path/total", "A counter.", "my-name+1")
    counter.increment_by(("abc",), 2)
    expected = '# TYPE :test:path:total counter\n:test:path:total{my_name_1="abc"} 2\n'
    assert expected in registry.page()


def test_PrometheusExporterTest_SanitizeMetricName() -> None:
    """TEST(PrometheusExporterTest, SanitizeMetricName)."""
    registry = Registry()
    counter = registry.counter("0/path-total_count", "A counter.", "name")
    counter.increment_by(("abc",), 2)
    expected = '# TYPE _0:path:total_count counter\n_0:path:total_count{name="abc"} 2\n'
    assert expected in registry.page()


def test_histogram_sum_and_limits_have_six_significant_digits() -> None:
    """Not a TEST of the .cc: SerializeHistogram writes bucket_limit and sum with
    absl::StrCat(double), six significant digits, as the Histogram case's "222" does for small
    values; a large sum loses its last digits (what a rate() of _sum then sees)."""
    registry = Registry()
    histogram = registry.sampler("/t/h", "", (), [1234567.0])
    histogram.add((), 1234567)
    histogram.add((), 1)
    assert registry.page().splitlines()[1:] == [
        ':t:h_bucket{le="1.23457e+06"} 1',
        ':t:h_bucket{le="+Inf"} 2',
        ":t:h_sum{} 1.23457e+06",
        ":t:h_count{} 2",
    ]


# tensorflow_serving/servables/tensorflow/testdata/monitoring_config.txt, verbatim.
MONITORING_CONFIG_TXT = """prometheus_config: {
  enable: true,
  path: "/monitoring/prometheus/metrics"
}
"""


def test_testPrometheusEndpoint(model_dir: Path, serve_dir: Any, tmp_path: Path) -> None:
    """tensorflow_model_server_test.py testPrometheusEndpoint: RunServer('default', ...,
    monitoring_config_file=testdata/monitoring_config.txt), then GET the page on the REST port:
    it holds "# TYPE" lines (here before any request, as TF's metrics are all registered)."""
    monitoring = tmp_path / "monitoring_config.txt"
    monitoring.write_text(MONITORING_CONFIG_TXT)
    standin = serve_dir("default", model_dir, monitoring_config=monitoring)
    url = f"http://{standin.host}:{standin.port}/monitoring/prometheus/metrics"
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy: the stand-in is on loopback
        response = session.get(url, timeout=30)
    assert response.status_code == 200
    assert "# TYPE" in response.content.decode("utf-8")


# -------------------------------------------------------------------- predict_delays


def test_predict_delays_slow_only_predict_of_that_version(model_dir: Path, serve_dir: Any) -> None:
    """predict_delays={124: s}: a :predict served by 124 answers after s seconds; 123, and the
    status and metadata of 124, answer meanwhile."""
    delay = 2.0
    standin = serve_dir(MODEL, model_dir, predict_delays={124: delay})
    assert standin.served(MODEL) == {123: AVAILABLE, 124: AVAILABLE}
    body = '{"instances": [[1.0]]}'
    predict_values(standin, body)  # warm up: the first call traces the function

    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        slow = pool.submit(predict_values, standin, body)  # latest is 124
        time.sleep(0.2)  # let it resolve to 124 and start waiting
        fast = call(standin, "POST", f"/v1/models/{MODEL}/versions/123:predict", body)
        status = call(standin, "GET", f"/v1/models/{MODEL}/versions/124")
        metadata = call(standin, "GET", f"/v1/models/{MODEL}/versions/124/metadata")
        assert not slow.done(), "the delayed predict answered before the others"
        assert [fast[0], status[0], metadata[0]] == [200, 200, 200]
        assert fast[1] == {"predictions": [[2.5]]}
        assert slow.result(timeout=30) == {"predictions": [[2.5]]}
        assert time.monotonic() - started >= delay
