"""`tfmodel export --base-path s3://...`: the real exporter uploading to a real store on loopback
(moto). MobileNet with random weights keeps each export to seconds; what is uploaded is what a
local export writes, plus the `_SUCCESS` marker.

gs:// goes through the same code and library, but is not run here: fake-gcs-server implements
no XML-API PUT (only signed-URL ones), which is how the library uploads to GCS.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest

from support.object_stores import s3_server
from tfmodel_operator.storage.stores import Store, open_store

Bucket = tuple[str, dict[str, str]]  # the --base-path URL, and the environment that reaches it


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    """A bucket `models` on a fresh server, and the environment that reaches it."""
    with s3_server() as server:
        server.create_bucket("models")
        yield "s3://models/mobilenet", server.env


def tfmodel_export(bucket: Bucket, *extra: str) -> subprocess.CompletedProcess[str]:
    url, env = bucket
    argv = [sys.executable, "-m", "tfmodel_operator.cli", "export", "--application", "MobileNet",
            "--weights", "none", "--version", "1", "--base-path", url, "--no-image-signature",
            *extra]  # fmt: skip
    src = str(Path(__file__).resolve().parents[2] / "operator")
    environ = {**os.environ, **env, "PYTHONPATH": src}
    return subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=300)


def store_of(bucket: Bucket) -> Store:
    return open_store(*bucket)


def files(store: Store) -> dict[str, int]:
    return {entry.path: entry.size for entry in store.list("1")}


def test_a_version_is_uploaded_with_its_marker_last_and_never_overwritten(bucket: Bucket) -> None:
    done = tfmodel_export(bucket)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"exported {bucket[0]}/1 ("), done.stdout
    # Quiet: the tool's own progress lines only, no TensorFlow or CUDA start-up noise.
    noise = [line for line in done.stderr.splitlines() if not line.startswith("tfmodel export: ")]
    assert not noise, done.stderr
    uploaded = files(store_of(bucket))
    assert {"1/saved_model.pb", "1/variables/variables.index", "1/_SUCCESS",
            "1/assets.extra/tfmodel-export.json"} <= set(uploaded)  # fmt: skip
    assert uploaded["1/variables/variables.data-00000-of-00001"] > 1_000_000

    again = tfmodel_export(bucket, "--exist-ok")  # a retried Job: its own version, untouched
    assert again.returncode == 0, again.stderr
    assert "already published by this same export" in again.stderr
    refused = tfmodel_export(bucket)  # without --exist-ok: published versions are immutable
    assert refused.returncode == 2, refused.stderr
    assert "already exists" in refused.stderr.splitlines()[-1]
    assert files(store_of(bucket)) == uploaded


def test_an_upload_cut_short_is_completed_by_the_retry_and_foreign_files_are_refused(
    bucket: Bucket, tmp_path: Path
) -> None:
    assert tfmodel_export(bucket).returncode == 0
    store = store_of(bucket)
    complete = files(store)
    # As a crash mid-upload leaves it: the record and some files, no saved_model.pb, no marker.
    for path in ("1/_SUCCESS", "1/saved_model.pb"):
        _delete(store, path)
    retried = tfmodel_export(bucket, "--exist-ok")
    assert retried.returncode == 0, retried.stderr
    assert "completing" in retried.stderr
    assert set(files(store)) == set(complete)

    # A half version another tool wrote (no export record of ours) is never overwritten.
    for path in ("1/_SUCCESS", "1/assets.extra/tfmodel-export.json"):
        _delete(store, path)
    foreign = tfmodel_export(bucket, "--exist-ok")
    assert foreign.returncode == 2, foreign.stderr
    assert "holds files this export did not write" in foreign.stderr


def _delete(store: Store, path: str) -> None:
    obstore.delete(store.backend(), path)
