"""The `tfmodel` command: run the operator, render a TFModel's children offline, export a model
version for TF Serving, or ask a served model to classify an image."""

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tfmodel_operator import __version__, vocabulary
from tfmodel_operator.controller import settings, spec
from tfmodel_operator.controller.decision import decide
from tfmodel_operator.controller.decision.observed import Observed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfmodel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tfmodel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    settings.add_arguments(run)

    draw = commands.add_parser("render", help="print the children a TFModel would get, offline")
    draw.add_argument(
        "-f", "--filename", required=True, type=Path, help="TFModel YAML ('-' for stdin)"
    )

    add_export_parser(commands)
    add_predict_parser(commands)
    add_sync_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "run":
        try:
            chosen = settings.from_arguments(args)
        except settings.SettingsError as err:
            print(f"tfmodel run: {err}", file=sys.stderr)
            return 2
        from tfmodel_operator.controller import kopf_wiring  # imports kopf: only for `run`

        return kopf_wiring.run(chosen)
    if args.command == "export":
        return export_model(args)
    if args.command == "predict":
        return predict_image(args)
    if args.command == "sync":
        from tfmodel_operator.storage import sync  # the store library: only for `sync`

        return sync.main(args)
    return render_file(args.filename)


def render_file(path: Path) -> int:
    """Print what a first reconcile would write; a mistake in the file is one line, exit 2."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        documents = list(yaml.safe_load_all(text))
    except OSError as err:
        print(f"tfmodel render: cannot read {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as err:
        print(f"tfmodel render: {path}: not UTF-8 text (byte {err.start})", file=sys.stderr)
        return 2
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or err
        print(f"tfmodel render: {path}{where}: not valid YAML: {problem}", file=sys.stderr)
        return 2
    children: list[dict[str, Any]] = []
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != vocabulary.KIND:
            continue
        try:
            parsed = spec.parse(document)
        except spec.InvalidSpec as err:
            meta = document.get("metadata")
            name = meta.get("name", "?") if isinstance(meta, dict) else "?"
            print(f"tfmodel render: {path}: TFModel {name}: {err}", file=sys.stderr)
            return 2
        # What a first reconcile writes: nothing observed, so exported versions wait.
        first = decide.decide(Observed(tfmodel=document), parsed, datetime.now(UTC))
        children.extend(first.manifests)
    if not children:
        print(f"tfmodel render: no {vocabulary.KIND} in {path}", file=sys.stderr)
        return 2
    yaml.safe_dump_all(children, sys.stdout, sort_keys=False)
    return 0


def add_export_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="export a keras.applications model as a TF Serving version (needs tensorflow)",
        description=(
            "Build a keras.applications model and publish it as <base-path>/<version>: written "
            "to <base-path>/.tmp-<version>, loaded back and checked, then renamed, so TF Serving "
            "never sees a partial version. Signatures: serving_default (image: preprocessed "
            "float32 [N,H,W,3]) and image_bytes (image_bytes: JPEG/PNG/GIF/BMP file contents), "
            "both returning predictions. Exit codes: 0 published, 1 failed, 2 refused (bad "
            "input, or the version exists: published versions are immutable)."
        ),
    )
    export.add_argument(
        "--application", default="VGG16", help="a keras.applications model (default VGG16)"
    )
    export.add_argument(
        "--weights",
        required=True,
        help="imagenet (downloaded by Keras from the internet), none (random), or a "
        ".weights.h5 file",
    )
    export.add_argument("--version", type=int, required=True, help="the version number, N >= 1")
    export.add_argument(
        "--base-path",
        required=True,
        help="the model's base path (holds the versions): a directory, or s3://bucket/prefix or "
        "gs://bucket/prefix to upload the version there, its _SUCCESS marker last (credentials "
        "and endpoint from the stores' standard variables: AWS_*, GOOGLE_APPLICATION_CREDENTIALS, "
        "STORAGE_EMULATOR_HOST)",
    )
    export.add_argument(
        "--model-name",
        help="TF Serving model name in the warmup requests (default: the lowercase application)",
    )
    export.add_argument(
        "--warmup",
        action="store_true",
        help="write assets.extra/tf_serving_warmup_requests so TF Serving warms the model up",
    )
    export.add_argument(
        "--warmup-records",
        type=int,
        default=1,
        metavar="N",
        help="warmup requests per signature (default 1; at most 1000 in all)",
    )
    export.add_argument(
        "--no-image-signature",
        dest="image_signature",
        action="store_false",
        help="only serving_default, no image_bytes signature",
    )
    export.add_argument(
        "--exist-ok",
        action="store_true",
        help="succeed without touching the version if this same export (same inputs) already "
        "published it (export Jobs use this, so a retried Job does not fail)",
    )
    export.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's and CUDA's own start-up and log lines (hidden by default)",
    )


def export_model(args: argparse.Namespace) -> int:
    # TensorFlow's and CUDA's own lines stay out of the log unless asked for: an export Job's
    # last log lines become its termination message, and so the TFModel's status.
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tfmodel_operator.model import applications, export, publish
    from tfmodel_operator.storage.stores import StoreError

    options: dict[str, Any] = {
        "warmup": args.warmup,
        "warmup_records": args.warmup_records,
        "image_signature": args.image_signature,
        "model_name": args.model_name,
        "progress": export.stderr_progress,
        "exist_ok": args.exist_ok,
    }
    try:
        with _sigterm_as_exit(), _native_stderr(hidden=not args.verbose):
            if publish.is_bucket(args.base_path):
                result = publish.export_to_bucket(
                    args.base_path, args.application, args.weights, args.version, **options
                )
            else:
                result = export.export(
                    args.application, args.weights, args.version, Path(args.base_path), **options
                )
    except StoreError as err:
        print(f"tfmodel export: error: {err}", file=sys.stderr)
        return 1
    except applications.ExportError as err:
        print(f"tfmodel export: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # permissions, a full or read-only volume
        where = f": {err.filename}" if err.filename else ""
        print(f"tfmodel export: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfmodel export: interrupted; nothing was published", file=sys.stderr)
        return 130
    print(result.summary())
    return 0


@contextlib.contextmanager
def _native_stderr(hidden: bool) -> Iterator[None]:
    """With `hidden`, what native code writes to file descriptor 2 (TensorFlow's and CUDA's
    start-up lines: cuInit errors, absl warnings) goes to /dev/null; Python's own stderr, and so
    the tool's progress and errors, keeps the real one."""
    if not hidden:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    if _writes_to_fd_2(python_stderr):  # else it is redirected already and stays so
        sys.stderr = open(real, "w", buffering=1, closefd=False)  # noqa: SIM115 (restored below)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)
        if sys.stderr is not python_stderr:
            sys.stderr.close()
        os.close(real)
        sys.stderr = python_stderr


