"""The local control plane (tests/cluster) as the integration tests use it."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
