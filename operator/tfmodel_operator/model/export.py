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
import difflib
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

SERVING_SIGNATURE = "serving_default"
IMAGE_SIGNATURE = "image_bytes"
IMAGE_INPUT = "image"
BYTES_INPUT = "image_bytes"
OUTPUT = "predictions"
WEIGHTS_IMAGENET = "imagenet"
WEIGHTS_NONE = "none"
# TF Serving reads warmup requests from this file and stops after 1000 records.
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
TMP_PREFIX = ".tmp-"
# What an export was asked to do, kept inside the version: a re-run of the same export (a Job
# retried after it published) recognises its own work and succeeds without touching it.
EXPORT_RECORD = Path("assets.extra") / "tfmodel-export.json"

Progress = Callable[[str], None]


class ExportError(Exception):
    """An export that failed; nothing was published. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(ExportError):
    """Bad input (unknown application, missing weights file, bad version): nothing was tried."""

    exit_code = 2


class VersionExists(UsageError):
    """The version directory is already there; versions are immutable once published."""


@dataclass(frozen=True)
class Application:
    """A keras.applications model: its constructor and the preprocess_input that goes with it."""

    name: str
    constructor: Callable[..., Any]
    preprocess_input: Callable[[Any], Any]
    module: str  # e.g. "vgg16": keras.applications.<module>.preprocess_input


@dataclass
class ServingModel:
    """What gets saved: a tf.Module holding the keras model, and its signature functions."""

    module: Any  # tf.Module
    signatures: dict[str, Any]  # signature key -> tf.function with an input_signature
    model: Any  # the keras.Model, e.g. to compare with model.predict
    image_size: tuple[int, int]  # (height, width)
    classes: int


@dataclass(frozen=True)
class ExportResult:
    """A published version."""

    path: Path
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


# ------------------------------------------------------------------------ model building


def resolve_application(name: str) -> Application:
    """`VGG16` -> keras.applications.VGG16 and keras.applications.vgg16.preprocess_input."""
    import keras

    apps = keras.applications
    constructor = getattr(apps, name, None) if name[:1].isupper() else None
    if not callable(constructor):
        known = sorted(n for n in dir(apps) if n[:1].isupper())
        by_lower = {n.lower(): n for n in known}  # so "vgg16" suggests VGG16
        close = [
            by_lower[n] for n in difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.6)
        ]
        hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise UsageError(f"unknown application {name!r} (a keras.applications model){hint}")
    # The public submodules that export this constructor (ResNet50 is in resnet and resnet50);
    # prefer the one named after it.
    modules = [
        m
        for m in dir(apps)
        if m.islower()
        and getattr(getattr(apps, m), name, None) is constructor
        and hasattr(getattr(apps, m), "preprocess_input")
    ]
    if not modules:
        raise UsageError(f"application {name!r} has no keras.applications.*.preprocess_input")
    modules.sort(key=lambda m: m.replace("_", "") != name.lower())
    module = modules[0]
    return Application(name, constructor, getattr(apps, module).preprocess_input, module)


def build_model(application: Application, weights: str) -> Any:
    """The keras model: ImageNet weights (downloaded by Keras), random ones, or from a file."""
    if weights == WEIGHTS_IMAGENET:
        try:
            return application.constructor(weights="imagenet")
        except Exception as err:  # Keras wraps download errors in a bare Exception
            raise ExportError(
                f"cannot get the ImageNet weights for {application.name}: {_first_line(err)}"
            ) from err
    model = application.constructor(weights=None)
    if weights != WEIGHTS_NONE:
        try:
            model.load_weights(weights)
        except Exception as err:  # Keras raises ValueError, OSError, KeyError... for a bad file
            raise UsageError(
                f"cannot load weights for {application.name} from {weights}: {_first_line(err)}"
            ) from err
    return model


def input_size(model: Any) -> tuple[int, int]:
    """(height, width) of the model's input, which the image_bytes signature resizes to."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or not all(isinstance(d, int) for d in shape[1:3]):
        raise UsageError(f"{model.name}: expected an input shape (None, H, W, 3), got {shape}")
    return int(shape[1]), int(shape[2])


