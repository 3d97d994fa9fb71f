"""A stand-in for TensorFlow Serving's REST API. FOR TESTS ONLY.

No ``tensorflow_model_server`` binary can be installed on the machines these tests run on, so
integration tests start one `StandIn` per fake pod, bound on that pod's loopback IP and port
8501 (for example 127.10.0.7:8501), and the operator dials exactly what it would dial in a
cluster. It is not a model server: it is a small, single-process imitation of the parts of
TF Serving the operator depends on, written against the TF Serving sources (2.20/2.21):

* models.config is parsed with the real ``ModelServerConfig`` proto and re-read every
  ``poll_seconds`` (``--model_config_file_poll_wait_seconds``); version directories are
  re-scanned on the same period (``--file_system_poll_wait_seconds``).
* Loading follows the AvailabilityPreservingPolicy: a new version is loaded (highest first)
  before versions that left the policy are unloaded. Versions are loaded with the real
  ``tf.saved_model.load``; one load at a time. States: START, LOADING, AVAILABLE, UNLOADING,
  END. END entries stay in the status list until restart, as in TF Serving (serving#1488).
* ServerCore::ReloadConfig order: the new label map is checked against the versions that are
  AVAILABLE *before* anything is loaded, on the first config too. With
  ``allow_labels_for_unavailable`` (``--allow_version_labels_for_unavailable_models``) a new
  label, or one that keeps its version, may point at an unavailable version; moving an existing
  label needs the target AVAILABLE. One bad label rejects the whole reload and the previous
  config (policy and labels) stays in force; the file is re-applied on every poll, so the
  rejection repeats until the file changes, as TF Serving logs it on every poll.
* The server does not listen until the initial models have loaded, and refuses to start if a
  model's newest version fails to load ("N model(s) did not become available").
* REST paths, error texts and HTTP codes follow http_rest_api_handler.cc, json_tensor.cc and
  get_model_status_impl.cc. Note what real TF Serving does and this copy keeps:
  ``GET /v1/models/m/labels/l`` returns the status of ALL versions (the status API ignores the
  label, and does not even check that it exists); to see where a label points, use
  ``/labels/l/metadata`` (``model_spec.version``) or ``/labels/l:predict``. An unknown label is
  400, not 404. A path outside ``/v1/`` gets an empty 404; a malformed ``/v1/`` path gets 400.
  The paths are matched with their query string, as TF Serving does: ``GET /v1/models/m?x=1``
  asks for a model named "m?x=1" (404) and ``POST /v1/models/m:predict?x=1`` is malformed (400).
* Request bodies are read as TF Serving's rapidjson 1.1.0 reads them (a port of its iterative
  parser and number parsing): text after the first JSON value is ignored, NaN/Infinity/Inf are
  numbers, nesting has no limit, parse errors carry rapidjson's message and byte offset, and
  numbers get rapidjson's values (an integer of any size converts to a float input; a number
  beyond float range is +/-Infinity there; an exponent beyond 308 is "Number too big to be
  stored in double."). "JSON Value: ..." texts in errors are written like rapidjson's
  PrettyWriter, cut at 256 bytes; only the digits of a double that needs 17 of them may
  differ (Grisu2 does not always pick the shortest digits; Python does). Duplicate keys keep
  the last value here (rapidjson's FindMember finds the first).

Not imitated: gRPC, :classify and :regress (501 here), batching, warmup, metrics, the model
server flags other than the ones above, CORS and OPTIONS. Response bodies hold the same JSON
values as TF Serving's but not the same bytes: TF Serving pretty-prints them (protobuf's
add_whitespace for status and metadata, rapidjson's PrettyWriter for predictions and errors),
the stand-in writes compact JSON. Load retries default to none here (TF Serving's
defaults are 5 retries one minute apart, keeping the version in LOADING meanwhile); pass
``load_retries``/``load_retry_interval`` to imitate them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import decimal
import ipaddress
import json
import math
import os
import posixpath
import re
import shutil
import socket
import socketserver
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import json_format, text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

__all__ = [
    "AVAILABLE",
    "END",
    "LOADING",
    "START",
    "UNLOADING",
    "ServingError",
    "StandIn",
    "make_broken_version",
    "make_saved_model",
]

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"

# tensorflow.error.Code, as the status JSON spells it ("OK", "DATA_LOSS", ...).
_CODES = (
    get_model_status_pb2.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"]
    .message_type.fields_by_name["error_code"]
    .enum_type
)

# http_server.cc ToHTTPStatusCode.
_HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

# http_rest_api_util.cc:31-34, matched (:102, :105) against the path with its query string
# (see _uri_path); RE2 (?i) -> re.IGNORECASE, FullMatch -> fullmatch.
_V1_RE = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_VERSION_DIR_RE = re.compile(r"[0-9]+")
_INT64_MAX = 2**63 - 1
_DEFAULT_SIGNATURE = "serving_default"


class ServingError(Exception):
    """A TF Serving status: a tensorflow.error.Code name and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


class _Stopped(Exception):
    """Raised inside a waiting thread when the stand-in is stopped under it."""


@dataclass
class _Servable:
    """One version as the manager and the ServableStateMonitor see it."""

    version: int
    path: Path
    state: str = START
    error_code: str = "OK"
    error_message: str = ""
    aspired: bool = True
    # False once the manager has let go of it (END); a later re-aspire starts a new load.
    managed: bool = True
    seq: int = 0  # event number of the last state change, to wait on "events since X"
    model: Any = None
    signature_defs: get_model_metadata_pb2.SignatureDefMap | None = None


@dataclass(frozen=True)
class _Handle:
    """What a request holds on to, so an unload during the request cannot pull it away."""

    name: str
    version: int
    model: Any
    signature_defs: get_model_metadata_pb2.SignatureDefMap


