"""The `tfmodel predict` client: classify an image file with a model behind TF Serving's REST API.

Two ways to send the image:

* ``bytes`` (default): the file itself, base64 in JSON, to the exporter's ``image_bytes``
  signature; TF Serving decodes, resizes and preprocesses it. Needs only `requests`.
* ``tensor``: the classic tutorial request to ``serving_default``, a 224x224x3 array of
  preprocessed floats as JSON (about 30x larger for a camera photo). The decoding, resizing and
  preprocess_input run on the client with TensorFlow, imported only for this path.

The request builders (`bytes_request`, `tensor_request`, `encode_body`) and `top_k` are pure
functions, shared with the benchmark in tests/benchmarks.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tfmodel_operator.vocabulary import IMAGE_SIGNATURE, OUTPUT, SERVING_SIGNATURE

SEND_MODES = ("bytes", "tensor")

# What tf.io.decode_image reads, by the first bytes of the file.
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)


class PredictError(Exception):
    """A failure worth one line on stderr (the CLI exits 2), not a traceback."""


@dataclass(frozen=True)
class Prediction:
    rank: int
    index: int
    probability: float
    name: str | None = None


# ------------------------------------------------------------------------ pure helpers


def image_format(data: bytes) -> str | None:
    """ "JPEG", "PNG", "GIF" or "BMP" from the file's magic bytes; None for anything else."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def predict_url(url: str, version: int | None = None, label: str | None = None) -> str:
    """`http://host:8501/v1/models/vgg16` -> `.../vgg16[/versions/N|/labels/L]:predict`."""
    if version is not None and label is not None:
        raise PredictError("give --version or --label, not both")
    base = url.rstrip("/")
    if base.endswith(":predict") or re.search(r"/(versions|labels)/[^/]+$", base):
        raise PredictError(
            f"--url {url}: give the model URL (http://host:8501/v1/models/<name>); "
            "choose the version with --version or --label"
        )
    if version is not None:
        base += f"/versions/{version}"
    elif label is not None:
        base += f"/labels/{label}"
    return base + ":predict"


def bytes_request(image_bytes: bytes) -> dict[str, Any]:
    """The image_bytes signature's request: the file, base64 (TF Serving's {"b64": ...})."""
    return {
        "signature_name": IMAGE_SIGNATURE,
        "instances": [{"b64": base64.b64encode(image_bytes).decode("ascii")}],
    }


def tensor_request(
    image_bytes: bytes, application: str = "VGG16", size: tuple[int, int] = (224, 224)
) -> dict[str, Any]:
    """The classic request: decoded, resized, preprocessed floats for serving_default.

    Uses TensorFlow (imported here), with the same decode/resize/preprocess_input as the
    exported image_bytes signature, so both requests ask the model the same question.
    """
    from tfmodel_operator.model import images  # imports TensorFlow only when called

    try:
        array = images.preprocess_image(image_bytes, application, size)
    except ImportError as err:
        raise PredictError(
            "--send tensor needs TensorFlow (pip install 'tfmodel-operator[export]'); "
            "--send bytes does not"
        ) from err
    return {"signature_name": SERVING_SIGNATURE, "instances": [array.tolist()]}


def encode_body(request: Mapping[str, Any]) -> bytes:
    """The HTTP body: compact JSON."""
    return json.dumps(request, separators=(",", ":")).encode()


def first_row(response: Mapping[str, Any]) -> list[float]:
    """The first row of a row-format ("instances") answer: the class probabilities."""
    rows = response.get(OUTPUT)
    if not isinstance(rows, list) or not rows:
        raise PredictError(f"the answer has no {OUTPUT!r} rows: {_short(response)}")
    row = rows[0]
    if isinstance(row, dict):  # several outputs: one object per row
        row = row.get(OUTPUT)
    if not isinstance(row, list) or not all(_is_number(v) for v in row):
        raise PredictError(f"expected a list of probabilities, got {_short(row)}")
    return [float(v) for v in row]