def _writes_to_fd_2(stream: Any) -> bool:
    try:
        return bool(stream.fileno() == 2)
    except (AttributeError, OSError, ValueError):  # a StringIO has no file descriptor
        return False


class _Terminated(BaseException):
    """SIGTERM (a Job's pod being deleted) as an exception, so `finally` blocks clean up."""


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into an exception for the duration, then restore the previous handler."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    except _Terminated:
        print("tfmodel export: terminated; nothing was published", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_predict_parser(commands: Any) -> None:
    predict = commands.add_parser(
        "predict",
        help="classify an image with a model served by TF Serving (REST)",
        description=(
            "POST one image to TF Serving's REST predict API and print the top classes. "
            "--send bytes (default) sends the file base64-encoded to the image_bytes signature "
            "and needs only `requests`; --send tensor sends the classic 224x224x3 preprocessed "
            "float array to serving_default, decoding, resizing and preprocessing the image on "
            "the client with TensorFlow (imported only then). Exit code 2 on any error."
        ),
    )
    predict.add_argument(
        "--url", required=True, help="the model URL, e.g. http://localhost:8501/v1/models/vgg16"
    )
    predict.add_argument("--image", required=True, type=Path, help="a JPEG, PNG, GIF or BMP file")
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="ask this version (default: the latest)")
    which.add_argument("--label", help="ask the version this label points at, e.g. stable")
    predict.add_argument(
        "--top", type=int, default=5, metavar="K", help="classes to print (default 5)"
    )
    predict.add_argument(
        "--send",
        choices=["bytes", "tensor"],
        default="bytes",
        help="bytes: the file (image_bytes signature); tensor: preprocessed floats "
        "(serving_default; needs tensorflow). Default bytes",
    )
    predict.add_argument(
        "--labels-file",
        type=Path,
        help="class names: Keras' imagenet_class_index.json, or one name per line",
    )
    predict.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds (default 30)"
    )
    predict.add_argument(
        "--application",
        default="VGG16",
        help="with --send tensor: whose preprocess_input to apply (default VGG16)",
    )
    predict.add_argument(
        "--image-size",
        type=int,
        default=224,
        metavar="PIXELS",
        help="with --send tensor: the model's input size (default 224)",
    )