class StandIn:
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
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the TF Serving stand-in only binds loopback addresses, not {host}")
        self.host = host
        self.port = port
        self.config_path = Path(config_path)
        self.paths = {_norm_base(base): Path(path) for base, path in paths.items()}
        self.poll_seconds = poll_seconds
        self.load_delay: dict[int, float] = load_delay if load_delay is not None else {}
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self.load_retries = load_retries
        self.load_retry_interval = load_retry_interval
        self.predict_delays: dict[int, float] = dict(predict_delays)
        self.errors: list[str] = []

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified on every state change
        self._scan_lock = threading.Lock()  # one filesystem scan at a time, never a stale one
        self._stop = threading.Event()
        self._server: _HttpServer | None = None
        self._serving = False
        self._threads: list[threading.Thread] = []
        self._reset()

    def _reset(self) -> None:
        """Forget everything a restarted TF Serving process would not remember."""
        self._models: dict[str, dict[int, _Servable]] = {}
        self._configs: dict[str, model_server_config_pb2.ModelConfig] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._seq = 0
        self._fs_errors_logged: set[str] = set()

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
        server = _HttpServer((self.host, self.port), self)
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

    # ---------------------------------------------------------------- test helpers

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def served(self, model: str) -> dict[int, str]:
        """Version -> state name, END entries included (what the status API lists)."""
        with self._lock:
            return {v: s.state for v, s in self._models.get(model, {}).items()}

    def labels(self, model: str) -> dict[str, int]:
        """The label map in force for `model` (after the last accepted reload)."""
        with self._lock:
            return dict(self._labels.get(model, {}))

    def wait_state(self, model: str, version: int, state: str, timeout: float = 10.0) -> None:
        """Block until `version` of `model` is in `state`; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.served(model).get(version) != state:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{model} version {version} not {state} after {timeout}s: "
                        f"{self.served(model)}; errors: {self.errors}"
                    )
                self._changed.wait(min(remaining, 0.1))

    # ---------------------------------------------------------------- config

    def _read_config(self) -> model_server_config_pb2.ModelServerConfig:
        try:
            text = self.config_path.read_text()
        except OSError as err:
            raise ServingError("NOT_FOUND", f"{self.config_path}: {err}") from err
        try:
            return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
        except text_format.ParseError as err:
            raise ServingError("INVALID_ARGUMENT", f"{self.config_path}: {err}") from err

    def _reload(self, config: model_server_config_pb2.ModelServerConfig) -> tuple[set[str], int]:
        """ServerCore::ReloadConfig: validate, swap labels, then change models.

        Returns the models new in this config and the event number to wait from; the caller
        waits for them (at start with a timeout; on a poll forever, as TF Serving does).
        """
        choice = config.WhichOneof("config")
        if choice is None:
            return set(), self._seq  # "Taking no action for empty config."
        if choice != "model_config_list":
            raise ServingError(
                "FAILED_PRECONDITION",
                "Cannot transition to requested config. It is only legal to transition "
                "from one ModelConfigList to another.",
            )
        model_list = config.model_config_list
        _validate(model_list)
        with self._lock:
            # The label map is checked and swapped before any model changes: a rejected
            # label leaves the old config entirely in force.
            self._labels = self._new_label_map(model_list)
            old_names = set(self._configs)
            configs = {}
            for model_config in model_list.config:
                copy = model_server_config_pb2.ModelConfig()
                copy.CopyFrom(model_config)
                configs[model_config.name] = copy
            self._configs = configs
            after = self._seq
            for name in self._models:
                if name not in configs:  # UpdateConfig un-aspires removed models at once
                    self._set_aspired(name, {})
        self._scan()
        return set(configs) - old_names, after

    def _new_label_map(self, model_list: Any) -> dict[str, dict[str, int]]:
        """ServerCore::UpdateModelVersionLabelMap (called with the lock held)."""
        new: dict[str, dict[str, int]] = {}
        for model_config in model_list.config:
            name = model_config.name
            versions = self._models.get(name, {})
            for label, version in sorted(model_config.version_labels.items()):
                allow = False
                if self.allow_labels_for_unavailable:
                    existing = self._labels.get(name, {}).get(label)
                    allow = existing is None or existing == version
                servable = versions.get(version)
                if not allow and (servable is None or servable.state != AVAILABLE):
                    raise ServingError(
                        "FAILED_PRECONDITION",
                        f"Request to assign label to version {version} of model {name}, "
                        "which is not currently available for inference",
                    )
                new.setdefault(name, {})[label] = version
        return new

    def _config_poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._poll_config()

    def _poll_config(self) -> None:
        """Server::PollFilesystemAndReloadConfig."""
        try:
            config = self._read_config()
        except ServingError as err:
            self.errors.append(f"Failed to read ModelServerConfig file: {err.message}")
            return
        try:
            new_models, after = self._reload(config)
            problem = self._await_models(new_models, after, None)
        except ServingError as err:
            self.errors.append(
                f"PollFilesystemAndReloadConfig failed to ReloadConfig: {err.message}"
            )
        except _Stopped:
            return
        else:
            if problem:
                self.errors.append(
                    f"PollFilesystemAndReloadConfig failed to ReloadConfig: {problem}"
                )

    # ---------------------------------------------------------------- filesystem source

    def _fs_poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._scan()

    def _scan(self) -> None:
        """FileSystemStoragePathSource: aspire the versions each policy picks from disk."""
        with self._scan_lock:
            with self._lock:
                configs = self._configs
            chosen: dict[str, dict[int, Path]] = {}
            for name, model_config in configs.items():
                base = self.paths.get(_norm_base(model_config.base_path))
                if base is None or not base.is_dir():
                    # TF Serving fails the whole poll rather than aspire nothing for a path
                    # that may only be missing for a moment.
                    self._log_once(
                        f"File system storage path source: Could not find base path "
                        f"{model_config.base_path} for servable {name}"
                    )
                    return
                chosen[name] = _pick_versions(model_config, _version_dirs(base))
            with self._lock:
                if self._configs is not configs:
                    return  # a reload replaced the config meanwhile; it scans again itself
                for name, versions in chosen.items():
                    self._set_aspired(name, versions)

    def _log_once(self, line: str) -> None:
        if line not in self._fs_errors_logged:
            self._fs_errors_logged.add(line)
            self.errors.append(line)

    def _set_aspired(self, name: str, chosen: dict[int, Path]) -> None:
        """AspiredVersionsManager::SetAspiredVersions (called with the lock held)."""
        versions = self._models.setdefault(name, {})
        for version, path in chosen.items():
            servable = versions.get(version)
            if servable is None or not servable.managed:
                versions[version] = _Servable(version, path)
                self._publish(versions[version], START)
            elif servable.state != UNLOADING:  # re-aspired while unloading: retried later
                servable.aspired = True
        for version, servable in versions.items():
            if servable.managed and servable.aspired and version not in chosen:
                servable.aspired = False
                if servable.state == END:  # failed load: forget it, a re-aspire retries
                    servable.managed = False
                elif servable.state == START:  # never started loading: just dropped
                    servable.managed = False
                    self._publish(servable, END)
        self._changed.notify_all()

    # ---------------------------------------------------------------- manager

    def _publish(self, servable: _Servable, state: str) -> None:
        """Record a state change, as the event bus feeds the ServableStateMonitor."""
        self._seq += 1
        servable.state = state
        servable.seq = self._seq
        self._changed.notify_all()

    def _next_action(self) -> tuple[str, _Servable] | None:
        """AvailabilityPreservingPolicy::GetNextAction over every model (lock held)."""
        for name in sorted(self._models):
            managed = [s for s in self._models[name].values() if s.managed]
            aspired = [s for s in managed if s.aspired]
            aspired_serving = any(s.state == AVAILABLE for s in aspired)
            unaspired_serving = [s for s in managed if not s.aspired and s.state == AVAILABLE]
            if unaspired_serving and (not aspired or aspired_serving or len(unaspired_serving) > 1):
                return "unload", min(unaspired_serving, key=lambda s: s.version)
            new = [s for s in aspired if s.state == START]
            if new:
                return "load", max(new, key=lambda s: s.version)
        return None

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                action = self._next_action()
                if action is None:
                    self._changed.wait(0.2)
                    continue
                kind, servable = action
                self._publish(servable, LOADING if kind == "load" else UNLOADING)
            if kind == "load":
                self._load(servable)
            else:
                with self._changed:
                    servable.model = None
                    servable.managed = False
                    self._publish(servable, END)

    def _load(self, servable: _Servable) -> None:
        delay = float(self.load_delay.get(servable.version, 0.0))
        if delay > 0 and self._stop.wait(delay):
            return
        model: Any = None
        signature_defs = None
        error: ServingError | None = None
        attempt = 0
        while True:
            try:
                model, signature_defs = _load_saved_model(servable.path)
                error = None
                break
            except Exception as err:  # any load failure is the version's status, not ours
                error = _status_of(err)
            with self._lock:
                give_up = attempt >= self.load_retries or not servable.aspired
            if give_up or self._stop.wait(self.load_retry_interval):
                break
            attempt += 1
        if self._stop.is_set():
            return
        with self._changed:
            if error is None:
                servable.model = model
                servable.signature_defs = signature_defs
                self._publish(servable, AVAILABLE)
            else:
                servable.error_code, servable.error_message = error.code, error.message
                if not servable.aspired:
                    servable.managed = False
                self._publish(servable, END)

    def _await_models(
        self, names: set[str], after: int, timeout: float | None, settle: bool = False
    ) -> str | None:
        """ServerCore::WaitUntilModelsAvailable on a monitor that saw only events after `after`.

        For each model, the first version (highest first) that reached AVAILABLE or END
        decides. Returns TF Serving's error text if one of them is not AVAILABLE. With
        `settle`, also wait until no aspired version is still START/LOADING: TF Serving's fast
        initial load finishes the loads it started before the port opens.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                reached: dict[str, _Servable] = {}
                for name in sorted(names):
                    candidates = sorted(
                        (s for s in self._models.get(name, {}).values() if s.seq > after),
                        key=lambda s: -s.version,
                    )
                    hit = next((s for s in candidates if s.state in (AVAILABLE, END)), None)
                    if hit is not None:
                        reached[name] = hit
                busy = settle and any(
                    s.managed and s.aspired and s.state in (START, LOADING)
                    for name in names
                    for s in self._models.get(name, {}).values()
                )
                if len(reached) == len(names) and not busy:
                    break
                if self._stop.is_set():
                    raise _Stopped
                wait = 0.1
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise TimeoutError(
                            f"models not loaded after {timeout}s: "
                            f"{sorted(set(names) - set(reached))}; errors: {self.errors}"
                        )
                self._changed.wait(wait)
        failed = [(n, s) for n, s in sorted(reached.items()) if s.state != AVAILABLE]
        if not failed:
            return None
        parts = ""
        for name, servable in failed:
            why = ""
            if servable.error_code != "OK":
                why = f" due to error: {servable.error_code}: {servable.error_message}"
            parts += f"{{{{name: {name} version: {servable.version}}}{why}}}, "
        return f"{len(failed)} model(s) did not become available: {{{parts}}}"

    # ---------------------------------------------------------------- request handling

    def _respond(self, method: str, raw_path: str, body: bytes) -> tuple[int, bytes]:
        path = _uri_path(raw_path)
        if not _V1_RE.fullmatch(path):
            return 404, b""  # no handler registered: the HTTP server's bare 404
        try:
            result = self._dispatch(method, path, body)
        except ServingError as err:
            return err.http_status, json.dumps({"error": err.message}).encode()
        return 200, json.dumps(result).encode()

    def _dispatch(self, method: str, path: str, body: bytes) -> Any:
        """HttpRestApiHandler::ProcessRequest."""
        match = None
        if method == "POST":
            match = _PREDICT_RE.fullmatch(path)
        elif method == "GET":
            match = _STATUS_RE.fullmatch(path)
        name = urllib.parse.unquote(match.group(1) or "") if match else ""
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
                item.status.error_code = _CODES.values_by_name[servable.error_code].number
                item.status.error_message = servable.error_message
        return _to_dict(response)

    def _handle(self, name: str, version: int | None, label: str | None) -> _Handle:
        """ServerCore::GetServableHandle: label -> version; only AVAILABLE versions serve."""
        with self._lock:
            if label is not None:
                labelled = self._labels.get(name, {}).get(label)
                if labelled is None:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = labelled
            available = [s for s in self._models.get(name, {}).values() if s.state == AVAILABLE]
            if version is None:
                servable = max(available, key=lambda s: s.version, default=None)
                request = f"Latest({name})"
            else:
                servable = next((s for s in available if s.version == version), None)
                request = f"Specific({name}, {version})"
            if servable is None or servable.signature_defs is None:
                raise ServingError("NOT_FOUND", f"Servable not found for request: {request}")
            return _Handle(name, servable.version, servable.model, servable.signature_defs)

    def _metadata(self, name: str, version: int | None, label: str | None) -> Any:
        handle = self._handle(name, version, label)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(handle.version)},
            "metadata": {"signature_def": _to_dict(handle.signature_defs)},
        }

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> Any:
        """FillPredictRequestFromJson + TensorflowPredictor::Predict + MakeJsonFromTensors."""
        doc = _parse_json(body)
        signature_name = doc.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {_js(doc)} not formatted correctly. "
                "'signature_name' key must be a string value.",
            )
        handle = self._handle(name, version, label)
        delay = float(self.predict_delays.get(handle.version, 0.0))
        if delay > 0:
            self._stop.wait(delay)  # holds the handle, as a slow Session::Run would
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
                    f"JSON Value: {_js(doc)} Not formatted correctly expecting only one of "
                    "'inputs' or 'instances' keys to exist ",
                )
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {_js(doc)} Excepting 'instances' to be an list/array",
                )
            if not instances:
                raise ServingError(
                    "INVALID_ARGUMENT", f"JSON Value: {_js(doc)} No values in 'instances' array"
                )
            row_format, tensors = True, _tensors_from_instances(instances, infos)
        elif "inputs" in doc:
            row_format, tensors = False, _tensors_from_inputs(doc["inputs"], infos)
        else:
            raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
        function = handle.model.signatures.get(key)
        if function is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        try:
            outputs = function(**tensors)
        except tf.errors.OpError as err:
            raise ServingError(_code_name(err.error_code), _first_line(err.message)) from err
        except (TypeError, ValueError) as err:
            raise ServingError("INVALID_ARGUMENT", _first_line(str(err))) from err
        if not outputs:
            raise ServingError("INVALID_ARGUMENT", "Cannot convert empty tensor map to JSON")
        return _rows(outputs) if row_format else _columns(outputs)


# -------------------------------------------------------------------- HTTP server


class _HttpServer(ThreadingHTTPServer):
    """Binds at construction but listens only on server_activate(); can drop live connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: StandIn) -> None:
        super().__init__(address, _Handler, bind_and_activate=False)
        self.standin = standin
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        try:
            self.server_bind()
        except BaseException:
            self.server_close()
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS lookup (getfqdn); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections too: a stopped pod must not keep answering."""
        with self._open_lock:
            for conn in self._open:
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's libevent server
    timeout = 30  # an idle keep-alive connection does not pin a thread forever
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: integration tests make many requests."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        status, payload = self.server.standin._respond(method, self.path, self._read_body())
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


# -------------------------------------------------------------------- config and disk


def _uri_path(target: str) -> str:
    r"""EvHTTPRequest::uri_path(): the path *with* "?query" and "#fragment", as TF Serving sees it.

    util/net_http/server/internal/evhttp_request.cc:105-116 builds path_and_query = path + "?"
    + query + "#" + fragment, uri_path() returns it (:136), and model_servers/http_server.cc
    hands that to kPathRegex (:141) and ProcessRequest (:180). So the
    query is part of what the regexes of http_rest_api_util.cc match: in kModelStatusApiRegex
    `([^/:]+)` takes "M?x=1" as the model name (404 "Could not find any versions of model
    M?x=1"), while `(\d+)`, `(metadata)` and `:(predict)` do not fully match with a query
    after them (400 "Malformed request"). Only an absolute-form target loses its scheme and
    authority, as evhttp_uri_parse does.
    """
    if target.startswith("/"):
        return target
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
    rest = target[match.end() :] if match else target
    return rest if rest.startswith("/") else "/" + rest


def _norm_base(base_path: str) -> str:
    return posixpath.normpath(base_path) if base_path else base_path


