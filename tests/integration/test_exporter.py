"""The exporter, for real: VGG16 built with Keras, saved, loaded back with TensorFlow.

One VGG16 export per module (about 10 s on 2 cores): the Keras model is built with random
weights, which are saved to a weights file and exported with `--weights PATH`, so the tests can
compare the SavedModel with the very same Keras model. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfmodel_operator import cli
from tfmodel_operator.controller import api
from tfmodel_operator.model import applications, export, images, signatures

OPERATOR_SRC = Path(__file__).resolve().parents[2] / "operator"

# Keras' own save_weights trips numpy 2's __array__(copy=...) deprecation, once per weight.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras_model() -> Any:
    app = applications.resolve_application("VGG16")
    return applications.build_model(app, "none")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, keras_model: Any) -> dict[str, Any]:
    """`tfmodel export` of VGG16 with the weights of `keras_model`, with warmup records."""
    tmp = tmp_path_factory.mktemp("export")
    weights = tmp / "vgg16.weights.h5"
    keras_model.save_weights(weights)
    base = tmp / "models" / "vgg16"
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            [
                "export", "--application", "VGG16", "--weights", str(weights),
                "--version", "1", "--base-path", str(base), "--warmup",
            ]
        )  # fmt: skip
    return {
        "code": code,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "base": base,
        "seconds": time.perf_counter() - started,
    }


@pytest.fixture(scope="module")
def loaded(exported: dict[str, Any]) -> Any:
    return tf.saved_model.load(str(exported["base"] / "1"))


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
    }


def photo(size: int = 224, seed: int = 1) -> np.ndarray:
    return images.sample_photo(size, size, seed=seed)


def preprocess(image: np.ndarray) -> np.ndarray:
    # vgg16.preprocess_input may work in place on a float32 array: give it its own copy.
    return keras.applications.vgg16.preprocess_input(image.astype(np.float32).copy())


# ------------------------------------------------------------------------ the export


def test_export_prints_one_summary_line(exported: dict[str, Any]) -> None:
    assert exported["code"] == 0, exported["stderr"]
    lines = exported["stdout"].splitlines()
    assert len(lines) == 1
    path = re.escape(str(exported["base"] / "1"))
    assert re.fullmatch(
        rf"exported {path} \(\d+\.\d MB, signatures: serving_default, image_bytes, "
        r"2 warmup records\) in \d+\.\d s",
        lines[0],
    )
    for step in ("building VGG16", "saving", "verifying", "publishing"):
        assert step in exported["stderr"]


def test_version_is_published_and_nothing_else(exported: dict[str, Any]) -> None:
    base = exported["base"]
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert (base / "1" / "saved_model.pb").is_file()
    assert (base / "1" / "variables" / "variables.index").is_file()


def test_signatures_as_tf_serving_sees_them(exported: dict[str, Any]) -> None:
    """The SignatureDefs in saved_model.pb: what TF Serving's REST API routes on."""
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((exported["base"] / "1" / "saved_model.pb").read_bytes())
    (meta,) = [m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags]
    signatures = meta.signature_def
    assert set(signatures) >= {"serving_default", "image_bytes"}

    default = signatures["serving_default"]
    assert list(default.inputs) == ["image"]
    assert tf.dtypes.as_dtype(default.inputs["image"].dtype) == tf.float32
    assert [d.size for d in default.inputs["image"].tensor_shape.dim] == [-1, 224, 224, 3]
    assert list(default.outputs) == ["predictions"]
    assert tf.dtypes.as_dtype(default.outputs["predictions"].dtype) == tf.float32
    assert [d.size for d in default.outputs["predictions"].tensor_shape.dim] == [-1, 1000]

    image_bytes = signatures["image_bytes"]
    assert list(image_bytes.inputs) == ["image_bytes"]
    assert tf.dtypes.as_dtype(image_bytes.inputs["image_bytes"].dtype) == tf.string
    assert [d.size for d in image_bytes.inputs["image_bytes"].tensor_shape.dim] == [-1]
    assert list(image_bytes.outputs) == ["predictions"]