def predict_image(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # only --send tensor loads TensorFlow
    from tfmodel_operator.model import predict

    try:
        names = predict.read_labels(args.labels_file) if args.labels_file else None
        results = predict.predict(
            args.url,
            args.image,
            version=args.version,
            label=args.label,
            k=args.top,
            send=args.send,
            timeout=args.timeout,
            application=args.application,
            image_size=args.image_size,
        )
    except predict.PredictError as err:
        print(f"tfmodel predict: error: {err}", file=sys.stderr)
        return 2
    if names is None:
        predict.note(
            "class names need --labels-file (Keras' imagenet_class_index.json, or one name "
            "per line); this client downloads nothing"
        )
    else:
        results = predict.with_names(results, names)
    for line in predict.format_predictions(results):
        print(line)
    return 0


def add_sync_parser(commands: Any) -> None:
    sync = commands.add_parser(
        "sync",
        help="mirror a model's complete versions from a bucket into a local directory",
        description=(
            "The model-sync sidecar, also usable by hand. Every --interval seconds: list "
            "<prefix>/<N>/ in the bucket; a version is complete when <N>/_SUCCESS exists, or "
            "(uploaded by other tools) when every SavedModel file and shard is there and its "
            "listing did not change since the previous poll; download the wanted complete "
            "versions into a temporary directory inside --dest and rename each to <dest>/<N>, so "
            "TF Serving never sees a partial one; remove a version no longer wanted only after "
            "TF Serving reports it unloaded. Credentials and endpoints come from the stores' "
            "standard variables: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_REGION; STORAGE_EMULATOR_HOST, GOOGLE_APPLICATION_CREDENTIALS (none: the "
            "ambient identity, e.g. IRSA or workload identity). Serves GET /state (JSON: source, "
            "lastSync, versions, error) and GET /ready (200 after the first complete sync) on "
            "--listen. Exit codes: 0 synced (--once), 1 an error (--once), 2 bad arguments."
        ),
    )
    sync.add_argument("--source", required=True, help="s3://bucket/prefix or gs://bucket/prefix")
    sync.add_argument(
        "--dest", required=True, type=Path, help="the local directory TF Serving reads"
    )
    sync.add_argument(
        "--model-name", required=True, help="the model's name in TF Serving (asked before removals)"
    )
    sync.add_argument(
        "--versions-file",
        type=Path,
        help='which versions: {"latest": N} | {"all": true} | {"specific": [N, ...]}, plus '
        '"keep": [N, ...]; read again every poll (default, or no such file: every complete '
        "version)",
    )
    sync.add_argument(
        "--interval", type=float, default=30.0, metavar="S", help="seconds between polls (30)"
    )
    sync.add_argument(
        "--serving-url",
        default="http://127.0.0.1:8501",
        help="TF Serving's REST address (default http://127.0.0.1:8501)",
    )
    sync.add_argument(
        "--listen",
        default=f"127.0.0.1:{vocabulary.SYNC_PORT}",
        metavar="HOST:PORT",
        help=f"where to serve /state and /ready (default 127.0.0.1:{vocabulary.SYNC_PORT})",
    )
    sync.add_argument("--once", action="store_true", help="sync once, then exit (no endpoint)")
    sync.add_argument("--verbose", action="store_true", help="say what each poll finds")
    sync.add_argument(
        "--no-etag-check",
        dest="etag_check",
        action="store_false",
        help="do not compare S3 single-part ETags with the content's MD5 (for buckets that "
        "encrypt with SSE-KMS or SSE-C, whose ETags are not MD5s)",
    )


if __name__ == "__main__":
    sys.exit(main())