def _validate(model_list: Any) -> None:
    """ValidateModelConfigList, plus the platform checks of GetPlatform/CreateStoragePathRoutes."""
    seen: set[str] = set()
    for model_config in model_list.config:
        name = model_config.name
        if name in seen:
            raise ServingError(
                "INVALID_ARGUMENT", f"Illegal to list model {name} multiple times in config list"
            )
        seen.add(name)
        if "://" not in model_config.base_path and not posixpath.isabs(model_config.base_path):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expected model {name} to have an absolute path or URI; "
                f"got base_path()={model_config.base_path}",
            )
        platform = model_config.model_platform
        if model_config.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
            if platform:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                    "ModelServerConfig::model_platform.",
                )
            if model_config.model_type != model_server_config_pb2.TENSORFLOW:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"ModelServerConfig::model_type choice {model_config.model_type} "
                    "not supported.",
                )
            platform = "tensorflow"
        if not platform:
            raise ServingError(
                "INVALID_ARGUMENT",
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                "ModelServerConfig::model_platform.",
            )
        if platform != "tensorflow":
            raise ServingError(
                "INVALID_ARGUMENT", f"Model {name} requests unsupported platform {platform}"
            )


def _version_dirs(base: Path) -> dict[int, Path]:
    """Subdirectories named by an int64 are versions; anything else (".tmp-3") is not."""
    found: dict[int, Path] = {}
    try:
        children = sorted(base.iterdir())
    except OSError:
        return found
    for child in children:
        if _VERSION_DIR_RE.fullmatch(child.name) and child.is_dir():
            version = int(child.name)
            if version <= _INT64_MAX:
                found.setdefault(version, child)
    return found


def _pick_versions(
    model_config: model_server_config_pb2.ModelConfig, on_disk: dict[int, Path]
) -> dict[int, Path]:
    """The servable_version_policy of FileSystemStoragePathSource; default latest 1."""
    policy = model_config.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return dict(on_disk)
    if choice == "specific":
        wanted = set(policy.specific.versions)
        return {v: p for v, p in on_disk.items() if v in wanted}
    count = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return {v: on_disk[v] for v in sorted(on_disk, reverse=True)[:count]}


def _load_saved_model(path: Path) -> tuple[Any, get_model_metadata_pb2.SignatureDefMap]:
    """Load with real TensorFlow; the signature defs come from the MetaGraphDef, as TF's do."""
    model = tf.saved_model.load(str(path), tags=["serve"])
    saved = saved_model_pb2.SavedModel()
    binary = path / "saved_model.pb"
    if binary.exists():
        saved.ParseFromString(binary.read_bytes())
    else:
        text_format.Parse((path / "saved_model.pbtxt").read_text(), saved)
    meta = next(
        (m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), saved.meta_graphs[0]
    )
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in meta.signature_def.items():
        signature_defs.signature_def[key].CopyFrom(signature)
    return model, signature_defs


def _status_of(err: BaseException) -> ServingError:
    """The status a failed load leaves on the version; codes as the C++ loader reports them."""
    if isinstance(err, tf.errors.OpError):
        return ServingError(_code_name(err.error_code), _first_line(err.message))
    message = _first_line(str(err)) or type(err).__name__
    if isinstance(err, FileNotFoundError) or "does not exist" in message:
        return ServingError("NOT_FOUND", message)
    if isinstance(err, OSError | DecodeError):
        return ServingError("DATA_LOSS", message)
    return ServingError("UNKNOWN", message)


def _code_name(number: int) -> str:
    value = _CODES.values_by_number.get(number)
    return value.name if value is not None else "UNKNOWN"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _parse_version(text: str) -> int:
    version = int(text)
    if version > _INT64_MAX:
        raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {text} to numeric.")
    return version


def _to_dict(message: Any) -> Any:
    # TF Serving prints with always_print_primitive_fields and preserve_proto_field_names.
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


# -------------------------------------------------------------------- JSON <-> tensors


