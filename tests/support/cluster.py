"""The local control plane (tests/cluster) as the integration tests use it."""

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "cluster"
RUN_DIR = REPO / ".cluster"


def binaries() -> Path:
    """Build the control-plane binaries, or reuse them from the cache; put them on PATH."""
    built = subprocess.run(
        [SCRIPTS / "build.sh"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip()
    os.environ["PATH"] = f"{built}{os.pathsep}{os.environ['PATH']}"
    return Path(built)


@contextmanager
def running_cluster() -> Iterator[Path]:
    """Yield an admin kubeconfig: TFMODEL_TEST_KUBECONFIG if set, else the local control plane.

    A cluster that was already up (say `make cluster-up`) is reused and left running; one
    started here is stopped afterwards.
    """
    named = os.environ.get("TFMODEL_TEST_KUBECONFIG")
    binaries()
    if named:
        yield Path(named)
        return
    was_running = subprocess.run([SCRIPTS / "down.sh", "--check", RUN_DIR]).returncode == 0
    up = subprocess.run([SCRIPTS / "up.sh", RUN_DIR], stderr=subprocess.PIPE, text=True)
    if up.returncode != 0:
        raise RuntimeError(f"the local control plane did not start:\n{up.stderr}")
    try:
        yield RUN_DIR / "kubeconfig"
    finally:
        if not was_running:
            subprocess.run([SCRIPTS / "down.sh", RUN_DIR], check=False)


def restart_apiserver(down_for: float = 0.0, run_dir: Path = RUN_DIR) -> None:
    """Kill the kube-apiserver up.sh started (as a crash would: a graceful stop waits for its
    long requests) and start it again with the same command line (its new PID recorded for
    down.sh), `down_for` seconds later; return once it answers."""
    pids = run_dir / "pids"
    lines = pids.read_text().splitlines()
    pid = next(int(line.split()[0]) for line in lines if line.split()[1] == "kube-apiserver")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    os.kill(pid, signal.SIGKILL)
    while running(pid):  # its port is free only once it is gone
        time.sleep(0.1)
    time.sleep(down_for)
    api = config.new_client_from_config(config_file=str(run_dir / "kubeconfig"))
    deadline = time.monotonic() + 60
    while True:  # a port its old connections still hold for a moment: start it again
        with (run_dir / "logs" / "kube-apiserver.log").open("ab") as log:
            new = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        recorded = [f"{new.pid} kube-apiserver" if line.split()[1] == "kube-apiserver" else line
                    for line in lines]  # fmt: skip
        pids.write_text("".join(f"{line}\n" for line in recorded))
        while new.poll() is None:
            try:
                client.CoreV1Api(api).list_namespace(limit=1, _request_timeout=2)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if time.monotonic() > deadline:
            raise RuntimeError("the kube-apiserver did not start again")
        time.sleep(0.5)


def running(pid: int) -> bool:
    """True until `pid` has exited (a zombie has: it holds no files, its port is free)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def compact_etcd(port: int = 23790) -> int:
    """Compact etcd at its current revision (as it does on its own, later): every watch from an
    older resourceVersion must list again. Returns the revision."""

    def post(path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer

    header = post("/v3/kv/range", {"key": "Lw=="})["header"]
    revision = int(header["revision"])  # type: ignore[index]
    post("/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision
