"""Run the operator as a user would: `tfmodel run`, with only the RBAC of manifests/."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICE_ACCOUNT = ("tfmodel-system", "tfmodel-operator")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def install(kubeconfig: Path) -> None:
    """Install as a user would: `kubectl apply -k manifests/` (CRD, namespace, RBAC, operator).

    The operator Deployment's pod is a kwok fake here; the operator under test runs as a local
    process with the same ServiceAccount's token.
    """
    kubectl(kubeconfig, "apply", "--server-side", "-k", str(REPO / "manifests"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/tfmodels.serving.tfmodel.io")


def service_account_kubeconfig(admin: Path, target: Path) -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount (a bound token)."""
    namespace, name = SERVICE_ACCOUNT
    token = kubectl(admin, "create", "token", name, "-n", namespace, "--duration=4h").strip()
    admin_config = yaml.safe_load(admin.read_text())
    cluster = admin_config["clusters"][0]["cluster"]
    ca = Path(cluster["certificate-authority"]).read_bytes()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": cluster["server"],
            "certificate-authority-data": base64.b64encode(ca).decode(),
        }}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name}}],
        "current-context": name,
    }  # fmt: skip
    target.write_text(yaml.safe_dump(config))
    return target


class Operators:
    """The operator processes of a test session, each `tfmodel run` with `settings` (TFMODEL_*
    environment variables) and a log of its own. `leader` is the one the session relies on; a
    failover test may start a standby, kill the leader and make the standby the leader."""

    def __init__(self, kubeconfig: Path, workdir: Path, settings: dict[str, str]) -> None:
        self.kubeconfig, self.workdir, self.settings = kubeconfig, workdir, settings
        self.processes: list[subprocess.Popen[bytes]] = []
        self.leader: subprocess.Popen[bytes] | None = None
        self.logs: dict[int, Path] = {}

    def start(
        self, name: str, kubeconfig: Path | None = None, **settings: str
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start `tfmodel run` as `name`, with the session's settings and these (TFMODEL_*)."""
        log = self.workdir / f"{name}.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.kubeconfig), **self.settings,
               **settings}  # fmt: skip
        tfmodel = Path(sys.executable).parent / "tfmodel"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [tfmodel, "run", "--all-namespaces", "--verbose"], env=env, stdout=out, stderr=out
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process, log

    def stop_all(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def started(process: subprocess.Popen[bytes], log: Path) -> bool:
    """True once the operator in `process` reconciles (it holds the Lease and listed everything)."""
    if process.poll() is not None:
        raise AssertionError(f"the operator exited:\n{log.read_text()[-5000:]}")
    return "Started tfmodel-operator" in log.read_text()