def decode_image(data: Any, size: tuple[int, int]) -> Any:
    """JPEG/PNG/GIF/BMP bytes (a scalar string tensor) -> float32 [H, W, 3], 0-255, resized.

    Used inside the image_bytes signature and by the `predict --send tensor` client, so the
    two paths compute the same input. Bilinear with antialiasing: a plain bilinear downscale
    of a camera photo aliases.
    """
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    image.set_shape([size[0], size[1], 3])
    return image


def build_serving_module(
    model: Any, preprocess_input: Callable[[Any], Any], *, image_signature: bool = True
) -> ServingModel:
    """Wrap the keras model in a tf.Module with named signatures (not Keras' auto names)."""
    import tensorflow as tf

    height, width = input_size(model)
    classes = int(model.output_shape[-1])
    module = tf.Module()
    module.model = model  # tracked: its variables are saved with the module

    # tf.function(f, input_signature=...) rather than the decorator: typed code stays typed.
    def serve(image: Any) -> dict[str, Any]:
        return {OUTPUT: model(image, training=False)}

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        # One image at a time: the files in a batch may have different sizes.
        images = tf.map_fn(
            lambda data: decode_image(data, (height, width)),
            image_bytes,
            fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32),
        )
        return {OUTPUT: model(preprocess_input(images), training=False)}

    module.serve = tf.function(
        serve,
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name=IMAGE_INPUT)],
    )
    signatures: dict[str, Any] = {SERVING_SIGNATURE: module.serve}
    if image_signature:
        module.serve_bytes = tf.function(
            serve_bytes, input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)]
        )
        signatures[IMAGE_SIGNATURE] = module.serve_bytes
    return ServingModel(module, signatures, model, (height, width), classes)


def preprocess_image(
    data: bytes, application: str = "VGG16", size: tuple[int, int] = (224, 224)
) -> Any:
    """Image file bytes -> float32 [H, W, 3] as serving_default wants it (numpy array).

    The same decode, resize and preprocess_input as the image_bytes signature, on the client.
    """
    app = resolve_application(application)
    return app.preprocess_input(decode_image(data, size)).numpy()


# ------------------------------------------------------------------------ sample images


