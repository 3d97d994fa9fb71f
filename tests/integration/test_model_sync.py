"""`tfmodel sync`, the model-sync sidecar, as the real command in a subprocess, against real
object-store servers on 127.0.0.1 (moto's S3 server and fake-gcs-server, from
support/object_stores.py). Where it asks TF Serving which versions are loaded, a tiny stand-in
on loopback answers GET /v1/models/<name> with the states a test sets: no TF Serving binary can
be installed here, and that one API is all the sidecar reads.

A watcher samples the destination every 10 ms during the tests and fails on any numeric (so
TF Serving-visible) directory that lacks a file, or part of a file, the bucket has for that
version.
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from support.object_stores import S3Server, free_port, gcs_server, s3_server
from support.polling import wait_until
from tfmodel_operator.storage.serving import loaded_states
from tfmodel_operator.storage.stores import open_store

TFMODEL = str(Path(sys.executable).with_name("tfmodel"))
SOURCE = "s3://models/vgg16"
INTERVAL = 0.2  # seconds between the sidecar's polls
MARKER = "_SUCCESS"
SAVED_MODEL = {
    "saved_model.pb": 60_000,
    "variables/variables.index": 2_000,
    "variables/variables.data-00000-of-00001": 1_500_000,
}
SHARDED = {
    "saved_model.pb": 60_000,
    "variables/variables.index": 2_000,
    "variables/variables.data-00000-of-00002": 700_000,
    "variables/variables.data-00001-of-00002": 800_000,
}


class Bucket:
    """Puts versions into a store, remembering each file's size and digest: what a complete
    local copy must hold."""

    def __init__(self, upload: Callable[[Path, str], None], scratch: Path) -> None:
        self.upload = upload  # (local file, path under the prefix)
        self.scratch = scratch
        self.files: dict[int, dict[str, tuple[int, str]]] = {}

    def put(self, version: int, name: str, size: int) -> None:
        local = self.scratch / f"{version}-{name.replace('/', '-')}"
        digest = hashlib.sha256()
        with local.open("wb") as out:
            for offset in range(0, size, 1 << 20):
                chunk = os.urandom(min(1 << 20, size - offset))
                digest.update(chunk)
                out.write(chunk)
        # Known before it is uploaded: the watcher judges by the bucket's final content.
        self.files.setdefault(version, {})[name] = (size, digest.hexdigest())
        self.upload(local, f"{version}/{name}")
        local.unlink()

    def put_version(self, version: int, files: dict[str, int], marker: bool = True) -> None:
        for name, size in files.items():
            self.put(version, name, size)
        if marker:
            self.put(version, MARKER, 0)


def copied_whole(version_dir: Path, expected: dict[str, tuple[int, str]]) -> bool:
    found = {
        str(path.relative_to(version_dir)): (path.stat().st_size, digest(path))
        for path in version_dir.rglob("*")
        if path.is_file()
    }
    return found == expected


def digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Watcher(threading.Thread):
    """Fails (in `problems`) on a numeric directory of `dest` that lacks any file, or any byte
    of one, that the bucket has for that version."""

    def __init__(self, dest: Path, bucket: Bucket) -> None:
        super().__init__(daemon=True)
        self.dest, self.bucket = dest, bucket
        self.problems: list[str] = []
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.samples += 1
            for entry in os.scandir(self.dest):
                if entry.name.isdigit():
                    self.check(Path(entry.path), self.bucket.files.get(int(entry.name), {}))

    def check(self, version_dir: Path, expected: dict[str, tuple[int, str]]) -> None:
        short = []
        for name, (size, _) in expected.items():
            path = version_dir / name
            if not path.is_file() or path.stat().st_size != size:
                short.append(name)
        if short and version_dir.exists():  # not a version renamed away meanwhile
            self.problems.append(f"{version_dir} lacks {short}")

    def __enter__(self) -> "Watcher":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()
        assert self.samples > 10, "the watcher hardly ran"
        assert not self.problems, self.problems[:5]


class Sidecar:
    """`tfmodel sync` running as a process of its own, as in a pod (only the store's env)."""

    def __init__(self, workdir: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.dest = workdir / "models"
        self.log = workdir / f"sync-{self.port}.log"
        self.env = env
        self.argv = [
            TFMODEL, "sync", "--source", SOURCE, "--dest", str(self.dest), "--model-name", "vgg16",
            "--interval", str(INTERVAL), "--listen", f"127.0.0.1:{self.port}", *args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> "Sidecar":
        argv = [*self.argv, *args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        return self

    def kill(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(timeout=10) == 0, self.output()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(self.url("/state"), timeout=2).json()
        return answer

    def ready(self) -> int:
        return requests.get(self.url("/ready"), timeout=2).status_code

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_versions(self, versions: list[int]) -> None:
        wait_until(
            lambda: self.state()["versions"] == versions,
            f"versions {versions} in {self.dest} (log: {self.output()[-2000:]})",
            timeout=30,
        )

    def __enter__(self) -> "Sidecar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeServing:
    """Only TF Serving's model status API, GET /v1/models/vgg16, answering with `states`;
    `asked` counts the questions. `garbage` makes it answer what no TF Serving would."""

    def __init__(self) -> None:
        self.states: dict[int, str] = {}
        self.asked = 0
        self.garbage = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.asked += 1
                statuses = [{"version": str(v), "state": s} for v, s in fake.states.items()]
                document: Any = {"model_version_status": statuses}
                body = b"<html>busy</html>" if fake.garbage else json.dumps(document).encode()
                self.send_response(200 if self.path == "/v1/models/vgg16" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_asked(self, times: int) -> None:
        """Until the sidecar has asked `times` more questions (so has decided that often)."""
        target = self.asked + times
        wait_until(lambda: self.asked >= target, f"{times} questions to TF Serving", timeout=30)


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket("models")
        yield server


@pytest.fixture
def env(s3: S3Server) -> dict[str, str]:
    """What the operator puts in the sidecar's env. No AWS_ALLOW_HTTP: an http:// endpoint is
    enough for the sidecar to allow it."""
    return {k: v for k, v in s3.env.items() if k != "AWS_ALLOW_HTTP"}


@pytest.fixture
def bucket(env: dict[str, str], tmp_path: Path) -> Bucket:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Bucket(open_store(SOURCE, env).upload, scratch)


@pytest.fixture
def fake_serving() -> Iterator[FakeServing]:
    fake = FakeServing()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def polls(count: int) -> None:
    """Let the sidecar poll about `count` times, where nothing it does can be counted."""
    time.sleep(count * INTERVAL + 0.5)


def test_complete_versions_arrive_and_a_partial_one_never_shows(
    bucket: Bucket, env: dict[str, str], tmp_path: Path
) -> None:
    bucket.put_version(1, SAVED_MODEL)
    bucket.put_version(2, SAVED_MODEL)
    with Sidecar(tmp_path, env, "--verbose").start() as sidecar:
        wait_until(lambda: sidecar.dest.is_dir(), "the destination")
        with Watcher(sidecar.dest, bucket):
            sidecar.wait_for_versions([1, 2])
            assert sidecar.ready() == 200
            # Version 3 from another tool: no marker, and one shard of two not uploaded yet.
            missing = "variables/variables.data-00001-of-00002"
            # The watcher knows the version's final content from the start.
            bucket.files[3] = {missing: (SHARDED[missing], "")}
            bucket.put_version(3, {k: v for k, v in SHARDED.items() if k != missing}, marker=False)
            waiting = f"version 3: waiting for {missing} (or the _SUCCESS marker)"
            wait_until(lambda: sidecar.output().count(waiting) >= 5, "five polls judging v3")
            assert not (sidecar.dest / "3").exists()
            bucket.put(3, missing, SHARDED[missing])
            sidecar.wait_for_versions([1, 2, 3])
        state = sidecar.state()
        for version in (1, 2, 3):
            assert copied_whole(sidecar.dest / str(version), bucket.files[version])
        assert state["source"] == SOURCE
        assert state["error"] == ""
        assert state["lastSync"].endswith("Z")
        assert sorted(os.listdir(sidecar.dest)) == ["1", "2", "3"]
        lines = [line for line in sidecar.output().splitlines() if "synced version" in line]
        assert [line.split(" (")[0] for line in lines] == [
            "synced version 2",
            "synced version 1",
            "synced version 3",
        ]


def test_the_versions_file_decides_and_a_version_goes_only_once_unloaded(
    bucket: Bucket, env: dict[str, str], tmp_path: Path, fake_serving: FakeServing
) -> None:
    versions_file = tmp_path / "model-sync.json"

    def wants(policy: dict[str, Any]) -> None:  # replaced whole, as a ConfigMap update does
        written = tmp_path / "model-sync.json.new"
        written.write_text(json.dumps(policy))
        written.rename(versions_file)

    wants({"latest": 2, "keep": []})
    bucket.put_version(1, SAVED_MODEL)
    bucket.put_version(2, SAVED_MODEL)
    bucket.put_version(3, {"saved_model.pb": 10}, marker=False)  # never complete
    fake_serving.states = {1: "AVAILABLE", 2: "AVAILABLE"}
    sidecar = Sidecar(tmp_path, env, "--versions-file", str(versions_file))
    with sidecar.start("--serving-url", fake_serving.url):
        wait_until(lambda: sidecar.dest.is_dir(), "the destination")
        with Watcher(sidecar.dest, bucket):
            sidecar.wait_for_versions([1, 2])  # latest 2 of the complete ones

            wants({"latest": 1})
            fake_serving.wait_asked(3)
            assert sidecar.state()["versions"] == [1, 2], "removed while TF Serving serves it"

            fake_serving.states = {1: "END", 2: "AVAILABLE"}
            fake_serving.garbage = True  # an answer that is not TF Serving's: cannot tell
            fake_serving.wait_asked(3)
            assert sidecar.state()["versions"] == [1, 2]

            wants({"latest": 1, "keep": [1]})  # a label points at it: kept
            polls(3)  # a poll that read the file before this one still heard garbage
            fake_serving.garbage = False
            polls(5)
            assert sidecar.state()["versions"] == [1, 2]

            wants({"latest": 1})
            sidecar.wait_for_versions([2])
            assert sorted(os.listdir(sidecar.dest)) == ["2"]

            wants({"specific": [1, 2]})  # wanted again: synced again
            sidecar.wait_for_versions([1, 2])
        assert "removed version 1 (no longer wanted, and TF Serving unloaded it)" in (
            sidecar.output()
        )
        assert sidecar.state()["error"] == ""


def test_a_sidecar_killed_mid_download_leaves_no_partial_version(
    bucket: Bucket, env: dict[str, str], tmp_path: Path
) -> None:
    big = "variables/variables.data-00000-of-00001"
    bucket.put_version(1, {**SAVED_MODEL, big: 200_000_000})
    sidecar = Sidecar(tmp_path, env).start()
    wait_until(lambda: sidecar.dest.is_dir(), "the destination")
    with Watcher(sidecar.dest, bucket):
        deadline = time.monotonic() + 60
        partial: Path | None = None
        while partial is None and time.monotonic() < deadline:
            for candidate in sidecar.dest.glob(f".sync-tmp-1-*/{big}"):
                with contextlib.suppress(FileNotFoundError):
                    if 20_000_000 < candidate.stat().st_size < 120_000_000:
                        partial = candidate.parents[1]
            time.sleep(0.002)
        assert partial, f"never saw the download half-way (log: {sidecar.output()})"
        sidecar.kill()
        assert partial.exists()
        assert not (sidecar.dest / "1").exists()

        sidecar.start()
        wait_until(lambda: sidecar.ready() == 200, "the restarted sidecar's first sync")
    assert sorted(os.listdir(sidecar.dest)) == ["1"]  # the leftover is gone
    assert copied_whole(sidecar.dest / "1", bucket.files[1])
    sidecar.stop()


def test_store_trouble_is_reported_and_the_loop_goes_on(
    s3: S3Server, bucket: Bucket, env: dict[str, str], tmp_path: Path
) -> None:
    bucket.put_version(1, SAVED_MODEL)
    with Sidecar(tmp_path, env).start() as sidecar:
        sidecar.wait_for_versions([1])
        # moto checks signatures from now on, and knows no access key: wrong credentials.
        requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
        try:
            error = wait_until(lambda: sidecar.state()["error"], "an error in the state")
            assert error == (
                f"listing {SOURCE}/: wrong credentials (the access key is not known) "
                "(InvalidAccessKeyId)"
            )
            polls(3)
            assert sidecar.running()
            assert sidecar.state()["versions"] == [1]  # what is here stays
            assert sidecar.ready() == 200  # once synced, stays ready: TF Serving serves on
        finally:
            requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
        wait_until(lambda: sidecar.state()["error"] == "", "the error to clear")
        assert sidecar.output().count(f"error: listing {SOURCE}/") == 1  # said once, not per poll

    missing = Sidecar(tmp_path, env, "--source", "s3://no-such-bucket/vgg16").start()
    with missing:
        error = wait_until(lambda: missing.state()["error"], "an error in the state")
        assert error == (
            "listing s3://no-such-bucket/vgg16/: the bucket does not exist (NoSuchBucket)"
        )
        polls(3)
        assert missing.running()
        assert missing.ready() == 503  # TF Serving would not start on nothing

    once = subprocess.run(
        [*missing.argv, "--once"], env=env, capture_output=True, text=True, timeout=60
    )
    assert once.returncode == 1
    assert once.stderr == f"error: {error}\n"


def test_once_syncs_and_exits(bucket: Bucket, env: dict[str, str], tmp_path: Path) -> None:
    bucket.put_version(4, SAVED_MODEL)
    bucket.put_version(5, SHARDED, marker=False)  # complete on a second look, one interval on
    sidecar = Sidecar(tmp_path, env)
    once = subprocess.run(
        [*sidecar.argv, "--once"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (once.returncode, once.stderr) == (0, "")
    assert [line.split(" (")[0] for line in once.stdout.splitlines()] == [
        "synced version 4",
        "synced version 5",
    ]
    assert copied_whole(sidecar.dest / "4", bucket.files[4])
    assert copied_whole(sidecar.dest / "5", bucket.files[5])


def test_the_sidecar_loads_no_ml_library_or_kubernetes_client(
    bucket: Bucket, env: dict[str, str], tmp_path: Path
) -> None:
    """It runs from the operator's image: what `tfmodel sync` imports, after a sync."""
    bucket.put_version(1, SAVED_MODEL)
    sidecar = Sidecar(tmp_path, env)
    script = (
        "import sys; from tfmodel_operator import cli; code = cli.main(sys.argv[1:]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'keras', 'numpy', 'kubernetes', 'kopf'})); sys.exit(code)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, *sidecar.argv[1:], "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "[]"


def test_gcs_through_the_emulator_variable(tmp_path: Path) -> None:
    with gcs_server() as gcs:
        gcs.create_bucket("models")
        env = {"STORAGE_EMULATOR_HOST": gcs.endpoint}

        def upload(local: Path, path: str) -> None:  # the library's upload is not emulated
            gcs.upload("models", f"vgg16/{path}", local.read_bytes())

        scratch = tmp_path / "scratch"
        scratch.mkdir()
        bucket = Bucket(upload, scratch)
        bucket.put_version(1, SAVED_MODEL)
        bucket.put_version(2, SHARDED, marker=False)
        sidecar = Sidecar(tmp_path, env, "--source", "gs://models/vgg16")
        once = subprocess.run(
            [*sidecar.argv, "--once"], env=env, capture_output=True, text=True, timeout=60
        )
        assert (once.returncode, once.stderr) == (0, "")
        assert copied_whole(sidecar.dest / "1", bucket.files[1])
        assert copied_whole(sidecar.dest / "2", bucket.files[2])

        # Without a scheme, as the Go client's users often write it.
        bare = {"STORAGE_EMULATOR_HOST": gcs.endpoint.removeprefix("http://")}
        missing = subprocess.run(
            [*sidecar.argv, "--once", "--source", "gs://no-such-bucket/vgg16"],
            env=bare,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode == 1
        assert missing.stderr.startswith("error: listing gs://no-such-bucket/vgg16/: ")
        assert "\n" not in missing.stderr.rstrip("\n")


class Dribble(BaseHTTPRequestHandler):
    """An answer that never ends, a byte at a time: only a total deadline stops it."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        with contextlib.suppress(OSError):
            while True:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_tf_serving_answers_are_bounded() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Dribble)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert loaded_states(url, "vgg16", deadline=1.0) is None
        assert time.monotonic() - started < 2.0
    finally:
        server.shutdown()
        server.server_close()
    assert loaded_states(f"http://127.0.0.1:{free_port()}", "vgg16") is None  # nobody there
