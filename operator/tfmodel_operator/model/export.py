"""The exporter: a keras.applications model -> a TF Serving version directory, published atomically.

`tfmodel export` (and the export Job that runs it) builds the model, saves a SavedModel with two
signatures into `<base>/.tmp-<N>`, loads it back and checks it, then renames it to `<base>/<N>`.
TF Serving only considers all-digit directory names, so it never sees a half-written version,
and a version directory, once there, is complete (its files are fsynced before the rename).

Signatures (what clients send):

* ``serving_default``: ``image`` float32 [batch, H, W, 3], already preprocessed the way the
  application expects (VGG16: ``keras.applications.vgg16.preprocess_input``, "caffe" mode),
  -> ``predictions`` float32 [batch, classes]. This is the request of the classic tutorials.
* ``image_bytes``: ``image_bytes`` string [batch] (JPEG, PNG, GIF or BMP file contents; TF
  Serving's REST API maps ``{"b64": ...}`` to a string) -> ``predictions``. Decoding, resizing
  to the model's input size and the application's own ``preprocess_input`` run in the graph, so
  a client sends a ~100 KB JPEG instead of ~3 MB of floats as JSON.

TensorFlow is imported inside the functions: `tfmodel run` and `tfmodel render` never load it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfmodel_operator.model.applications import (
    WEIGHTS_IMAGENET,
    WEIGHTS_NONE,
    ExportError,
    UsageError,
    VersionExists,
    build_model,
    resolve_application,
)
from tfmodel_operator.model.images import decode_image, encode_jpeg, sample_photo
from tfmodel_operator.model.signatures import (
    build_serving_module,
    read_warmup,
    verify,
    warmup_requests,
    write_warmup,
)
from tfmodel_operator.vocabulary import IMAGE_SIGNATURE, SERVING_SIGNATURE

# TF Serving reads warmup requests from this file and stops after 1000 records.
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


MAX_WARMUP_RECORDS = 1000


TMP_PREFIX = ".tmp-"


# What an export was asked to do, kept inside the version: a re-run of the same export (a Job
# retried after it published) recognises its own work and succeeds without touching it.
EXPORT_RECORD = Path("assets.extra") / "tfmodel-export.json"


Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    """A published version."""

    path: Path | str  # the version directory, or its URL in a bucket
    size_bytes: int
    signatures: tuple[str, ...]
    warmup_records: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds

    def summary(self) -> str:
        """The one line `tfmodel export` prints on success."""
        warmup = f", {self.warmup_records} warmup records" if self.warmup_records else ""
        return (
            f"exported {self.path} ({self.size_bytes / 1e6:.1f} MB, signatures: "
            f"{', '.join(self.signatures)}{warmup}) in {self.seconds:.1f} s"
        )


def version_dir(base_path: Path, version: int) -> Path:
    return Path(base_path) / str(version)


def temp_dir(base_path: Path, version: int) -> Path:
    """Where a version is written before it is published: not all digits, so TF Serving skips it."""
    return Path(base_path) / f"{TMP_PREFIX}{version}"


def export_record(
    application: str,
    weights: str,
    version: int,
    warmup: bool,
    warmup_records: int,
    image_signature: bool,
    model_name: str | None,
) -> dict[str, Any]:
    """What an export was asked to do, as EXPORT_RECORD holds it."""
    signatures = (SERVING_SIGNATURE, IMAGE_SIGNATURE) if image_signature else (SERVING_SIGNATURE,)
    if weights.lower() in (WEIGHTS_IMAGENET, WEIGHTS_NONE):
        weights = weights.lower()
    return {
        "application": application, "weights": weights, "version": version,
        "warmupRecords": warmup_records if warmup else 0, "signatures": list(signatures),
        "modelName": model_name or application.lower(),
    }  # fmt: skip


def export(
    application: str,
    weights: str,
    version: int,
    base_path: Path,
    *,
    warmup: bool = False,
    warmup_records: int = 1,
    image_signature: bool = True,
    model_name: str | None = None,
    progress: Progress | None = None,
    exist_ok: bool = False,
) -> ExportResult:
    """Build `application`, save it as `<base_path>/<version>` atomically, and verify it.

    ``weights``: "imagenet" (Keras downloads them: only when asked), "none" (random), or the
    path of a ``.weights.h5`` file. Raises VersionExists if the version is there (nothing is
    touched), UsageError for bad input, ExportError if the saved model fails verification.
    Whatever happens, no version directory is left unless it is complete. With `exist_ok`, a
    version that this same export (same inputs) already published is a success, untouched.
    """
    say = progress or (lambda _: None)
    started = time.perf_counter()
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UsageError(f"--version must be a positive integer, not {version!r}")
    base_path = Path(base_path)
    target = version_dir(base_path, version)
    signatures = (SERVING_SIGNATURE, IMAGE_SIGNATURE) if image_signature else (SERVING_SIGNATURE,)
    if warmup and not 1 <= warmup_records * len(signatures) <= MAX_WARMUP_RECORDS:
        raise UsageError(
            f"--warmup-records {warmup_records} x {len(signatures)} signatures must be between "
            f"1 and {MAX_WARMUP_RECORDS} (TF Serving reads at most {MAX_WARMUP_RECORDS})"
        )
    if weights.lower() in (WEIGHTS_IMAGENET, WEIGHTS_NONE):
        weights = weights.lower()
    elif not Path(weights).is_file():
        raise UsageError(f"weights file {weights} does not exist (or use imagenet or none)")
    record = export_record(
        application, weights, version, warmup, warmup_records, image_signature, model_name
    )

    def already_done() -> ExportResult | None:
        if not (exist_ok and _recorded(target) == record):
            return None
        say(f"{target} was already published by this same export; nothing to do")
        seconds = time.perf_counter() - started
        return ExportResult(target, _tree_size(target), signatures, 0, seconds)

    if done := already_done():
        return done
    _refuse_existing(target)
    model_name = model_name or application.lower()
    app = resolve_application(application)  # imports TensorFlow: after the cheap checks
    import tensorflow as tf

    timings: dict[str, float] = {}
    base_path.mkdir(parents=True, exist_ok=True)
    with _export_lock(base_path, say):
        if done := already_done():  # a retry of this export may have finished while we waited
            return done
        _refuse_existing(target)  # another exporter may have published it while we waited
        scratch = temp_dir(base_path, version)
        try:
            if scratch.exists():
                say(f"removing {scratch} left by an interrupted export...")
                shutil.rmtree(scratch)
            with step(timings, "build"):
                say(f"building {app.name} (weights={weights})...")
                model = build_model(app, weights)
                serving = build_serving_module(
                    model, app.preprocess_input, image_signature=image_signature
                )
            with step(timings, "save"):
                say(f"saving to {scratch}...")
                tf.saved_model.save(serving.module, str(scratch), signatures=serving.signatures)
            with step(timings, "verify"):
                say("verifying...")
                photo = sample_photo(*serving.image_size)
                sample_jpeg = encode_jpeg(photo)
                verify(scratch, serving, sample_jpeg)
            records = 0
            if warmup:
                with step(timings, "warmup"):
                    say("writing warmup requests...")
                    preprocessed = app.preprocess_input(
                        decode_image(sample_jpeg, serving.image_size)
                    ).numpy()
                    logs = warmup_requests(
                        serving, model_name, sample_jpeg, preprocessed, warmup_records
                    )
                    write_warmup(scratch / WARMUP_FILE, logs)
                    records = len(read_warmup(scratch / WARMUP_FILE))
                    if records != len(logs):
                        raise ExportError(
                            f"verification failed: {WARMUP_FILE} holds {records} records, "
                            f"wrote {len(logs)}"
                        )
            with step(timings, "publish"):
                say(f"publishing {target}...")
                (scratch / EXPORT_RECORD).parent.mkdir(parents=True, exist_ok=True)
                (scratch / EXPORT_RECORD).write_text(json.dumps(record, sort_keys=True) + "\n")
                _sync_tree(scratch)  # the data is on disk before the name is
                try:
                    os.rename(scratch, target)
                except OSError as err:
                    if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                        raise VersionExists(
                            f"{target} appeared during the export; not replaced"
                        ) from err
                    raise
                _sync_dir(base_path)
        finally:
            # An error, KeyboardInterrupt or SIGTERM (the CLI turns it into SystemExit): no
            # half-written version survives; after a successful rename there is nothing here.
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(
        path=target,
        size_bytes=_tree_size(target),
        signatures=signatures,
        warmup_records=records,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def _recorded(target: Path) -> dict[str, Any] | None:
    """The inputs of the export that published `target`, if it was one of ours."""
    try:
        recorded: dict[str, Any] = json.loads((target / EXPORT_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return recorded


def _refuse_existing(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise VersionExists(
            f"{target} already exists; published versions are immutable, export a new version"
        )


@contextlib.contextmanager
def _export_lock(base_path: Path, say: Progress) -> Iterator[None]:
    """One exporter at a time per base path (two Jobs, or a Job retried while its pod lingers).

    flock on the base directory: released by the kernel if the process dies, leaves no file.
    Filesystems that cannot lock a directory (some NFS setups) go without.
    """
    fd = os.open(base_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another export into {base_path} to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # no locking here; the final rename still never replaces a version
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def step(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - start


def _sync_tree(root: Path) -> None:
    """fsync every file and directory under root, so a crash after the rename finds it whole."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(directory))


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def stderr_progress(message: str) -> None:
    print(f"tfmodel export: {message}", file=sys.stderr, flush=True)
