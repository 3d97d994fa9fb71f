"""Real object-storage servers on 127.0.0.1 for the tests: S3 (moto's server) and GCS
(fake-gcs-server), each a process of its own: tests/cluster/build-moto.sh installs moto in a
venv of its own, tests/cluster/build-fake-gcs-server.sh builds fake-gcs-server.

    with s3_server() as s3:          # or gcs_server()
        s3.create_bucket("models")
        s3.upload("models", "vgg16/1/saved_model.pb", data)
        run_the_client(env=s3.env)   # the variables a client needs to reach it

Each server listens only on 127.0.0.1, on a port of its own, and is stopped on leaving the
`with` block. obstore (Rust's object_store) reads the AWS_* variables but not
STORAGE_EMULATOR_HOST: test_object_stores.py shows how to point its GCSStore at the emulator.
"""

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class S3Server:
    """moto's S3 server: any credentials are accepted (until support.moto_iam turns checks
    on), `env` holds some all the same; `pid` is its process."""

    endpoint: str  # http://127.0.0.1:PORT, path-style: {endpoint}/{bucket}/{key}
    pid: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def create_bucket(self, name: str) -> None:
        # S3's CreateBucket; moto takes it unsigned, and us-east-1 needs no location body.
        requests.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()

    def upload(self, bucket: str, key: str, data: bytes) -> None:
        """PutObject, unsigned: for test fixtures."""
        url = f"{self.endpoint}/{bucket}/{quote(key)}"
        requests.put(url, data=data, timeout=60).raise_for_status()


@dataclass(frozen=True)
class GcsServer:
    """fake-gcs-server with an in-memory backend, no authentication; `pid` is its process."""

    endpoint: str  # http://127.0.0.1:PORT: JSON API under /storage/v1, XML-style /{bucket}/{object}
    pid: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def create_bucket(self, name: str) -> None:
        # The JSON API's buckets.insert; the emulator ignores the project.
        requests.post(
            f"{self.endpoint}/storage/v1/b", params={"project": "test"}, json={"name": name},
            timeout=10,
        ).raise_for_status()  # fmt: skip

    def upload(self, bucket: str, name: str, data: bytes) -> None:
        """The JSON API's simple upload. fake-gcs-server takes no plain XML-API PUT (only signed
        ones), so clients that upload that way (obstore) cannot put objects: use this."""
        requests.post(
            f"{self.endpoint}/upload/storage/v1/b/{bucket}/o",
            params={"uploadType": "media", "name": name}, data=data, timeout=60,
        ).raise_for_status()  # fmt: skip


@cache
def tool(script: str) -> str:
    """A test server's executable, built or installed (or reused from ~/.cache) by `script`."""
    built = subprocess.run([REPO / "tests/cluster" / script], check=True,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    return built.stdout.strip()


def fake_gcs_server_binary() -> str:
    return tool("build-fake-gcs-server.sh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server(start_timeout: float = 30.0) -> Iterator[S3Server]:
    """moto's S3 server (a process of its own, from its own venv) on a free port of 127.0.0.1;
    a fresh one holds no buckets."""
    moto = tool("build-moto.sh")

    def argv(port: int) -> list[str]:
        return [moto, "-H", HOST, "-p", str(port)]

    with _running("moto_server", argv, "/moto-api/", start_timeout) as (endpoint, pid):
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",  # obstore (Rust object_store) refuses http:// without it
        }
        yield S3Server(endpoint, pid, env)


@contextmanager
def gcs_server(start_timeout: float = 30.0) -> Iterator[GcsServer]:
    """fake-gcs-server on a free port of 127.0.0.1, its objects in memory."""
    binary = fake_gcs_server_binary()

    def argv(port: int) -> list[str]:
        endpoint = f"http://{HOST}:{port}"
        return [
            binary, "-scheme", "http", "-host", HOST, "-port", str(port), "-backend", "memory",
            # The URLs it returns (selfLink, mediaLink, upload Location) and the host its
            # XML-style /{bucket}/{object} routes answer to (else storage.googleapis.com).
            "-external-url", endpoint, "-public-host", f"{HOST}:{port}",
            "-log-level", "warn",
        ]  # fmt: skip

    health = "/_internal/healthcheck"
    with _running("fake-gcs-server", argv, health, start_timeout) as (endpoint, pid):
        yield GcsServer(endpoint, pid, {"STORAGE_EMULATOR_HOST": endpoint})


@contextmanager
def _running(
    name: str, argv: Callable[[int], list[str]], health: str, start_timeout: float
) -> Iterator[tuple[str, int]]:
    """(endpoint, pid) of a server started with `argv(port)` once it answers `health`; stopped
    (the process started here, by its handle) on leaving."""
    with tempfile.TemporaryFile() as log:
        for _attempt in range(3):  # the free port may be taken before the server binds it
            port = free_port()
            endpoint = f"http://{HOST}:{port}"
            process = subprocess.Popen(argv(port), stdout=log, stderr=log, start_new_session=True)
            try:
                state = _wait_healthy(process, endpoint + health, start_timeout)
                if state == "healthy":
                    yield endpoint, process.pid
                    return
            finally:
                _stop(process)
            if state == "timed out":
                break
        log.seek(0)
        output = log.read().decode(errors="replace")
        raise RuntimeError(f"{name} did not start ({state}):\n{output}")


def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> str:
    """Whether it became "healthy" (answers its health check), "exited" (say, its port was
    taken) or "timed out"."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            if requests.get(url, timeout=1).ok:
                return "healthy"
        except requests.RequestException:  # not listening yet, or too slow to answer
            pass
        if time.monotonic() > deadline:
            return "timed out"
        time.sleep(0.05)
    return "exited"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (it exits on it), SIGKILL if it lingers; only the process started here."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs process `pid` listens on, TCP over IPv4 and IPv6, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.add((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp{,6}'s hex address (32-bit words in host order, little-endian) as text."""
    raw = b"".join(
        bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8)
    )
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)