def _parse_json(body: bytes) -> dict[str, Any]:
    """json_tensor.cc ParseJson: TF Serving's own empty check, then rapidjson, then "object?".

    rapidjson 1.1.0 (tensorflow_serving/workspace.bzl) parses with kParseIterativeFlag |
    kParseNanAndInfFlag | kParseStopWhenDoneFlag (util/json_tensor.cc:483-486 at 2.20.0; the
    flags came with serving commit 6cb01316, first in 2.18): no nesting limit, NaN/Inf/Infinity
    accepted, and parsing stops at the end of the first value (rapidjson reader.h:1842), so
    text after the body is ignored -- before 2.18 it was "The document root must not be
    followed by other values.". Errors read "JSON Parse error: <GetParseError_En> at offset: N".
    """
    if not body:
        raise ServingError("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
    try:
        doc = _read_json(body)
    except _JsonError as err:
        raise ServingError(
            "INVALID_ARGUMENT", f"JSON Parse error: {err.text} at offset: {err.offset}"
        ) from None
    if not isinstance(doc, dict):
        raise ServingError("INVALID_ARGUMENT", f"JSON Value: {_js(doc)} Is not object")
    return doc


class _JsonError(Exception):
    """A rapidjson parse error: the GetParseError_En text and GetErrorOffset (in bytes)."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(f"{text} at offset: {offset}")
        self.text = text
        self.offset = offset


_JSON_WS = b" \t\n\r"
# A \uD800-\uDFFF escape: rapidjson rejects an unpaired high surrogate and keeps a lone low one
# as its 3 raw bytes, where Python's json differs; such bodies take the exact (slow) path.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_POW10 = [float(f"1e{e}") for e in range(309)]  # rapidjson internal/pow10.h


def _read_json(body: bytes) -> Any:
    """rapidjson 1.1.0 ParseStream<kParseIterativeFlag|kParseNanAndInfFlag|kParseStopWhenDone>.

    Strings come back as their UTF-8 bytes decoded with "surrogateescape" (rapidjson does not
    validate UTF-8: bytes that are not UTF-8 reach a string tensor unchanged). Python's json
    parses the usual body; it is only a fast path: numbers go through the port of rapidjson's
    ParseNumber, and whenever Python's json fails or may differ the port of the iterative
    parser decides, so errors carry rapidjson's message and byte offset.
    """
    pos = 0
    # EncodedInputStream<UTF8<>, MemoryStream> skips the bytes of a UTF-8 BOM (offsets count them).
    for byte in (0xEF, 0xBB, 0xBF):
        if pos < len(body) and body[pos] == byte:
            pos += 1
    while pos < len(body) and body[pos] in _JSON_WS:
        pos += 1
    # The fast path only for an object or array: its end is its closing bracket. After a
    # number at the root (not an object, so an error anyway) Python stops where rapidjson
    # may still read on ("2e" is "Miss exponent in number.").
    if body[pos : pos + 1] in (b"{", b"[") and not _SURROGATE_ESCAPE.search(body, pos):
        try:
            return _FAST_JSON.raw_decode(body[pos:].decode("utf-8", "surrogateescape"))[0]
        except (ValueError, RecursionError, _JsonError):
            pass
    return _rj_parse(body, pos)


_PLAIN_INT = re.compile(r"-?[0-9]{1,18}")
_PLAIN_DECIMAL = re.compile(r"-?([0-9]{1,18})(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]{1,5}))?")
_SIGNIFICAND_MAX = 0x1FFFFFFFFFFFFF  # 2^53 - 1, ParseNumber's limit for the exact significand


def _number_hook(token: str) -> Any:
    """parse_int/parse_float of the fast path: the value rapidjson gives the number token."""
    if _PLAIN_INT.fullmatch(token):
        return int(token)  # fits int64: Int/Uint/Int64
    match = _PLAIN_DECIMAL.fullmatch(token)
    if match:
        whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
        return _rj_decimal(token[0] == "-", whole, fraction, int(exponent or 0))
    value, _ = _rj_number(token.encode("ascii"), 0)
    return value


def _rj_decimal(minus: bool, whole: str, fraction: str, exponent: int) -> float:
    """_rj_number's double for a number whose integer part has at most 18 digits, computed
    from slices instead of digit by digit (the fast path parses whole tensors with it).

    ParseNumber appends fraction digits to the integer while it is at most 2^53 - 1 (checked
    before each digit), so below 16 significant digits every digit joins, and at 16 one more
    joins only if the value is still within the limit. Up to 17 significant digits in all are
    then added to the double one at a time; the rest are ignored.
    """
    value = int(whole)
    significant = len(whole) - 1 if value else 0  # significandDigit skips the first digit
    joined = 0
    if fraction:
        zeros = len(fraction) - len(fraction.lstrip("0")) if value == 0 else 0
        if len(whole) > 16 and value:
            joined = 0  # already beyond the limit
        else:
            sixteen = 16 - len(whole) if value else zeros + 16  # digits joined at 16 significant
            if sixteen >= len(fraction):
                joined = len(fraction)
            else:
                at_sixteen = int(whole + fraction[:sixteen])
                joined = sixteen if at_sixteen > _SIGNIFICAND_MAX else sixteen + 1
        significant += joined if value else max(0, joined - zeros)
    number = float(int(whole + fraction[:joined]))
    exp_frac = -joined
    for char in fraction[joined:]:
        if significant >= 17:
            break
        number = number * 10.0 + (ord(char) - 0x30)
        exp_frac -= 1
        if number > 0.0:
            significant += 1
    if exponent > 308 - exp_frac:
        raise _JsonError("Number too big to be stored in double.", 0)  # the slow path places it
    number = _rj_strtod(number, exponent + exp_frac)
    return -number if minus else number


_FAST_JSON = json.JSONDecoder(parse_float=_number_hook, parse_int=_number_hook)

# GenericReader::IterativeParse states (reader.h).
(
    _RJ_START,
    _RJ_FINISH,
    _RJ_ERROR,
    _RJ_OBJECT,
    _RJ_KEY,
    _RJ_COLON,
    _RJ_MEMBER,
    _RJ_MEMBER_COMMA,
    _RJ_OBJECT_END,
    _RJ_ARRAY,
    _RJ_ELEMENT,
    _RJ_ELEMENT_COMMA,
    _RJ_ARRAY_END,
    _RJ_VALUE,
) = range(14)
# Tokenize(): these bytes are tokens of their own; any other byte starts a literal or a
# number (NumberToken), including bytes that start nothing valid.
_RJ_TOKENS = frozenset(b'[]{},:"')
_RJ_LITERAL = -1


def _rj_value_state(state: int) -> dict[int, int]:
    """The transitions of a state where a value may start."""
    return {
        ord("["): _RJ_ARRAY,
        ord("{"): _RJ_OBJECT,
        ord('"'): state,
        _RJ_LITERAL: state,
    }


# Predict(): state x token -> state; anything missing is the error state.
_RJ_NEXT: dict[int, dict[int, int]] = {
    _RJ_START: _rj_value_state(_RJ_VALUE),
    _RJ_OBJECT: {ord("}"): _RJ_OBJECT_END, ord('"'): _RJ_KEY},
    _RJ_KEY: {ord(":"): _RJ_COLON},
    _RJ_COLON: _rj_value_state(_RJ_MEMBER),
    _RJ_MEMBER: {ord("}"): _RJ_OBJECT_END, ord(","): _RJ_MEMBER_COMMA},
    _RJ_MEMBER_COMMA: {ord("}"): _RJ_OBJECT_END, ord('"'): _RJ_KEY},
    _RJ_ARRAY: {**_rj_value_state(_RJ_ELEMENT), ord("]"): _RJ_ARRAY_END},
    _RJ_ELEMENT: {ord("]"): _RJ_ARRAY_END, ord(","): _RJ_ELEMENT_COMMA},
    _RJ_ELEMENT_COMMA: {**_rj_value_state(_RJ_ELEMENT), ord("]"): _RJ_ARRAY_END},
}
# HandleError(): the error a state reports when the next token does not fit.
_RJ_STATE_ERROR = {
    _RJ_START: "The document is empty.",
    _RJ_OBJECT: "Missing a name for object member.",
    _RJ_MEMBER_COMMA: "Missing a name for object member.",
    _RJ_KEY: "Missing a colon after a name of object member.",
    _RJ_MEMBER: "Missing a comma or '}' after an object member.",
    _RJ_COLON: "Invalid value.",
    _RJ_ARRAY: "Invalid value.",
    _RJ_ELEMENT_COMMA: "Invalid value.",
    _RJ_ELEMENT: "Missing a comma or ']' after an array element.",
}
_RJ_ESCAPES = {
    ord('"'): 0x22,
    ord("\\"): 0x5C,
    ord("/"): 0x2F,
    ord("b"): 0x08,
    ord("f"): 0x0C,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
}


def _rj_parse(data: bytes, pos: int) -> Any:
    """GenericReader::IterativeParse (rapidjson 1.1.0 reader.h) building Python values.

    A zero byte ends the input as the end of the buffer does (MemoryStream::Peek). Duplicate
    keys keep the last value, as Python's json does (rapidjson keeps both; FindMember finds the
    first) -- the one place where this differs.
    """
    size = len(data)
    state = _RJ_START
    frames: list[list[Any]] = []  # [state to return to, container, pending key]
    root: list[Any] = []

    def attach(value: Any) -> None:
        if not frames:
            root.append(value)
        elif isinstance(frames[-1][1], list):
            frames[-1][1].append(value)
        else:
            frames[-1][1][frames[-1][2]] = value

    while pos < size and data[pos] != 0:
        char = data[pos]
        token = char if char in _RJ_TOKENS else _RJ_LITERAL
        new = _RJ_NEXT.get(state, {}).get(token, _RJ_ERROR)
        if new == _RJ_ERROR:
            raise _JsonError(_RJ_STATE_ERROR.get(state, "Invalid value."), pos)
        if new in (_RJ_OBJECT, _RJ_ARRAY):
            back = state
            if state in (_RJ_ARRAY, _RJ_ELEMENT_COMMA):
                back = _RJ_ELEMENT
            elif state == _RJ_COLON:
                back = _RJ_MEMBER
            container: Any = {} if new == _RJ_OBJECT else []
            attach(container)
            frames.append([back, container, None])
            pos += 1
        elif new == _RJ_KEY:
            frames[-1][2], pos = _rj_string(data, pos)
        elif new in (_RJ_COLON, _RJ_MEMBER_COMMA, _RJ_ELEMENT_COMMA):
            pos += 1
        elif new in (_RJ_OBJECT_END, _RJ_ARRAY_END):
            if state == _RJ_MEMBER_COMMA:  # no trailing commas (kParseTrailingCommasFlag)
                raise _JsonError("Missing a name for object member.", pos)
            if state == _RJ_ELEMENT_COMMA:
                raise _JsonError("Invalid value.", pos)
            new = frames.pop()[0]
            if new == _RJ_START:
                new = _RJ_FINISH
            pos += 1
        else:  # _RJ_MEMBER, _RJ_ELEMENT, _RJ_VALUE: a string, literal or number
            value, pos = _rj_scalar(data, pos)
            attach(value)
            if new == _RJ_VALUE:
                new = _RJ_FINISH
        state = new
        if state == _RJ_FINISH:
            return root[0]  # kParseStopWhenDoneFlag: whatever follows is not read
        while pos < size and data[pos] in _JSON_WS:
            pos += 1
    raise _JsonError(_RJ_STATE_ERROR.get(state, "Invalid value."), pos)


def _rj_peek(data: bytes, pos: int) -> int:
    return data[pos] if pos < len(data) else 0


def _rj_consume(data: bytes, pos: int, expect: bytes) -> tuple[bool, int]:
    """Consume(is, c) for each byte of `expect` in turn: (all matched, position reached)."""
    for byte in expect:
        if _rj_peek(data, pos) != byte:
            return False, pos
        pos += 1
    return True, pos


def _rj_scalar(data: bytes, pos: int) -> tuple[Any, int]:
    """ParseValue for a non-compound value: ParseNull/True/False, ParseString, ParseNumber."""
    char = data[pos]
    if char == 0x22:
        return _rj_string(data, pos)
    for literal, value in ((b"null", None), (b"true", True), (b"false", False)):
        if char == literal[0]:
            ok, pos = _rj_consume(data, pos + 1, literal[1:])
            if not ok:
                raise _JsonError("Invalid value.", pos)
            return value, pos
    return _rj_number(data, pos)


def _rj_hex4(data: bytes, pos: int, escape: int) -> tuple[int, int]:
    code = 0
    for _ in range(4):
        char = _rj_peek(data, pos)
        if not (0x30 <= char <= 0x39 or 0x41 <= char <= 0x46 or 0x61 <= char <= 0x66):
            raise _JsonError("Incorrect hex digit after \\u escape in string.", escape)
        code = code * 16 + int(chr(char), 16)
        pos += 1
    return code, pos


def _rj_string(data: bytes, pos: int) -> tuple[str, int]:
    """ParseString/ParseStringToStream (no kParseValidateEncodingFlag: bytes are copied)."""
    out = bytearray()
    pos += 1  # the opening quote
    while True:
        char = _rj_peek(data, pos)
        if char == 0x5C:  # backslash
            escape = pos
            pos += 1
            kind = _rj_peek(data, pos)
            if kind in _RJ_ESCAPES:
                out.append(_RJ_ESCAPES[kind])
                pos += 1
            elif kind == 0x75:  # \u
                code, pos = _rj_hex4(data, pos + 1, escape)
                if 0xD800 <= code <= 0xDBFF:
                    ok, pos = _rj_consume(data, pos, b"\\u")
                    if not ok:
                        raise _JsonError("The surrogate pair in string is invalid.", escape)
                    low, pos = _rj_hex4(data, pos, escape)
                    if not 0xDC00 <= low <= 0xDFFF:
                        raise _JsonError("The surrogate pair in string is invalid.", escape)
                    code = (((code - 0xD800) << 10) | (low - 0xDC00)) + 0x10000
                out += chr(code).encode("utf-8", "surrogatepass")  # a lone low one: 3 bytes
            else:
                raise _JsonError("Invalid escape character in string.", escape)
        elif char == 0x22:
            return out.decode("utf-8", "surrogateescape"), pos + 1
        elif char < 0x20:
            if char == 0:
                raise _JsonError("Missing a closing quotation mark in string.", pos)
            raise _JsonError("Invalid escape character in string.", pos)
        else:
            out.append(char)
            pos += 1


def _rj_digit(data: bytes, pos: int) -> int:
    char = _rj_peek(data, pos)
    return char - 0x30 if 0x30 <= char <= 0x39 else -1


def _rj_number(data: bytes, pos: int) -> tuple[Any, int]:
    """Reader::ParseNumber of rapidjson 1.1.0, normal precision (no kParseFullPrecisionFlag).

    Integers that fit int64/uint64 stay integers (Int/Uint/Int64/Uint64); anything else is a
    double computed exactly as rapidjson does (StrtodNormalPrecision, which can differ from a
    correctly rounded parse in the last bit). An exponent beyond 308 (allowing for the digits
    after the point) or a huge integer is "Number too big to be stored in double." (reader.h
    :1235, :1318); a product that overflows without that, such as 2e308, is +/-Infinity:
    1.1.0 has no check after StrtodNormalPrecision (reader.h:1364-1366; later versions add one).
    """
    start = pos
    minus = _rj_peek(data, pos) == 0x2D
    if minus:
        pos += 1
    small = 0  # `unsigned i`
    big = 0  # `uint64_t i64`
    use64 = False
    digits = 0  # significandDigit
    number = 0.0
    nan_or_inf = False
    first = _rj_peek(data, pos)
    if first == 0x30:
        pos += 1
    elif 0x31 <= first <= 0x39:
        small = first - 0x30
        pos += 1
        limit, last = (214748364, 8) if minus else (429496729, 5)
        while (digit := _rj_digit(data, pos)) >= 0:
            if small >= limit and (small != limit or digit > last):
                big, use64 = small, True
                break
            small = small * 10 + digit
            pos += 1
            digits += 1
    elif first in (0x49, 0x4E):  # "I", "N" (kParseNanAndInfFlag)
        nan_or_inf = True
        ok, pos = _rj_consume(data, pos, b"NaN")
        if ok:
            number = math.nan
        else:
            ok, pos = _rj_consume(data, pos, b"Inf")
            if not ok:
                raise _JsonError("Invalid value.", pos)
            number = -math.inf if minus else math.inf
            if _rj_peek(data, pos) == 0x69:  # "i": must be "Infinity"
                ok, pos = _rj_consume(data, pos, b"inity")
                if not ok:
                    raise _JsonError("Invalid value.", pos)
    else:
        raise _JsonError("Invalid value.", pos)

    use_double = False
    if use64:
        limit, last = (0x0CCCCCCCCCCCCCCC, 8) if minus else (0x1999999999999999, 5)
        while (digit := _rj_digit(data, pos)) >= 0:
            if big >= limit and (big != limit or digit > last):
                number, use_double = float(big), True
                break
            big = big * 10 + digit
            pos += 1
            digits += 1
    if use_double:  # an integer beyond 64 bits: accumulate it as a double
        while (digit := _rj_digit(data, pos)) >= 0:
            if number >= 1.7976931348623157e307:
                raise _JsonError("Number too big to be stored in double.", start)
            number = number * 10 + digit
            pos += 1

    exp_frac = 0
    if _rj_peek(data, pos) == 0x2E:  # "."
        pos += 1
        if _rj_digit(data, pos) < 0:
            raise _JsonError("Miss fraction part in number.", pos)
        if not use_double:
            if not use64:
                big = small
            while (digit := _rj_digit(data, pos)) >= 0:
                if big > 0x1FFFFFFFFFFFFF:  # 2^53 - 1, the fast path's limit
                    break
                big = big * 10 + digit
                pos += 1
                exp_frac -= 1
                if big != 0:
                    digits += 1
            number, use_double = float(big), True
        while (digit := _rj_digit(data, pos)) >= 0:
            if digits < 17:
                number = number * 10.0 + digit
                exp_frac -= 1
                if number > 0.0:
                    digits += 1
            pos += 1

    exp = 0
    if _rj_peek(data, pos) in (0x65, 0x45):  # "e", "E"
        pos += 1
        if not use_double:
            number, use_double = float(big if use64 else small), True
        exp_minus = False
        if _rj_peek(data, pos) == 0x2B:
            pos += 1
        elif _rj_peek(data, pos) == 0x2D:
            exp_minus = True
            pos += 1
        if _rj_digit(data, pos) < 0:
            raise _JsonError("Miss exponent in number.", pos)
        exp = _rj_digit(data, pos)
        pos += 1
        if exp_minus:
            while (digit := _rj_digit(data, pos)) >= 0:
                exp = exp * 10 + digit
                pos += 1
                if exp >= 214748364:  # consume the rest of a huge exponent
                    while _rj_digit(data, pos) >= 0:
                        pos += 1
            exp = -exp
        else:
            max_exp = 308 - exp_frac
            while (digit := _rj_digit(data, pos)) >= 0:
                exp = exp * 10 + digit
                pos += 1
                if exp > max_exp:
                    raise _JsonError("Number too big to be stored in double.", start)

    if use_double:
        number = _rj_strtod(number, exp + exp_frac)
        return (-number if minus else number), pos
    if nan_or_inf:
        return number, pos
    value = big if use64 else small
    return (-value if minus else value), pos


def _rj_fast_path(significand: float, exp: int) -> float:
    if exp < -308:
        return 0.0
    if exp >= 0:
        return significand * _POW10[exp]
    return significand / _POW10[-exp]


def _rj_strtod(number: float, exp: int) -> float:
    """internal::StrtodNormalPrecision (strtod.h)."""
    if exp < -308:
        return _rj_fast_path(_rj_fast_path(number, -308), exp + 308)
    return _rj_fast_path(number, exp)


_DEBUG_LIMIT = 256  # util/json_tensor.cc:225 kMaxJsonDebugStringBytes
_RJ_SHORT_ESCAPES = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}


def _js(value: Any) -> str:
    """JsonValueToDebugString (util/json_tensor.cc:229): rapidjson's PrettyWriter (4-space
    indent, kFormatSingleLineArray).

    Like TF Serving it stops before the first write that finds 256 bytes already written (so
    long values are cut, even mid-JSON), and at a NaN or infinite number (Writer::WriteDouble
    refuses them without kWriteNanAndInfFlag). Walks iteratively: nesting depth is no limit.
    """
    out = bytearray()
    levels: list[list[Any]] = []  # [in array, values written] per open container
    work: list[tuple[str, Any]] = [("value", value)]

    def prefix() -> None:  # PrettyWriter::PrettyPrefix
        if not levels:
            return
        level = levels[-1]
        if level[0]:
            if level[1] > 0:
                out.extend(b", ")
        else:
            if level[1] > 0:
                out.extend(b",\n" if level[1] % 2 == 0 else b": ")
            else:
                out.extend(b"\n")
            if level[1] % 2 == 0:
                out.extend(b" " * (4 * len(levels)))
        level[1] += 1

    while work and len(out) < _DEBUG_LIMIT:
        kind, item = work.pop()
        if kind == "end":
            in_array, count = levels.pop()
            if count and not in_array:
                out.extend(b"\n" + b" " * (4 * len(levels)))
            out.extend(b"]" if in_array else b"}")
            continue
        prefix()
        if kind == "key":
            out.extend(_rj_write_string(item))
        elif isinstance(item, list):
            levels.append([True, 0])
            out.extend(b"[")
            work.append(("end", None))
            work.extend(("value", v) for v in reversed(item))
        elif isinstance(item, dict):
            levels.append([False, 0])
            out.extend(b"{")
            work.append(("end", None))
            for key, member in reversed(item.items()):
                work.extend((("value", member), ("key", key)))
        elif item is None:
            out.extend(b"null")
        elif isinstance(item, bool):
            out.extend(b"true" if item else b"false")
        elif isinstance(item, int):
            out.extend(str(item).encode())
        elif isinstance(item, float):
            if not math.isfinite(item):
                break
            out.extend(_rj_double(item).encode())
        else:
            out.extend(_rj_write_string(item))
    return out.decode("utf-8", "surrogateescape")


def _rj_write_string(text: str) -> bytes:
    """Writer::WriteString: quote, backslash and control bytes escaped; the rest as is."""
    out = bytearray(b'"')
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in (0x22, 0x5C):
            out.extend(b"\\" + bytes([byte]))
        elif byte < 0x20:
            out.extend(_RJ_SHORT_ESCAPES.get(byte, b"\\u00%02X" % byte))
        else:
            out.append(byte)
    out.extend(b'"')
    return bytes(out)


def _rj_double(value: float) -> str:
    """internal::dtoa + Prettify, with Python's shortest digits standing in for Grisu2's."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    exact = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, exact.digits))
    k = int(exact.exponent)
    kk = len(digits) + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif len(digits) == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return ("-" if value < 0 else "") + text


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    return "String" if isinstance(value, str) else "Number"


