"""ServerCore: models.config applied to the manager, the polls, and servable handles.

`ServerCore` extends the `loader.Manager` with what TF Serving's ServerCore and its
FileSystemStoragePathSource add on top: `_reload` validates a config, checks and swaps the
version label map *before* any model changes (ServerCore::ReloadConfig), and un-aspires removed
models; `_scan` aspires the versions each model's policy picks from disk; two poll loops re-read
models.config and re-scan the version directories every ``poll_seconds``; `_handle` resolves a
request's version or label to an AVAILABLE servable (ServerCore::GetServableHandle).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.config import model_server_config_pb2

from .config import norm_base, pick_versions, read_config, validate, version_dirs
from .errors import ServingError
from .loader import AVAILABLE, Manager, Stopped


@dataclass(frozen=True)
class Handle:
    """What a request holds on to, so an unload during the request cannot pull it away."""

    name: str
    version: int
    model: Any
    signature_defs: get_model_metadata_pb2.SignatureDefMap


class ServerCore(Manager):
    """The manager fed from models.config and the version directories under ``paths``.

    ``paths`` maps each ``base_path`` as written in models.config (a container path such as
    "/models/vgg16") to the host directory holding the version subdirectories. With
    ``allow_labels_for_unavailable`` (``--allow_version_labels_for_unavailable_models``) a new
    label may point at a version that is not AVAILABLE yet. Reload and filesystem errors are
    appended to ``errors``, worded like TF Serving's log.
    """

    def __init__(
        self,
        config_path: Path,
        paths: Mapping[str, Path],
        poll_seconds: float,
        load_delay: dict[int, float] | None,
        *,
        allow_labels_for_unavailable: bool,
        load_retries: int,
        load_retry_interval: float,
    ) -> None:
        self.config_path = Path(config_path)
        self.paths = {norm_base(base): Path(path) for base, path in paths.items()}
        self.poll_seconds = poll_seconds
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self._scan_lock = threading.Lock()  # one filesystem scan at a time, never a stale one
        super().__init__(load_delay, load_retries, load_retry_interval)

    def _reset(self) -> None:
        """Forget everything a restarted TF Serving process would not remember."""
        super()._reset()
        self._configs: dict[str, model_server_config_pb2.ModelConfig] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._fs_errors_logged: set[str] = set()

    def labels(self, model: str) -> dict[str, int]:
        """The label map in force for `model` (after the last accepted reload)."""
        with self._lock:
            return dict(self._labels.get(model, {}))

    # ---------------------------------------------------------------- config

    def _read_config(self) -> model_server_config_pb2.ModelServerConfig:
        return read_config(self.config_path)

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
        validate(model_list)
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
        except Stopped:
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
                base = self.paths.get(norm_base(model_config.base_path))
                if base is None or not base.is_dir():
                    # TF Serving fails the whole poll rather than aspire nothing for a path
                    # that may only be missing for a moment.
                    self._log_once(
                        f"File system storage path source: Could not find base path "
                        f"{model_config.base_path} for servable {name}"
                    )
                    return
                chosen[name] = pick_versions(model_config, version_dirs(base))
            with self._lock:
                if self._configs is not configs:
                    return  # a reload replaced the config meanwhile; it scans again itself
                for name, versions in chosen.items():
                    self._set_aspired(name, versions)

    def _log_once(self, line: str) -> None:
        if line not in self._fs_errors_logged:
            self._fs_errors_logged.add(line)
            self.errors.append(line)

    # ---------------------------------------------------------------- servable handles

    def _handle(self, name: str, version: int | None, label: str | None) -> Handle:
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
            return Handle(name, servable.version, servable.model, servable.signature_defs)
