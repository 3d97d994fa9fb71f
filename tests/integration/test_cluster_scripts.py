"""up.sh and down.sh: idempotent start, restart on its own data after a component died, exact stop.

Runs a second, throw-away control plane on other ports so the session's cluster is untouched.
"""

import os
import signal
import subprocess
from pathlib import Path

from support.cluster import SCRIPTS

PORTS = {
    "ETCD_PORT": "23791",
    "ETCD_PEER_PORT": "23801",
    "API_PORT": "16444",
    "KCM_PORT": "10367",
    "SCHED_PORT": "10369",
}
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
              "metrics-server"]  # fmt: skip


def script(name: str, run: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPTS / name, run],
        env={**os.environ, **PORTS},
        capture_output=True,
        text=True,
        check=False,
    )


def recorded(run: Path) -> dict[str, int]:
    pairs = (line.split() for line in (run / "pids").read_text().splitlines())
    return {name: int(pid) for pid, name in pairs}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_start_twice_recover_from_a_killed_run_and_stop_exactly(
    kubeconfig: Path, tmp_path: Path
) -> None:
    run = tmp_path / "cluster"
    try:
        check_start_twice_recover_and_stop(run)
    finally:
        script("down.sh", run)  # also when an assertion failed half-way


def check_start_twice_recover_and_stop(run: Path) -> None:
    first = script("up.sh", run)
    assert first.returncode == 0, first.stderr
    started = recorded(run)
    assert sorted(started) == sorted(COMPONENTS)
    assert all(map(alive, started.values()))

    again = script("up.sh", run)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert recorded(run) == started

    kubeconfig = str(run / "kubeconfig")
    kubectl = ["kubectl", f"--kubeconfig={kubeconfig}"]
    subprocess.run([*kubectl, "create", "namespace", "survivor"], check=True, capture_output=True)
    os.kill(started["kube-apiserver"], signal.SIGKILL)  # one component dies
    recovered = script("up.sh", run)
    assert recovered.returncode == 0, recovered.stderr
    assert "restarting the cluster" in recovered.stderr
    restarted = recorded(run)
    assert set(restarted.values()).isdisjoint(started.values())
    assert not any(map(alive, started.values()))
    # Restarted on its data and PKI: what was in it is still there, the old kubeconfig works.
    kept = subprocess.run(
        [*kubectl, "get", "namespace", "survivor"], capture_output=True, text=True, check=False
    )
    assert kept.returncode == 0, kept.stderr

    stopped = script("down.sh", run)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(map(alive, restarted.values()))
    assert not (run / "pids").exists()
    assert not (run / "kubeconfig").exists()