def _type_name(dtype: tf.DType) -> str:
    """DataTypeString: "float", "double", "int64", "string", ..."""
    name = str(dtype.name)
    return {"float32": "float", "float64": "double", "float16": "half"}.get(name, name)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value: Any) -> bool:
    """An object of named inputs, as opposed to a value or a {"b64": ...} string."""
    return isinstance(value, dict) and not _is_b64(value)


def _type_error(value: Any, dtype: tf.DType) -> ServingError:
    return ServingError(
        "INVALID_ARGUMENT",
        f"JSON Value: {_js(value)} Type: {_json_type(value)} is not of expected type: "
        f"{_type_name(dtype)}",
    )


def _b64_decode(value: Any) -> bytes:
    if not _is_b64(value):
        raise ServingError(
            "INVALID_ARGUMENT", f"JSON Value: {_js(value)} not formatted correctly for base64 data"
        )
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ServingError("INVALID_ARGUMENT", "Unable to base64 decode") from err


def _leaf(value: Any, dtype: tf.DType) -> Any:
    """AddValueToTensor: the JSON types each dtype accepts, and nothing looser."""
    if isinstance(value, dict):
        if dtype == tf.string:
            return _b64_decode(value)
        raise _type_error(value, dtype)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if dtype in (tf.float32, tf.float64):
        # util/json_tensor.cc:293-301 (AddValueToTensor): `if (!val.IsNumber()) return
        # TypeError(...)`, then add_float_val(val.GetFloat()) / add_double_val(val.GetDouble()).
        # GetDouble() converts any integer (int64/uint64; larger ones are doubles already) and
        # GetFloat() is static_cast<float>(GetDouble()): 16777217 becomes 16777216, and a
        # double beyond float range becomes +/-inf (json_tensor_test.cc
        # FloatTensorThatExceedsMaxReturnsInf); _tensor does that cast. The "without loss of
        # precision" check this used to copy was removed in 2021 (serving commit 57dac6cd,
        # json_tensor_test.cc FloatTensorWithPrecisionLoss).
        if not (is_int or isinstance(value, float)):
            raise _type_error(value, dtype)
        return float(value)
    ranges = {
        tf.int8: (-(2**31), 2**31 - 1),
        tf.int16: (-(2**31), 2**31 - 1),
        tf.int32: (-(2**31), 2**31 - 1),
        tf.uint8: (-(2**31), 2**31 - 1),
        tf.int64: (-(2**63), 2**63 - 1),
        tf.uint32: (0, 2**32 - 1),
        tf.uint64: (0, 2**64 - 1),
    }
    if dtype in ranges:
        low, high = ranges[dtype]
        if not is_int or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == tf.string:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8", "surrogateescape")  # the bytes rapidjson read
    if dtype == tf.bool:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise ServingError(
        "UNIMPLEMENTED", f"Conversion of JSON Value: {_js(value)} to type: {_type_name(dtype)}"
    )


