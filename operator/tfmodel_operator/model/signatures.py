"""What an export saves: the keras model in a tf.Module with the two named signatures clients
use (`serving_default` on preprocessed pixels, `image_bytes` on image files), its check after
saving, and TF Serving warmup records for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfmodel_operator.model.applications import ExportError, input_size
from tfmodel_operator.model.images import decode_image
from tfmodel_operator.vocabulary import (
    BYTES_INPUT,
    IMAGE_INPUT,
    IMAGE_SIGNATURE,
    OUTPUT,
    SERVING_SIGNATURE,
)


@dataclass
class ServingModel:
    """What gets saved: a tf.Module holding the keras model, and its signature functions."""

    module: Any  # tf.Module
    signatures: dict[str, Any]  # signature key -> tf.function with an input_signature
    model: Any  # the keras.Model, e.g. to compare with model.predict
    image_size: tuple[int, int]  # (height, width)
    classes: int


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
