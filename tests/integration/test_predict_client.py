"""`tfmodel predict` against TF Serving's REST API.

No tensorflow_model_server binary can be installed here, so the server is the tests' TF Serving
STAND-IN (tests/support/tfserving_standin/), which loads the exported SavedModels with real
TensorFlow and answers with TF Serving's JSON and error shapes. The models are real exports
(random weights): version 1 is VGG16, version 2 a MobileNetV2 (small and quick, and it answers
differently, which is what the routing tests need). Labels: stable -> 1, canary -> 2.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.tfserving_standin import StandIn
from tfmodel_operator import cli
from tfmodel_operator.model import export, images, predict

OPERATOR_SRC = Path(__file__).resolve().parents[2] / "operator"

MODELS_CONFIG = """
model_config_list {
  config {
    name: 'vgg16'
    base_path: '/models/vgg16'
    model_platform: 'tensorflow'
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: 'stable' value: 1 }
    version_labels { key: 'canary' value: 2 }
  }
}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("predict")
    base = tmp / "vgg16"
    export.export("VGG16", "none", 1, base)
    export.export("MobileNetV2", "none", 2, base)
    config = tmp / "models.config"
    config.write_text(MODELS_CONFIG)
    photo = tmp / "photo.jpg"  # a camera-sized JPEG: the server resizes it to 224x224
    photo.write_bytes(images.encode_jpeg(images.sample_photo(480, 640, seed=7)))
    with StandIn("127.0.0.1", 0, config, {"/models/vgg16": base}, poll_seconds=0) as standin:
        yield {"url": f"{standin.url}/v1/models/vgg16", "photo": photo, "tmp": tmp}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["predict", *args])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[tuple[int, int, float, str | None]]:
    """The printed table: (rank, class, probability, name or None)."""
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["rank", "class", "probability"]
    table = []
    for line in lines[1:]:
        rank, index, probability, *name = line.split(maxsplit=3)
        table.append((int(rank), int(index), float(probability), name[0] if name else None))
    return table


def ask(capsys: pytest.CaptureFixture[str], served: dict[str, Any], *args: str) -> list[Any]:
    code, out, err = run(capsys, "--url", served["url"], "--image", str(served["photo"]), *args)
    assert code == 0, err
    return rows(out)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when we return: nothing listens


# ------------------------------------------------------------------------ against the server