def _dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: the shape read off the first element at each level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: tf.DType, out: list[Any]) -> None:
    """FillTensorProto: every list at a level has that level's size; leaves at the bottom."""
    if not isinstance(value, list):
        if level != len(shape):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {_js(value)} found at incorrect level: {level + 1} in the JSON "
                f"DOM. Expected at level: {len(shape)}",
            )
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Encountered list at unexpected level: {level} expected < {len(shape)}",
        )
    if len(value) != shape[level]:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}",
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _values(value: Any, dtype: tf.DType) -> tuple[list[int], list[Any]]:
    shape = _dense_shape(value)
    flat: list[Any] = []
    _fill(value, 0, shape, dtype, flat)
    return shape, flat


def _tensor(flat: list[Any], shape: list[int], dtype: tf.DType) -> tf.Tensor:
    numpy_type = object if dtype == tf.string else dtype.as_numpy_dtype
    try:
        with np.errstate(over="ignore"):  # double -> float beyond range is +/-inf, as in C++
            array = np.array(flat, dtype=numpy_type).reshape(shape)
        return tf.constant(array, dtype=dtype)
    except (OverflowError, ValueError, TypeError) as err:
        raise ServingError("INVALID_ARGUMENT", _first_line(str(err))) from err


def _tensors_from_instances(
    instances: list[Any], infos: dict[str, tf.DType]
) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInstancesList: rows (or row objects) stacked into one batch."""
    if not isinstance(instances[0], dict) and len(infos) > 1:
        raise ServingError(
            "INVALID_ARGUMENT",
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map",
        )
    objects = _is_named(instances[0])
    shapes: dict[str, list[int]] = {}
    flats: dict[str, list[Any]] = {}

    def add(item: Any, name: str) -> None:
        if name not in infos:
            raise ServingError(
                "INVALID_ARGUMENT", f"JSON object: does not have named input: {name}"
            )
        shape, flat = _values(item, infos[name])
        if name not in shapes:
            shapes[name], flats[name] = shape, flat
            return
        if math.prod(shapes[name]) != math.prod(shape):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expecting tensor size: {math.prod(shapes[name])} but got: {math.prod(shape)}",
            )
        if shapes[name] != shape:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                f"[{','.join(map(str, shape))}]",
            )
        flats[name].extend(flat)

    for index, element in enumerate(instances):
        if objects:
            if not _is_named(element):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expecting object but got list at item {index} of input list",
                )
            for key, item in element.items():
                try:
                    add(item, key)
                except ServingError as err:
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {err}",
                    ) from err
            if set(element) != set(infos):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_js(element)} keys must be equal to: {','.join(sorted(infos))}",
                )
        else:
            if _is_named(element):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expecting value/list but got object at item {index} of input list",
                )
            try:
                add(element, next(iter(infos)))
            except ServingError as err:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {index} of 'instances' list. Error: {err}",
                ) from err
    return {
        name: _tensor(flats[name], [len(instances), *shapes[name]], infos[name]) for name in shapes
    }


def _tensors_from_inputs(inputs: Any, infos: dict[str, tf.DType]) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInputsMap: one value for a single input, else an object by name."""
    if not _is_named(inputs):
        if len(infos) > 1:
            raise ServingError(
                "INVALID_ARGUMENT",
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map",
            )
        name, dtype = next(iter(infos.items()))
        shape, flat = _values(inputs, dtype)
        return {name: _tensor(flat, shape, dtype)}
    tensors = {}
    for name, dtype in infos.items():
        if name not in inputs:
            raise ServingError(
                "INVALID_ARGUMENT", f"Missing named input: {name} in 'inputs' object."
            )
        shape, flat = _values(inputs[name], dtype)
        tensors[name] = _tensor(flat, shape, dtype)
    return tensors