def top_k(scores: Sequence[float], k: int = 5) -> list[Prediction]:
    """The k highest scores, best first; equal scores by class index."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: max(k, 0)]
    return [Prediction(rank, i, float(scores[i])) for rank, i in enumerate(order, start=1)]


def parse_labels(text: str) -> dict[int, str]:
    """Class names from Keras' imagenet_class_index.json ({"0": ["n01440764", "tench"]}),
    a JSON list of names, or plain text with one name per line (line N is class N)."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        names = {}
        for key, value in document.items():
            if not key.strip().isdigit():
                raise PredictError(f"labels: {key!r} is not a class index")
            if isinstance(value, list) and value:
                names[int(key)] = str(value[-1])
            else:
                names[int(key)] = str(value)
        return names
    if isinstance(document, list):
        return {i: str(v[-1] if isinstance(v, list) and v else v) for i, v in enumerate(document)}
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return {i: line.strip() for i, line in enumerate(lines)}


def with_names(predictions: list[Prediction], names: Mapping[int, str]) -> list[Prediction]:
    return [Prediction(p.rank, p.index, p.probability, names.get(p.index)) for p in predictions]


def format_predictions(predictions: list[Prediction]) -> list[str]:
    """rank, class index, probability, then the name if known: one line each, with a header."""
    named = any(p.name is not None for p in predictions)
    lines = ["rank  class  probability" + ("  name" if named else "")]
    for p in predictions:
        line = f"{p.rank:>4}  {p.index:>5}  {p.probability:>11.6f}"
        lines.append(line + (f"  {p.name or '?'}" if named else ""))
    return lines


# ------------------------------------------------------------------------ I/O


def read_image(path: Path) -> bytes:
    """The file's bytes, refused early unless it is an image TF Serving can decode."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise PredictError(f"cannot read {path}: {err.strerror or err}") from err
    if image_format(data) is None:
        raise PredictError(f"{path} is not a JPEG, PNG, GIF or BMP image")
    return data


def read_labels(path: Path) -> dict[int, str]:
    try:
        return parse_labels(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise PredictError(f"cannot read labels file {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise PredictError(f"labels file {path} is not UTF-8 text") from err


def post(url: str, body: bytes, timeout: float) -> dict[str, Any]:
    """POST a predict request; TF Serving's answer, or a PredictError quoting its error."""
    try:
        response = requests.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
        )
    except requests.exceptions.Timeout as err:
        raise PredictError(f"no answer from {url} within {timeout:g} s") from err
    except requests.exceptions.ConnectionError as err:
        raise PredictError(f"cannot reach TF Serving at {url}: {_reason(err)}") from err
    except requests.exceptions.RequestException as err:
        raise PredictError(f"request to {url} failed: {_reason(err)}") from err
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status_code != 200:
        raise PredictError(_http_error(url, response.status_code, document, response.text))
    if not isinstance(document, dict):
        raise PredictError(f"{url}: the answer is not a JSON object: {_short(response.text)}")
    return document


def predict(
    url: str,
    image: Path,
    *,
    version: int | None = None,
    label: str | None = None,
    k: int = 5,
    send: str = "bytes",
    timeout: float = 30.0,
    application: str = "VGG16",
    image_size: int = 224,
) -> list[Prediction]:
    """Send one image and return the top k classes (without names)."""
    if k < 1:
        raise PredictError(f"--top must be at least 1, not {k}")
    if send not in SEND_MODES:
        raise PredictError(f"--send must be one of {', '.join(SEND_MODES)}, not {send!r}")
    target = predict_url(url, version, label)
    data = read_image(image)
    if send == "bytes":
        request = bytes_request(data)
    else:
        request = tensor_request(data, application, (image_size, image_size))
    return top_k(first_row(post(target, encode_body(request), timeout)), k)


def _http_error(url: str, status: int, document: Any, text: str) -> str:
    error = document.get("error") if isinstance(document, dict) else None
    if error is None:
        detail = _short(text) if text.strip() else "empty answer"
        if status == 404:
            detail += "; expected a model URL such as http://host:8501/v1/models/<name>"
        return f"{url}: HTTP {status}: {detail}"
    message = f"{url}: HTTP {status}: {error}"
    if IMAGE_SIGNATURE in str(error) and "not found" in str(error):
        message += " (exported with --no-image-signature? try --send tensor)"
    return message


def _reason(err: BaseException) -> str:
    """ "Connection refused" out of urllib3's nested wrappers, else the first line."""
    text = str(err)
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def note(message: str) -> None:
    print(f"tfmodel predict: {message}", file=sys.stderr)