def test_bytes_and_tensor_requests_agree(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The image_bytes signature (decode/resize/preprocess in the graph) and the classic float
    request (the same steps on the client) give the same top classes."""
    sent_bytes = ask(capsys, served, "--version", "1", "--send", "bytes", "--top", "5")
    sent_tensor = ask(capsys, served, "--version", "1", "--send", "tensor", "--top", "5")
    assert [r[1] for r in sent_bytes] == [r[1] for r in sent_tensor]
    for (_, _, p, _), (_, _, q, _) in zip(sent_bytes, sent_tensor, strict=True):
        assert p == pytest.approx(q, abs=2e-6)
    assert [r[0] for r in sent_bytes] == [1, 2, 3, 4, 5]
    probabilities = [r[2] for r in sent_bytes]
    assert probabilities == sorted(probabilities, reverse=True)


def test_versions_and_labels_route(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    one = ask(capsys, served, "--version", "1")
    two = ask(capsys, served, "--version", "2")
    assert one != two  # VGG16 and MobileNetV2 answer differently
    assert ask(capsys, served, "--label", "stable") == one
    assert ask(capsys, served, "--label", "canary") == two
    assert ask(capsys, served) == two  # no version: TF Serving's latest


def test_top_k_and_note_about_names(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "--url", served["url"], "--image", str(served["photo"]), "--top", "3"
    )
    assert code == 0
    assert len(rows(out)) == 3
    assert all(name is None for *_, name in rows(out))
    assert err.count("--labels-file") == 1


def test_labels_file_in_keras_json_format(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    labels = tmp_path / "imagenet_class_index.json"
    labels.write_text(json.dumps(index))
    code, out, err = run(
        capsys, "--url", served["url"], "--image", str(served["photo"]),
        "--labels-file", str(labels),
    )  # fmt: skip
    assert code == 0, err
    assert "--labels-file" not in err
    table = rows(out)
    assert [name for *_, name in table] == [f"class_{i}" for _, i, _, _ in table]


def test_labels_file_as_text(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"name {i}\n" for i in range(1000)))
    table = ask(capsys, served, "--labels-file", str(labels))
    assert [name for *_, name in table] == [f"name {i}" for _, i, _, _ in table]


def test_unreachable_server(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(images.encode_png(images.sample_photo(8, 8)))
    url = f"http://127.0.0.1:{closed_port()}/v1/models/vgg16"
    code, out, err = run(capsys, "--url", url, "--image", str(image), "--timeout", "5")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        f"tfmodel predict: error: cannot reach TF Serving at {url}:predict: Connection refused"
    )


def test_unknown_version_is_a_404(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "--url", served["url"], "--image", str(served["photo"]), "--version", "7"
    )
    assert code == 2
    assert out == ""
    assert err.strip() == (
        f"tfmodel predict: error: {served['url']}/versions/7:predict: HTTP 404: "
        "Servable not found for request: Specific(vgg16, 7)"
    )


def test_unknown_label_and_model(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "--url", served["url"], "--image", str(served["photo"]), "--label", "nope"
    )
    assert code == 2
    assert "HTTP 400: Unrecognized servable version label: nope" in err
    other = served["url"].replace("/vgg16", "/resnet")
    code, _, err = run(capsys, "--url", other, "--image", str(served["photo"]))
    assert code == 2
    assert "HTTP 404: Servable not found for request: Latest(resnet)" in err
    assert "Traceback" not in err


def test_not_an_image_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    url = f"http://127.0.0.1:{closed_port()}/v1/models/vgg16"  # never dialled
    code, out, err = run(capsys, "--url", url, "--image", str(text))
    assert code == 2
    assert out == ""
    assert err.strip() == f"tfmodel predict: error: {text} is not a JPEG, PNG, GIF or BMP image"
    code, _, err = run(capsys, "--url", url, "--image", str(tmp_path / "missing.jpg"))
    assert code == 2
    assert "cannot read" in err
    assert "No such file or directory" in err


def test_bytes_path_works_without_tensorflow(served: dict[str, Any]) -> None:
    """A client without TensorFlow: --send bytes works, --send tensor says what it needs."""
    script = (
        "import sys; sys.modules['tensorflow'] = None  # importing it now raises ImportError\n"
        "from tfmodel_operator import cli\n"
        "argv = ['predict', '--url', sys.argv[1], '--image', sys.argv[2], '--top', '1']\n"
        "assert cli.main(argv) == 0\n"
        "assert cli.main([*argv, '--send', 'tensor']) == 2\n"
    )
    env = {**os.environ, "PYTHONPATH": str(OPERATOR_SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script, served["url"], str(served["photo"])],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 2  # header + 1 class
    assert "--send tensor needs TensorFlow" in done.stderr


# ------------------------------------------------------------------------ pure helpers


def test_bytes_request() -> None:
    data = b"\xff\xd8\xff\xe0 a jpeg, as far as the request is concerned"
    request = predict.bytes_request(data)
    assert request == {
        "signature_name": "image_bytes",
        "instances": [{"b64": base64.b64encode(data).decode()}],
    }
    assert json.loads(predict.encode_body(request)) == request


def test_tensor_request() -> None:
    png = images.encode_png(images.sample_photo(100, 150))
    request = predict.tensor_request(png)
    assert request["signature_name"] == "serving_default"
    (image,) = request["instances"]
    assert (len(image), len(image[0]), len(image[0][0])) == (224, 224, 3)
    assert all(isinstance(v, float) for v in image[0][0])


def test_predict_url() -> None:
    url = "http://h:8501/v1/models/vgg16"
    assert predict.predict_url(url) == f"{url}:predict"
    assert predict.predict_url(url + "/") == f"{url}:predict"
    assert predict.predict_url(url, version=3) == f"{url}/versions/3:predict"
    assert predict.predict_url(url, label="stable") == f"{url}/labels/stable:predict"
    for wrong in (f"{url}:predict", f"{url}/versions/3"):
        with pytest.raises(predict.PredictError, match="give the model URL"):
            predict.predict_url(wrong)


def test_top_k() -> None:
    scores = [0.1, 0.4, 0.1, 0.3, 0.1]
    assert [(p.rank, p.index) for p in predict.top_k(scores, 3)] == [(1, 1), (2, 3), (3, 0)]
    assert len(predict.top_k(scores, 10)) == 5
    assert predict.first_row({"predictions": [scores]}) == scores
    assert predict.first_row({"predictions": [{"predictions": scores, "other": [1]}]}) == scores
    with pytest.raises(predict.PredictError, match="no 'predictions'"):
        predict.first_row({"outputs": scores})


def test_parse_labels() -> None:
    keras_index = '{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}'
    assert predict.parse_labels(keras_index) == {0: "tench", 1: "goldfish"}
    assert predict.parse_labels('["tench", "goldfish"]') == {0: "tench", 1: "goldfish"}
    assert predict.parse_labels("tench\ngoldfish\n\n") == {0: "tench", 1: "goldfish"}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xdb", "JPEG"),
        (b"\x89PNG\r\n\x1a\n....", "PNG"),
        (b"GIF89a...", "GIF"),
        (b"GIF87a...", "GIF"),
        (b"BM....", "BMP"),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_image_format(data: bytes, kind: str | None) -> None:
    assert predict.image_format(data) == kind