def test_serving_default_matches_keras(loaded: Any, keras_model: Any) -> None:
    batch = np.stack([preprocess(photo(seed=1)), preprocess(photo(seed=2))])
    got = loaded.signatures["serving_default"](image=tf.constant(batch))["predictions"].numpy()
    want = keras_model.predict(batch, verbose=0)
    assert got.shape == (2, 1000)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert not np.array_equal(got[0], got[1])  # the images do matter


def test_image_bytes_matches_keras_on_a_png(loaded: Any, keras_model: Any) -> None:
    """A lossless 224x224 PNG: decode + resize (a no-op here) + vgg16.preprocess_input in the
    graph must give exactly what Keras gives on the preprocessed pixels."""
    image = photo(seed=3)
    png = images.encode_png(image)
    got = loaded.signatures["image_bytes"](image_bytes=tf.constant([png]))["predictions"].numpy()
    want = keras_model.predict(preprocess(image)[None], verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_image_bytes_takes_a_batch_of_different_sizes(loaded: Any, keras_model: Any) -> None:
    big = images.sample_photo(480, 640, seed=4)
    files = [images.encode_png(photo(seed=3)), images.encode_jpeg(big)]
    got = loaded.signatures["image_bytes"](image_bytes=tf.constant(files))["predictions"]
    assert got.shape == (2, 1000)
    resized = tf.image.resize(
        tf.io.decode_jpeg(files[1]), (224, 224), method="bilinear", antialias=True
    ).numpy()
    want = keras_model.predict(preprocess(resized)[None], verbose=0)
    np.testing.assert_allclose(got.numpy()[1:], want, rtol=0, atol=1e-5)


def test_warmup_records(exported: dict[str, Any], loaded: Any) -> None:
    path = exported["base"] / "1" / "assets.extra" / "tf_serving_warmup_requests"
    logs = signatures.read_warmup(path)
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "predict_log"]
    requests = {log.predict_log.request.model_spec.signature_name: log for log in logs}
    assert set(requests) == {"serving_default", "image_bytes"}
    for signature, log in requests.items():
        request = log.predict_log.request
        assert request.model_spec.name == "vgg16"
        # Replay it as TF Serving does at load time.
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert outputs["predictions"].shape == (1, 1000)
    image = requests["serving_default"].predict_log.request.inputs["image"]
    assert tf.dtypes.as_dtype(image.dtype) == tf.float32
    assert [d.size for d in image.tensor_shape.dim] == [1, 224, 224, 3]
    data = requests["image_bytes"].predict_log.request.inputs["image_bytes"]
    assert tf.dtypes.as_dtype(data.dtype) == tf.string
    assert data.string_val[0].startswith(b"\xff\xd8\xff")  # a JPEG