def _decimal(value: float, single: bool) -> float:
    """WriteDecimal: shortest of %.6g or full precision that reads back as the same value."""
    if not math.isfinite(value):
        return value
    text = f"{value:.6g}"
    same = np.float32(text) == np.float32(value) if single else float(text) == value
    if not same:
        text = f"{value:.9g}" if single else f"{value:.17g}"
    return float(text)


def _json_tensor(array: Any, dtype: tf.DType, name: str) -> Any:
    """AddTensorValues: nested lists; strings as text, or {"b64"} for "*_bytes" outputs."""
    convert: Callable[[Any], Any]
    if dtype in (tf.float32, tf.float16):

        def convert(x: Any) -> Any:
            return _decimal(float(x), single=True)
    elif dtype == tf.float64:

        def convert(x: Any) -> Any:
            return _decimal(float(x), single=False)
    elif dtype == tf.string and name.endswith("_bytes"):

        def convert(x: Any) -> Any:
            return {"b64": base64.b64encode(x).decode()}
    elif dtype == tf.string:

        def convert(x: Any) -> Any:
            return x.decode("utf-8", "replace")
    elif dtype.is_integer or dtype == tf.bool:

        def convert(x: Any) -> Any:
            return x
    else:
        raise ServingError(
            "INVALID_ARGUMENT", f"Failed to write JSON value for tensor type: {_type_name(dtype)}"
        )

    def walk(value: Any) -> Any:
        return [walk(v) for v in value] if isinstance(value, list) else convert(value)

    # A row of a string tensor is a bare `bytes`; np.asarray would strip its trailing NULs.
    return walk(array.tolist() if isinstance(array, np.ndarray | np.generic) else array)


def _rows(outputs: Mapping[str, tf.Tensor]) -> dict[str, Any]:
    """MakeRowFormatJsonFromTensors: one entry per batch row; objects if several outputs."""
    batch = -1
    arrays = {}
    for name, tensor in outputs.items():
        array = tensor.numpy()
        if array.ndim == 0:
            raise ServingError("INVALID_ARGUMENT", f"Tensor name: {name} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}",
            )
        batch = array.shape[0]
        arrays[name] = (array, tensor.dtype)
    rows: list[Any] = []
    for row in range(batch):
        values = {n: _json_tensor(a[row], d, n) for n, (a, d) in arrays.items()}
        rows.append(values if len(values) > 1 else next(iter(values.values())))
    return {"predictions": rows}


def _columns(outputs: Mapping[str, tf.Tensor]) -> dict[str, Any]:
    """MakeColumnarFormatJsonFromTensors: the bare value if one output, else an object."""
    values = {n: _json_tensor(t.numpy(), t.dtype, n) for n, t in outputs.items()}
    return {"outputs": values if len(values) > 1 else next(iter(values.values()))}


# -------------------------------------------------------------------- SavedModels for tests


class _Scaler(tf.Module):
    """y = x * factor, with the factor a variable so the SavedModel has one to restore."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = tf.Variable(factor, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * self.factor}


def _publish_dir(build: Callable[[Path], None], target: Path) -> Path:
    """Build next to `target` under a non-version name, then rename: a poll never sees half."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    try:
        build(scratch)
        os.rename(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    return target


def make_saved_model(dir: Path, version: int) -> Path:
    """Write a real SavedModel into `dir` (a version directory such as <base>/2).

    Its serving_default signature takes "x" float32 [None, 2] and returns {"y": x * version},
    so a prediction tells which version answered. Written atomically (built under a
    ".tmp-" name, then renamed), as an exporter should.
    """

    def build(scratch: Path) -> None:
        module = _Scaler(float(version))
        tf.saved_model.save(module, str(scratch), signatures={_DEFAULT_SIGNATURE: module.serve})

    return _publish_dir(build, dir)


def make_broken_version(dir: Path) -> Path:
    """Write a version directory whose saved_model.pb is garbage, so a real TF load fails."""

    def build(scratch: Path) -> None:
        scratch.mkdir()
        (scratch / "saved_model.pb").write_bytes(b"\x08\xff\xff\xff this is not a SavedModel")

    return _publish_dir(build, dir)
