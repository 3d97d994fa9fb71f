"""The keras.applications models the exporter builds: the constructor, its preprocess_input, and
the weights (ImageNet, random, or a file). TensorFlow and Keras are imported inside the
functions, so importing this module is cheap."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WEIGHTS_IMAGENET = "imagenet"
WEIGHTS_NONE = "none"


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
                f"cannot get the ImageNet weights for {application.name}: {first_line(err)}"
            ) from err
    model = application.constructor(weights=None)
    if weights != WEIGHTS_NONE:
        try:
            model.load_weights(weights)
        except Exception as err:  # Keras raises ValueError, OSError, KeyError... for a bad file
            raise UsageError(
                f"cannot load weights for {application.name} from {weights}: {first_line(err)}"
            ) from err
    return model


def input_size(model: Any) -> tuple[int, int]:
    """(height, width) of the model's input, which the image_bytes signature resizes to."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or not all(isinstance(d, int) for d in shape[1:3]):
        raise UsageError(f"{model.name}: expected an input shape (None, H, W, 3), got {shape}")
    return int(shape[1]), int(shape[2])


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
