"""Publish an export into a bucket: `tfmodel export --base-path s3://bucket/prefix` (or gs://).

The version is built and checked locally as for a volume (model.export), then uploaded file by
file to `<prefix>/<N>/`: the export record first, `saved_model.pb` second to last and the
`_SUCCESS` marker last. The model-sync sidecars take a version only once its marker is there
(or, for versions other tools upload, once every file of the SavedModel is), so the order
means a version is never served half-uploaded. A complete version is never overwritten; a
version this same export left half-uploaded (a Job retried after a crash) is completed.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tfmodel_operator.model import export as exporter
from tfmodel_operator.model.applications import VersionExists
from tfmodel_operator.storage.stores import Store, StoreError, open_store

MARKER = "_SUCCESS"
BUCKET_SCHEMES = ("s3://", "gs://")


def is_bucket(base_path: str) -> bool:
    return base_path.startswith(BUCKET_SCHEMES)


def export_to_bucket(
    url: str,
    application: str,
    weights: str,
    version: int,
    *,
    exist_ok: bool = False,
    progress: exporter.Progress | None = None,
    **options: Any,
) -> exporter.ExportResult:
    """`exporter.export` into `url` (`options` as it takes them), published as described above."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    store = open_store(url)
    where = f"{store.describe()}/{version}"
    record = exporter.export_record(
        application, weights, version, options.get("warmup", False),
        options.get("warmup_records", 1), options.get("image_signature", True),
        options.get("model_name"),
    )  # fmt: skip
    present = {entry.path for entry in store.list(str(version))}
    if present:
        ours = _recorded(store, version) == record
        if f"{version}/{MARKER}" in present:
            if exist_ok and ours:
                say(f"{where} was already published by this same export; nothing to do")
                return exporter.ExportResult(where, 0, tuple(record["signatures"]), 0, 0.0)
            raise VersionExists(
                f"{where} already exists; published versions are immutable, export a new version"
            )
        if not ours:
            raise VersionExists(f"{where} holds files this export did not write; not replaced")
        say(f"completing {where}, left half-uploaded by an interrupted export...")
    with tempfile.TemporaryDirectory(prefix="tfmodel-export-") as scratch:
        built = exporter.export(
            application, weights, version, Path(scratch), progress=progress, **options
        )
        local_version = exporter.version_dir(Path(scratch), version)
        files = upload_order(local_version)
        size = sum(f.stat().st_size for f in files)
        say(f"uploading {len(files)} files ({size / 1e6:.1f} MB) to {where}/...")
        with exporter.step(built.timings, "upload"):
            for local in files:
                store.upload(local, f"{version}/{local.relative_to(local_version).as_posix()}")
        marker = Path(scratch) / MARKER
        marker.write_bytes(b"")
        store.upload(marker, f"{version}/{MARKER}")
    return exporter.ExportResult(
        path=where,
        size_bytes=size,
        signatures=built.signatures,
        warmup_records=built.warmup_records,
        seconds=time.perf_counter() - started,
        timings=built.timings,
    )


def upload_order(version_dir: Path) -> list[Path]:
    """The export record first (a retry recognises its own work), saved_model.pb last."""
    files = sorted(p for p in version_dir.rglob("*") if p.is_file())
    first = [p for p in files if p == version_dir / exporter.EXPORT_RECORD]
    last = [p for p in files if p == version_dir / "saved_model.pb"]
    return first + [p for p in files if p not in first and p not in last] + last


def _recorded(store: Store, version: int) -> dict[str, Any] | None:
    with tempfile.NamedTemporaryFile() as copy:
        try:
            store.download(f"{version}/{exporter.EXPORT_RECORD.as_posix()}", Path(copy.name))
            recorded: dict[str, Any] = json.loads(Path(copy.name).read_text())
        except (StoreError, OSError, ValueError):
            return None
    return recorded
