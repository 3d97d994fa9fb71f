"""models.config, the monitoring config and the version directories on disk, as TF Serving
reads them.

`read_config` parses models.config with the real ``ModelServerConfig`` proto and `validate`
applies ValidateModelConfigList and the platform checks; `read_monitoring_config` reads the
``--monitoring_config_file``; `version_dirs` lists the version subdirectories of a base path and
`pick_versions` applies a model's servable_version_policy to them, as
FileSystemStoragePathSource does. Pure functions over protos and paths: no threads, no state.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from .. import tfs_protos  # MonitoringConfig, which tensorflow-serving-api does not ship
from .errors import ServingError

_VERSION_DIR_RE = re.compile(r"[0-9]+")
INT64_MAX = 2**63 - 1
# PrometheusExporter::kPrometheusPath, used when prometheus_config.path is empty.
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def read_config(path: Path) -> model_server_config_pb2.ModelServerConfig:
    """The models.config file at `path`, parsed as a text-format ModelServerConfig."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ServingError("NOT_FOUND", f"{path}: {err}") from err
    try:
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as err:
        raise ServingError("INVALID_ARGUMENT", f"{path}: {err}") from err


def read_monitoring_config(path: Path) -> str | None:
    """The Prometheus path a ``--monitoring_config_file`` turns on, or None if it does not.

    server.cc parses the file with ParseProtoTextFile<MonitoringConfig> (a text-format proto;
    tests/support/tfs_protos.py builds the message from monitoring_config.proto), once, at
    startup; http_server.cc registers the page only if prometheus_config.enable, at
    prometheus_config.path or, if that is empty, kPrometheusPath.
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ServingError("NOT_FOUND", f"{path}; {err.strerror}") from err
    config = tfs_protos.message("MonitoringConfig")
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        # proto_util.h ParseProtoTextFile; the parser's own message goes to the log only.
        raise ServingError("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'") from err
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    return str(prometheus.path) or DEFAULT_PROMETHEUS_PATH


def norm_base(base_path: str) -> str:
    return posixpath.normpath(base_path) if base_path else base_path


def validate(model_list: Any) -> None:
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


def version_dirs(base: Path) -> dict[int, Path]:
    """Subdirectories named by an int64 are versions; anything else (".tmp-3") is not."""
    found: dict[int, Path] = {}
    try:
        children = sorted(base.iterdir())
    except OSError:
        return found
    for child in children:
        if _VERSION_DIR_RE.fullmatch(child.name) and child.is_dir():
            version = int(child.name)
            if version <= INT64_MAX:
                found.setdefault(version, child)
    return found


def pick_versions(
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