def test_a_rerun_of_the_same_export_succeeds_without_touching_the_version(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """An export Job retried after it published (`--exist-ok`) finds its own work."""
    base = exported["base"]
    weights = next(base.parent.parent.glob("*.weights.h5"))
    before = snapshot(base)
    same = ["export", "--weights", str(weights), "--version", "1", "--base-path", str(base),
            "--warmup", "--exist-ok"]  # fmt: skip
    assert cli.main(same) == 0
    assert snapshot(base) == before
    with pytest.raises(applications.VersionExists):  # other inputs: still refused
        export.export("VGG16", "none", 1, base, exist_ok=True)
    assert snapshot(base) == before


def test_refuses_to_overwrite_a_version(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = exported["base"]
    before = snapshot(base)
    code = cli.main(["export", "--weights", "none", "--version", "1", "--base-path", str(base)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{base / '1'} already exists" in err
    assert "Traceback" not in err
    assert snapshot(base) == before
    with pytest.raises(applications.VersionExists):
        export.export("VGG16", "none", 1, base)
    assert snapshot(base) == before


def test_image_signature_is_optional(keras_model: Any) -> None:
    app = applications.resolve_application("VGG16")
    serving = signatures.build_serving_module(
        keras_model, app.preprocess_input, image_signature=False
    )
    assert list(serving.signatures) == ["serving_default"]
    assert serving.image_size == (224, 224)
    assert serving.classes == 1000


# ------------------------------------------------------------------------ bad input (cheap)


def test_unknown_application(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["export", "--application", "VGG17", "--weights", "none", "--version", "1",
         "--base-path", str(tmp_path / "m")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines()[-1].startswith("tfmodel export: error: unknown application 'VGG17'")
    assert "VGG16" in err
    assert not (tmp_path / "m").exists()


def test_application_modules() -> None:
    assert applications.resolve_application("VGG16").module == "vgg16"
    assert applications.resolve_application("ResNet50").module == "resnet50"
    assert applications.resolve_application("MobileNetV2").module == "mobilenet_v2"
    with pytest.raises(applications.UsageError, match="unknown application 'vgg16'"):
        applications.resolve_application("vgg16")


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(
        applications.UsageError, match=r"weights file .*nope\.weights\.h5 does not exist"
    ):
        export.export("VGG16", str(tmp_path / "nope.weights.h5"), 1, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_unreadable_weights_file(tmp_path: Path) -> None:
    weights = tmp_path / "broken.weights.h5"
    weights.write_bytes(b"not HDF5")
    with pytest.raises(
        applications.UsageError, match=r"cannot load weights for VGG16 from .*broken"
    ):
        export.export("VGG16", str(weights), 1, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_bad_version_and_warmup_count(tmp_path: Path) -> None:
    with pytest.raises(applications.UsageError, match="positive integer"):
        export.export("VGG16", "none", 0, tmp_path)
    with pytest.raises(applications.UsageError, match="at most 1000"):
        export.export("VGG16", "none", 1, tmp_path, warmup=True, warmup_records=501)


def test_cli_modules_do_not_import_tensorflow() -> None:
    """`tfmodel run` and `render` start without TensorFlow: export/predict import it lazily."""
    code = (
        "import sys; import tfmodel_operator.cli, tfmodel_operator.model.export, "
        "tfmodel_operator.model.predict, tfmodel_operator.model.images, "
        "tfmodel_operator.model.signatures; sys.exit('tensorflow' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True, timeout=60)


# ------------------------------------------------------------------------ interruptions


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(OPERATOR_SRC), "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def exporting(base: Path, version: int) -> Iterator[subprocess.Popen[str]]:
    """`python -m tfmodel_operator.cli export` in a child process, stopped with the test."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tfmodel_operator.cli", "export", "--application", "VGG16",
         "--weights", "none", "--version", str(version), "--base-path", str(base)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None and not child.stdout.closed:
            child.communicate(timeout=60)


def wait_for_saving(child: subprocess.Popen[str], scratch: Path, timeout: float = 120) -> None:
    """Until the child is writing the SavedModel's variables into the temp dir."""
    deadline = time.monotonic() + timeout
    while not (scratch / "variables").exists():
        if child.poll() is not None:
            pytest.fail(f"the export ended early ({child.returncode}): {child.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{scratch}/variables did not appear in {timeout} s")
        time.sleep(0.02)


def test_sigkill_mid_export_publishes_nothing_and_a_rerun_succeeds(tmp_path: Path) -> None:
    base = tmp_path / "vgg16"
    with exporting(base, 2) as child:
        wait_for_saving(child, base / ".tmp-2")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    assert (base / ".tmp-2").exists()  # killed mid-export, so it could not clean up...
    assert not (base / "2").exists()  # ...but never published a partial version

    messages: list[str] = []
    result = export.export("VGG16", "none", 2, base, progress=messages.append)
    assert result.path == base / "2"
    assert any("left by an interrupted export" in m for m in messages)
    assert sorted(p.name for p in base.iterdir()) == ["2"]
    assert (base / "2" / "saved_model.pb").is_file()


def test_sigterm_mid_export_cleans_up(tmp_path: Path) -> None:
    """SIGTERM (a deleted export Job pod) removes the temp dir and exits 143."""
    base = tmp_path / "vgg16"
    with exporting(base, 3) as child:
        wait_for_saving(child, base / ".tmp-3")
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "tfmodel export: terminated; nothing was published"
    assert list(base.iterdir()) == []


def test_the_applications_the_crd_and_spec_admit_are_those_keras_can_export() -> None:
    """api.APPLICATIONS (and the CRD's enum, checked equal in the unit tests) is exactly the
    keras.applications models the exporter can build: a constructor with a preprocess_input."""
    buildable = []
    for name in sorted(n for n in dir(keras.applications) if n[:1].isupper()):
        try:
            applications.resolve_application(name)
        except applications.UsageError:
            continue
        buildable.append(name)
    assert tuple(buildable) == api.APPLICATIONS
