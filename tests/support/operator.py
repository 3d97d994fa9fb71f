"""Run the operator as a user would: `tfmodel run`, with only the RBAC of manifests/."""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def running_operator(
    kubeconfig: Path, log: Path, settings: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """`tfmodel run` with `settings` (TFMODEL_* environment variables)."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), **settings}
    tfmodel = Path(sys.executable).parent / "tfmodel"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [tfmodel, "run", "--all-namespaces", "--verbose"], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
