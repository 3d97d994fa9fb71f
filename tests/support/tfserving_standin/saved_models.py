"""SavedModels for tests, published the way an exporter should publish them.

`make_saved_model` writes a real, tiny SavedModel (``y = x * version``, so a prediction tells
which version answered) and `make_broken_version` a version directory that fails to load; both
go through `publish_dir`, which builds under a ".tmp-" name and renames into place, so a
filesystem poll never sees half a version.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf


class _Scaler(tf.Module):
    """y = x * factor, with the factor a variable so the SavedModel has one to restore."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = tf.Variable(factor, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * self.factor}


def publish_dir(build: Callable[[Path], None], target: Path) -> Path:
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
        tf.saved_model.save(
            module,
            str(scratch),
            signatures={tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: module.serve},
        )

    return publish_dir(build, dir)


def make_broken_version(dir: Path) -> Path:
    """Write a version directory whose saved_model.pb is garbage, so a real TF load fails."""

    def build(scratch: Path) -> None:
        scratch.mkdir()
        (scratch / "saved_model.pb").write_bytes(b"\x08\xff\xff\xff this is not a SavedModel")

    return publish_dir(build, dir)
