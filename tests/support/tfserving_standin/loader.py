"""The servables and the manager that loads and unloads them.

A `Manager` is TF Serving's AspiredVersionsManager with the AvailabilityPreservingPolicy, and
the ServableStateMonitor that watches it: `_set_aspired` is told which versions should be
served, one loader thread loads them (with real ``tf.saved_model.load``, highest version first,
one at a time) before it unloads the versions that left the policy, and every state change
(START, LOADING, AVAILABLE, UNLOADING, END) is published as an event that `_await_models` and
`wait_state` wait on. It knows nothing of models.config or HTTP; `core.ServerCore` drives it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf
from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from .errors import ServingError, code_name, first_line

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


class Stopped(Exception):
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


class Manager:
    """The servables of every model, their states, and the thread that loads and unloads them.

    ``load_delay`` maps a version number to seconds spent in LOADING before that version is
    loaded; a failed load is retried ``load_retries`` times, ``load_retry_interval`` seconds
    apart, while the version stays aspired. All three are public and may be changed while
    running, as may ``errors`` (the log lines of the layers above).
    """

    def __init__(
        self, load_delay: dict[int, float] | None, load_retries: int, load_retry_interval: float
    ) -> None:
        self.load_delay: dict[int, float] = load_delay if load_delay is not None else {}
        self.load_retries = load_retries
        self.load_retry_interval = load_retry_interval
        self.errors: list[str] = []

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified on every state change
        self._stop = threading.Event()
        self._reset()

    def _reset(self) -> None:
        """Forget every servable, as a restarted TF Serving process would."""
        self._models: dict[str, dict[int, _Servable]] = {}
        self._seq = 0

    # ---------------------------------------------------------------- the monitor

    def served(self, model: str) -> dict[int, str]:
        """Version -> state name, END entries included (what the status API lists)."""
        with self._lock:
            return {v: s.state for v, s in self._models.get(model, {}).items()}

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

    # ---------------------------------------------------------------- aspired versions

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
                    raise Stopped
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
        return ServingError(code_name(err.error_code), first_line(err.message))
    message = first_line(str(err)) or type(err).__name__
    if isinstance(err, FileNotFoundError) or "does not exist" in message:
        return ServingError("NOT_FOUND", message)
    if isinstance(err, OSError | DecodeError):
        return ServingError("DATA_LOSS", message)
    return ServingError("UNKNOWN", message)
