"""Benchmark (a script, not a test): what the image_bytes signature saves, and what exporting costs.

    .venv/bin/python tests/benchmarks/bench_requests.py [--runs 20] [--skip-export]

1. Request size and client time for one image: the classic request (decode, resize, VGG16
   preprocess_input, then 224x224x3 floats as JSON to serving_default) against the image_bytes
   request (the file, base64 in JSON). For a 640x480 JPEG "camera photo" and a 224x224 one.
   Medians of --runs runs with time.perf_counter, in this one process.
2. Export time of VGG16 (random weights, nothing downloaded): `tfmodel export` (build, save,
   load-back verification, fsync, rename) against a plain Keras `model.save(m.keras)` and
   `model.export(dir)` of an already built model, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "operator"))

from tfmodel_operator.model import export, images, predict


def median_seconds(work: Callable[[], Any], runs: int) -> float:
    work()  # warm up (TensorFlow traces and allocates on first use)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def request_rows(name: str, image: bytes, runs: int) -> list[tuple[str, ...]]:
    """Body size and client time for both requests built from the same file."""
    floats = images.preprocess_image(image)  # what the classic client computes

    def tensor_body() -> bytes:  # everything the classic client does, file -> body
        return predict.encode_body(predict.tensor_request(image))

    def article_body() -> bytes:  # the tutorials' json.dumps of the preprocessed array
        payload = {"signature_name": "serving_default", "instances": [floats.tolist()]}
        return json.dumps(payload).encode()

    def bytes_body() -> bytes:
        return predict.encode_body(predict.bytes_request(image))

    sizes = {
        "tensor": len(tensor_body()),
        "article": len(article_body()),
        "bytes": len(bytes_body()),
    }
    times = {
        "tensor": median_seconds(tensor_body, runs),
        "article": median_seconds(article_body, runs),
        "bytes": median_seconds(bytes_body, runs),
    }
    rows = []
    for key, label in (
        ("tensor", "floats: decode+resize+preprocess+JSON"),
        ("article", "floats: json.dumps(x.tolist()) only"),
        ("bytes", "image_bytes: base64 in JSON"),
    ):
        rows.append(
            (
                name,
                label,
                f"{sizes[key] / 1e3:,.1f} KB",
                f"{times[key] * 1e3:.2f} ms",
                f"{sizes[key] / sizes['bytes']:.1f}x",
                f"{times[key] / times['bytes']:.0f}x",
            )
        )
    return rows


def export_rows() -> list[tuple[str, ...]]:
    import keras

    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        model = keras.applications.VGG16(weights=None)
        build = time.perf_counter() - start

        start = time.perf_counter()
        model.save(root / "m.keras")
        keras_save = time.perf_counter() - start

        start = time.perf_counter()
        model.export(str(root / "keras-export"), verbose=False)
        keras_export = time.perf_counter() - start
        del model

        result = export.export("VGG16", "none", 1, root / "vgg16")
        steps = result.timings

        def size(path: Path) -> str:
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            return f"{sum(p.stat().st_size for p in files) / 1e6:.0f} MB"

        rows.append(("keras.applications.VGG16(weights=None)", f"{build:.2f} s", "", ""))
        rows.append(("model.save('m.keras')", f"{keras_save:.2f} s", "", size(root / "m.keras")))
        rows.append(
            ("model.export(dir)", f"{keras_export:.2f} s", "1.00x", size(root / "keras-export"))
        )
        rows.append(
            (
                "tfmodel export: save step",
                f"{steps['save']:.2f} s",
                f"{steps['save'] / keras_export:.2f}x",
                "",
            )
        )
        rows.append(("tfmodel export: verify step", f"{steps['verify']:.2f} s", "", ""))
        rows.append(("tfmodel export: fsync + rename", f"{steps['publish']:.2f} s", "", ""))
        rows.append(
            (
                "tfmodel export: total (build..rename)",
                f"{result.seconds:.2f} s",
                f"{result.seconds / (build + keras_export):.2f}x build+export",
                f"{result.size_bytes / 1e6:.0f} MB",
            )
        )
    return rows


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per median (default 20)")
    parser.add_argument("--skip-export", action="store_true", help="only the request figures")
    args = parser.parse_args()

    photo = images.encode_jpeg(images.sample_photo(480, 640, seed=7), quality=90)
    small = images.encode_jpeg(images.sample_photo(224, 224, seed=7), quality=90)
    rows = request_rows("640x480 JPEG", photo, args.runs) + request_rows(
        "224x224 JPEG", small, args.runs
    )
    print(f"Request for one image (median of {args.runs} runs, body as sent by tfmodel predict)")
    print(
        table(("image", "request", "body", "client time", "size vs bytes", "time vs bytes"), rows)
    )
    if not args.skip_export:
        print()
        print("Export of VGG16, weights=None (one run each, same process)")
        print(table(("step", "time", "vs model.export", "on disk"), export_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