def sample_photo(height: int = 480, width: int = 640, seed: int = 0) -> Any:
    """A deterministic, natural-ish RGB uint8 image: smooth gradients, soft blobs and noise.

    Real photos compress like this (JPEG ~100 KB at 640x480), unlike uniform noise.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= height
    x /= width
    image = np.stack(
        [
            0.5 + 0.5 * np.sin(2 * np.pi * (1.3 * x + 0.2 * y)),
            0.3 + 0.6 * y,
            0.5 + 0.5 * np.cos(2 * np.pi * (2.0 * x * y)),
        ],
        axis=-1,
    )
    for _ in range(6):
        cy, cx, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))
        image += blob[..., None] * rng.uniform(-0.5, 0.5, 3)
    image = image * 255 + rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode_jpeg(image: Any, quality: int = 90) -> bytes:
    import tensorflow as tf

    return bytes(tf.io.encode_jpeg(image, quality=quality).numpy())


def encode_png(image: Any) -> bytes:
    import tensorflow as tf

    return bytes(tf.io.encode_png(image).numpy())


# ------------------------------------------------------------------------ verification


def verify(path: Path, serving: ServingModel, sample_jpeg: bytes) -> None:
    """Load the SavedModel back and run each signature once; raise ExportError if anything is off.

    Checks the names, dtypes and shapes TF Serving clients depend on, and that the loaded
    model answers what the in-memory one does (catches variables that were not saved).
    """
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    height, width = serving.image_size
    expected = {SERVING_SIGNATURE: (IMAGE_INPUT, tf.float32, [None, height, width, 3])}
    if IMAGE_SIGNATURE in serving.signatures:
        expected[IMAGE_SIGNATURE] = (BYTES_INPUT, tf.string, [None])
    if set(loaded.signatures.keys()) != set(expected):
        raise ExportError(
            f"verification failed: {path} has signatures {sorted(loaded.signatures.keys())}, "
            f"expected {sorted(expected)}"
        )
    inputs = {
        SERVING_SIGNATURE: np.zeros((1, height, width, 3), np.float32),
        IMAGE_SIGNATURE: np.array([sample_jpeg], dtype=object),
    }
    for key, (name, dtype, shape) in expected.items():
        function = loaded.signatures[key]
        specs = function.structured_input_signature[1]
        spec = specs.get(name)
        if set(specs) != {name} or spec.dtype != dtype or spec.shape.as_list() != shape:
            raise ExportError(
                f"verification failed: signature {key} takes {specs}, expected {name} "
                f"{dtype.name} {shape}"
            )
        outputs = function.structured_outputs
        if set(outputs) != {OUTPUT} or outputs[OUTPUT].dtype != tf.float32:
            raise ExportError(
                f"verification failed: signature {key} returns {outputs}, expected {OUTPUT} float32"
            )
        got = function(**{name: tf.constant(inputs[key])})[OUTPUT].numpy()
        want = serving.signatures[key](tf.constant(inputs[key]))[OUTPUT].numpy()
        if got.shape != (1, serving.classes) or not np.all(np.isfinite(got)):
            raise ExportError(
                f"verification failed: signature {key} answered shape {list(got.shape)}, "
                f"expected [1, {serving.classes}] finite values"
            )
        if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
            raise ExportError(
                f"verification failed: signature {key} of the saved model differs from the "
                f"model in memory by up to {float(np.max(np.abs(got - want))):.3g}"
            )


# ------------------------------------------------------------------------ warmup


def warmup_requests(
    serving: ServingModel, model_name: str, sample_jpeg: bytes, preprocessed: Any, records: int
) -> list[bytes]:
    """Serialized PredictionLog records: `records` per signature, TF Serving's warmup format."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    inputs: dict[str, tuple[str, Any]] = {
        SERVING_SIGNATURE: (IMAGE_INPUT, tf.make_tensor_proto(preprocessed[None], tf.float32)),
    }
    if IMAGE_SIGNATURE in serving.signatures:
        inputs[IMAGE_SIGNATURE] = (
            BYTES_INPUT,
            tf.make_tensor_proto([sample_jpeg], dtype=tf.string, shape=[1]),
        )
    out = []
    for key, (name, tensor) in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = key
        request.inputs[name].CopyFrom(tensor)
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        out.extend([log.SerializeToString()] * records)
    return out


def write_warmup(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def read_warmup(path: Path) -> list[Any]:
    """The PredictionLog records of a warmup file (for verification and tests)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


# ------------------------------------------------------------------------ publishing


def version_dir(base_path: Path, version: int) -> Path:
    return Path(base_path) / str(version)


def temp_dir(base_path: Path, version: int) -> Path:
    """Where a version is written before it is published: not all digits, so TF Serving skips it."""
    return Path(base_path) / f"{TMP_PREFIX}{version}"


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
    record = {
        "application": application, "weights": weights, "version": version,
        "warmupRecords": warmup_records if warmup else 0, "signatures": list(signatures),
        "modelName": model_name or application.lower(),
    }  # fmt: skip

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
            with _step(timings, "build"):
                say(f"building {app.name} (weights={weights})...")
                model = build_model(app, weights)
                serving = build_serving_module(
                    model, app.preprocess_input, image_signature=image_signature
                )
            with _step(timings, "save"):
                say(f"saving to {scratch}...")
                tf.saved_model.save(serving.module, str(scratch), signatures=serving.signatures)
            with _step(timings, "verify"):
                say("verifying...")
                photo = sample_photo(*serving.image_size)
                sample_jpeg = encode_jpeg(photo)
                verify(scratch, serving, sample_jpeg)
            records = 0
            if warmup:
                with _step(timings, "warmup"):
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
            with _step(timings, "publish"):
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
def _step(timings: dict[str, float], name: str) -> Iterator[None]:
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


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def stderr_progress(message: str) -> None:
    print(f"tfmodel export: {message}", file=sys.stderr, flush=True)
