"""Real SavedModels with VGG16's serving contract, small enough for the stand-in to load fast.

They carry the signatures the exporter writes for VGG16 (the exporter's own names:
`serving_default` on a float `image` input and `image_bytes` on JPEG bytes, both answering
`predictions`) on tiny tensors: `image` is float32 [batch, 2] and predictions = image * version,
so an answer also says which version gave it (as make_saved_model's y = x * version does).
`image_bytes` decodes each JPEG (a bad one fails the request, as VGG16's would) and answers
[version, version] per image. Each `Change` breaks that contract in one way, or makes a version
that keeps it but answers NaN.
"""

import enum
from pathlib import Path
from typing import Any

import tensorflow as tf

from support.tfserving_standin import publish_dir
from tfmodel_operator.vocabulary import (
    BYTES_INPUT,
    IMAGE_INPUT,
    IMAGE_SIGNATURE,
    OUTPUT,
    SERVING_SIGNATURE,
)


class Change(enum.Enum):
    NONE = "keeps the contract"
    INPUT_RENAMED = "image is renamed pixels"
    IMAGE_BYTES_DROPPED = "no image_bytes signature"
    OUTPUT_DTYPE = "predictions is float64"
    NAN = "keeps the contract, answers NaN"


class ContractModel(tf.Module):
    def __init__(self, version: int, change: Change) -> None:
        super().__init__()
        factor = float("nan") if change is Change.NAN else float(version)
        self.factor = tf.Variable(factor, dtype=tf.float32)
        self.change = change

    def scores(self, values: Any) -> dict[str, Any]:
        out = values * self.factor
        return {OUTPUT: tf.cast(out, tf.float64) if self.change is Change.OUTPUT_DTYPE else out}

    def signatures(self) -> dict[str, Any]:
        name = "pixels" if self.change is Change.INPUT_RENAMED else IMAGE_INPUT
        image = tf.TensorSpec([None, 2], tf.float32, name=name)
        signatures = {
            SERVING_SIGNATURE: tf.function(self.scores, input_signature=[image]),
        }
        if self.change is not Change.IMAGE_BYTES_DROPPED:

            def from_bytes(image_bytes: Any) -> dict[str, Any]:
                means = tf.map_fn(
                    lambda data: tf.reduce_mean(
                        tf.cast(tf.io.decode_jpeg(data, channels=3), tf.float32)
                    ),
                    image_bytes,
                    fn_output_signature=tf.float32,
                )
                ones = tf.ones([tf.shape(image_bytes)[0], 2]) + 0.0 * means[:, None]
                return self.scores(ones)

            signatures[IMAGE_SIGNATURE] = tf.function(
                from_bytes, input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)]
            )
        return signatures


def make_contract_model(dir: Path, version: int, change: Change = Change.NONE) -> Path:
    """Write version `version` into `dir` (a version directory such as <base>/2), atomically."""

    def build(scratch: Path) -> None:
        module = ContractModel(version, change)
        tf.saved_model.save(module, str(scratch), signatures=module.signatures())

    return publish_dir(build, dir)
