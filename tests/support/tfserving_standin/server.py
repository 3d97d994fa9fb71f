"""`StandIn`: the server's lifecycle and its REST API.

`StandIn` extends `core.ServerCore` with what TF Serving's Server, http_server.cc and
HttpRestApiHandler do: `start` loads the initial models and only then listens, `stop` cuts
every connection; requests are routed with the regexes of http_rest_api_util.cc and answered by
the status, metadata and :predict handlers, whose bodies go through `json_codec`; each REST
request is recorded in `metrics` as http_server.cc records it, and the Prometheus page is
served when a monitoring config enables it. The HTTP transport itself is `http_server`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_status_pb2

from .config import INT64_MAX, read_monitoring_config
from .core import ServerCore
from .errors import CODES, ServingError, code_name, first_line
from .http_server import HttpServer, ServingMetrics, path_only, uri_path
from .json_codec import (
    columnar_format_json,
    parse_json,
    row_format_json,
    tensors_from_inputs,
    tensors_from_instances,
)
from .rapidjson import debug_string

# http_rest_api_util.cc:31-34, matched (:102, :105) against the path with its query string
# (see uri_path); RE2 (?i) -> re.IGNORECASE, FullMatch -> fullmatch.
_V1_RE = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)

# kDefaultServingSignatureDefKey (tensorflow/cc/saved_model/signature_constants.h).
_DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY

_JSON = "application/json"  # http_rest_api_handler.cc AddHeaders, errors too
_TEXT = "text/plain"  # http_server.cc ProcessPrometheusRequest


def _now_micros() -> int:
    return time.monotonic_ns() // 1000  # Env::NowMicros, but immune to clock steps


class _RequestInfo:
    """The model_name and method out-parameters of HttpRestApiHandler::ProcessRequest, which
    http_server.cc records the request under; they keep what was parsed when an error
    interrupts the parsing (ParseModelInfo sets the name before converting the version)."""

    def __init__(self) -> None:
        self.model_name = ""
        self.method = ""


class StandIn(ServerCore):
    """TF Serving's REST API on (host, port), serving the models in ``config_path``.

    ``paths`` maps each ``base_path`` as written in models.config (a container path such as
    "/models/vgg16") to the host directory holding the version subdirectories. ``load_delay``
    maps a version number to seconds spent in LOADING before that version is loaded; it is the
    public, mutable ``load_delay`` attribute and may be changed while running.
    ``predict_delays`` maps a version number to seconds that a :predict served by that version
    waits before it answers (a slow model): the wait starts once the request has resolved to
    the version (by number, label or latest), so requests that fail before that, other
    versions, and the status and metadata APIs are not delayed. It is copied to the public,
    mutable ``predict_delays`` attribute, read at each request. Reload and filesystem errors
    are appended to the public ``errors`` list, worded like TF Serving's log.

    ``monitoring_config`` is ``--monitoring_config_file``: a text-format MonitoringConfig,
    read once by `start`. With ``prometheus_config { enable: true }`` the Prometheus page is
    served on this REST port at ``prometheus_config.path`` (default
    /monitoring/prometheus/metrics), as the operator's monitoring.config asks; without it that
    path is an empty 404, as in TF Serving. The requests are counted either way, in the public
    ``metrics`` (`http_server.ServingMetrics`), which `start` renews, as a new process would.
    """

    def __init__(
        self,
        host: str,
        port: int,
        config_path: Path,
        paths: Mapping[str, Path],
        poll_seconds: float = 0.5,
        load_delay: dict[int, float] | None = None,
        *,
        allow_labels_for_unavailable: bool = True,
        load_retries: int = 0,
        load_retry_interval: float = 0.0,
        predict_delays: Mapping[int, float] = {},
        monitoring_config: Path | None = None,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the TF Serving stand-in only binds loopback addresses, not {host}")
        self.host = host
        self.port = port
        super().__init__(
            config_path,
            paths,
            poll_seconds,
            load_delay,
            allow_labels_for_unavailable=allow_labels_for_unavailable,
            load_retries=load_retries,
            load_retry_interval=load_retry_interval,
        )
        self.predict_delays: dict[int, float] = dict(predict_delays)
        self.monitoring_config = Path(monitoring_config) if monitoring_config else None
        self.metrics = ServingMetrics()
        self._metrics_path: str | None = None
        self._server: HttpServer | None = None
        self._serving = False
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 60.0) -> StandIn:
        """Load the initial models, then listen. Raises if they do not become available.

        Like tensorflow_model_server, the port refuses connections until the initial load is
        done: the socket is bound first (so port 0 gets its number, exposed as ``.port``) but
        only starts listening afterwards.
        """
        if self._server is not None:
            raise RuntimeError("the TF Serving stand-in is already running")
        self._stop = threading.Event()
        self._reset()
        self.metrics = ServingMetrics()
        self._metrics_path = None
        server = HttpServer((self.host, self.port), self._respond)
        self._server = server
        self.port = server.server_address[1]
        try:
            new_models, after = self._reload(self._read_config())
            self._spawn(self._load_loop, "loader")
            if self.poll_seconds > 0:
                self._spawn(self._fs_poll_loop, "fs-poll")
            problem = self._await_models(new_models, after, timeout, settle=True)
            if problem:
                raise RuntimeError(f"TF Serving stand-in failed to start: {problem}")
            if self.monitoring_config is not None:
                # server.cc BuildAndStart reads it after the initial load, before the HTTP
                # server starts; an error there fails the start ("Failed to start server").
                try:
                    self._metrics_path = read_monitoring_config(self.monitoring_config)
                except ServingError as err:
                    raise RuntimeError(
                        f"TF Serving stand-in failed to start: {err.code}: {err.message}"
                    ) from err
            server.server_activate()
            self._serving = True
            self._spawn(lambda: server.serve_forever(poll_interval=0.05), "http")
            if self.poll_seconds > 0:
                self._spawn(self._config_poll_loop, "config-poll")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and release the port. Safe to call twice."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        server, self._server = self._server, None
        if server is not None:
            if self._serving:
                server.shutdown()
            server.close_connections()
            server.server_close()
        self._serving = False
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)
        self._threads = []
        with self._lock:
            for versions in self._models.values():
                for servable in versions.values():
                    servable.model = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], what: str) -> None:
        thread = threading.Thread(
            target=target, name=f"tfserving-standin-{what}-{self.host}:{self.port}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    # ---------------------------------------------------------------- address

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- request handling

    def _respond(self, method: str, raw_path: str, body: bytes) -> tuple[int, str, bytes]:
        path = uri_path(raw_path)
        if self._metrics_path is not None and path_only(path) == self._metrics_path:
            return self._prometheus(path)
        if not _V1_RE.fullmatch(path):
            return 404, "", b""  # no handler registered: the HTTP server's bare 404
        # http_server.cc RestApiRequestDispatcher::ProcessRequest: every request the REST
        # handler gets is counted under the model name it parsed ("" if none) and its status;
        # only a successful one records its latency, under API = the parsed method
        # ("predict", "classify", "regress"; "" for the GET APIs) and entrypoint "REST".
        start = _now_micros()
        info = _RequestInfo()
        try:
            status, code, payload = 200, "OK", json.dumps(self._dispatch(method, path, body, info))
        except ServingError as err:
            status, code, payload = err.http_status, err.code, json.dumps({"error": err.message})
        data = payload.encode()
        if code == "OK":
            self.metrics.record_request_latency(
                info.model_name, info.method, "REST", _now_micros() - start
            )
        self.metrics.record_request_count(info.model_name, code)
        return status, _JSON, data

    def _prometheus(self, path: str) -> tuple[int, str, bytes]:
        """http_server.cc ProcessPrometheusRequest: the page, or 400 if a query or fragment
        follows the path (the handler compares the whole uri_path with it). Not counted."""
        if path != self._metrics_path:
            message = f"Unexpected path: {path}. Should be {self._metrics_path}"
            return 400, _TEXT, message.encode()
        return 200, _TEXT, self.metrics.page().encode()

    def _dispatch(self, method: str, path: str, body: bytes, info: _RequestInfo) -> Any:
        """HttpRestApiHandler::ProcessRequest; fills `info` as ParseModelInfo goes."""
        match = None
        if method == "POST":
            match = _PREDICT_RE.fullmatch(path)
        elif method == "GET":
            match = _STATUS_RE.fullmatch(path)
        name = urllib.parse.unquote(match.group(1) or "") if match else ""
        info.model_name = name
        if match and method == "POST":
            info.method = match.group(4)  # for GET the 4th group is the subresource
        version = _parse_version(match.group(2)) if match and match.group(2) else None
        label = urllib.parse.unquote(match.group(3)) if match and match.group(3) else None
        if match and method == "POST":
            verb = match.group(4)
            if verb == "predict":
                return self._predict(name, version, label, body)
            if verb in ("classify", "regress"):
                raise ServingError(
                    "UNIMPLEMENTED", f"the TF Serving stand-in does not implement :{verb}"
                )
        elif match and method == "GET":
            if not name:
                raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
            if match.group(4) == "metadata":
                return self._metadata(name, version, label)
            return self._status(name, version)  # the label, if any, is ignored: TF does too
        raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")

    def _status(self, name: str, version: int | None) -> Any:
        """GetModelStatusImpl, printed like MessageToJsonString(always_print_primitive_fields)."""
        with self._lock:
            versions = self._models.get(name, {})
            if version is not None:
                if version not in versions:
                    raise ServingError(
                        "NOT_FOUND", f"Could not find version {version} of model {name}"
                    )
                entries = [versions[version]]
            else:
                if not versions:
                    raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
                entries = sorted(versions.values(), key=lambda s: -s.version)
            response = get_model_status_pb2.GetModelStatusResponse()
            for servable in entries:
                item = response.model_version_status.add()
                item.version = servable.version
                item.state = get_model_status_pb2.ModelVersionStatus.State.Value(servable.state)
                item.status.SetInParent()
                item.status.error_code = CODES.values_by_name[servable.error_code].number
                item.status.error_message = servable.error_message
        return _to_dict(response)

    def _metadata(self, name: str, version: int | None, label: str | None) -> Any:
        handle = self._handle(name, version, label)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(handle.version)},
            "metadata": {"signature_def": _to_dict(handle.signature_defs)},
        }

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> Any:
        """FillPredictRequestFromJson + TensorflowPredictor::Predict + MakeJsonFromTensors."""
        doc = parse_json(body)
        signature_name = doc.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {debug_string(doc)} not formatted correctly. "
                "'signature_name' key must be a string value.",
            )
        handle = self._handle(name, version, label)
        delay = float(self.predict_delays.get(handle.version, 0.0))
        waited = _now_micros()
        if delay > 0:
            self._stop.wait(delay)  # holds the handle, as a slow Session::Run would
        waited = _now_micros() - waited
        key = signature_name or _DEFAULT_SIGNATURE
        if key not in handle.signature_defs.signature_def:
            raise ServingError(
                "INVALID_ARGUMENT", f'Serving signature name: "{key}" not found in signature def'
            )
        signature = handle.signature_defs.signature_def[key]
        infos = {n: tf.dtypes.as_dtype(info.dtype) for n, info in signature.inputs.items()}
        if not infos:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Failed to get input map for signature: {signature_name or 'DEFAULT'}",
            )
        if "instances" in doc:
            if "inputs" in doc:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only "
                    "one of 'inputs' or 'instances' keys to exist ",
                )
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {debug_string(doc)} Excepting 'instances' to be an list/array",
                )
            if not instances:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {debug_string(doc)} No values in 'instances' array",
                )
            row_format, tensors = True, tensors_from_instances(instances, infos)
        elif "inputs" in doc:
            row_format, tensors = False, tensors_from_inputs(doc["inputs"], infos)
        else:
            raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
        function = handle.model.signatures.get(key)
        if function is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        started = _now_micros()
        try:
            outputs = function(**tensors)
        except tf.errors.OpError as err:
            raise ServingError(code_name(err.error_code), first_line(err.message)) from err
        except (TypeError, ValueError) as err:
            raise ServingError("INVALID_ARGUMENT", first_line(str(err))) from err
        # predict_util.cc RunPredict: the time of Session::Run alone, if it succeeded; the
        # predict delay stands for a slow Session::Run, so it counts too.
        runtime = _now_micros() - started + waited
        self.metrics.record_runtime_latency(name, "Predict", "TF1", runtime)
        if not outputs:
            raise ServingError("INVALID_ARGUMENT", "Cannot convert empty tensor map to JSON")
        return row_format_json(outputs) if row_format else columnar_format_json(outputs)


def _parse_version(text: str) -> int:
    version = int(text)
    if version > INT64_MAX:
        raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {text} to numeric.")
    return version


def _to_dict(message: Any) -> Any:
    # TF Serving prints with always_print_primitive_fields and preserve_proto_field_names.
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
