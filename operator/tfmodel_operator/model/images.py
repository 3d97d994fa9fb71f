"""Images for models and their clients: decode and resize as the image_bytes signature does,
preprocess as the application expects (for the `predict --send tensor` client), and
deterministic sample photos as JPEG or PNG (for verification, warmup records and tests)."""

from __future__ import annotations

from typing import Any

from tfmodel_operator.model.applications import resolve_application


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


def preprocess_image(
    data: bytes, application: str = "VGG16", size: tuple[int, int] = (224, 224)
) -> Any:
    """Image file bytes -> float32 [H, W, 3] as serving_default wants it (numpy array).

    The same decode, resize and preprocess_input as the image_bytes signature, on the client.
    """
    app = resolve_application(application)
    return app.preprocess_input(decode_image(data, size)).numpy()


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
