"""Play kubelet for the model-sync sidecar of fake pods, in tests.

kwok runs no containers. For a pod whose TFModel keeps its versions in a bucket, this runs the
pod's `model-sync` container as rendered (its command, args and env from the pod the operator's
Deployment made) as a local process: `$(VAR)` references expanded as kubelet expands them,
`fieldRef: status.podIP` and `secretKeyRef` resolved from the pod and its Secret, and the
container paths of its mounts mapped onto this pod's directories: the `models` emptyDir (which
the TF Serving stand-in then serves) and the `config` ConfigMap volume. Like a native sidecar's
startup probe, `ready` says when its first complete sync is done.
"""

import base64
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import requests
from kubernetes import client

REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class Sidecar:
    def __init__(
        self, core: client.CoreV1Api, pod: Any, workdir: Path, node_env: dict[str, str]
    ) -> None:
        assert shutil.which("tfmodel"), "the tfmodel command (pip install -e .) is not on PATH"
        (container,) = [c for c in pod.spec.init_containers or [] if c.name == "model-sync"]
        self.container, self.pod = container, pod
        self.models, self.config = workdir / "models", workdir / "config"
        self.models.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "model-sync.log"
        self.env = {**node_env, **{e.name: self._value(core, e) for e in container.env or []}}
        self.argv = [self._expand(a) for a in [*container.command, *container.args]]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0  # how often it was started: a restart of the sidecar counts

    def _value(self, core: client.CoreV1Api, var: Any) -> str:
        if var.value is not None:
            return str(var.value)
        source = var.value_from
        if source.field_ref is not None:
            assert source.field_ref.field_path == "status.podIP", source.field_ref.field_path
            return str(self.pod.status.pod_ip)
        ref = source.secret_key_ref
        secret = core.read_namespaced_secret(ref.name, self.pod.metadata.namespace)
        return base64.b64decode(secret.data[ref.key]).decode()

    def _expand(self, arg: str) -> str:
        """kubelet's `$(VAR)` expansion, then container paths of the mounts -> local paths."""
        arg = REFERENCE.sub(lambda m: self.env.get(m.group(1), m.group(0)), arg)
        flag, equals, value = arg.rpartition("=") if arg.startswith("--") else ("", "", arg)
        for mount in self.container.volume_mounts or []:
            local = {"models": self.models, "config": self.config}.get(mount.name)
            inside = value == mount.mount_path or value.startswith(mount.mount_path + "/")
            if local is not None and inside:
                value = str(local) + value[len(mount.mount_path) :]
        return flag + equals + value

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            # The container's env alone, as in a pod (PATH finds this checkout's tfmodel).
            self.process = subprocess.Popen(
                self.argv, env={**self.env, "PATH": os.environ["PATH"]}, stdout=log, stderr=log
            )

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node failure would end it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        """The startup probe: GET /ready on the sidecar's port."""
        port = next(p.container_port for p in self.container.ports if p.name == "sync")
        try:
            return requests.get(f"http://{self.pod.status.pod_ip}:{port}/ready", timeout=1).ok
        except requests.RequestException:
            return False
