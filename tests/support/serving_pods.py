"""Play kubelet and container for the fake pods of a TFModel, in tests.

kwok makes pods Running and Ready, but runs nothing. For each serving pod this starts the TF
Serving stand-in (support.tfserving_standin) on the pod's own loopback IP and port 8501, so the
operator dials exactly the address it would dial in a cluster, and copies the TFModel's
models.config from its ConfigMap into the pod's config file the way kubelet updates a
ConfigMap volume (optionally late, or never, per pod); its monitoring.config turns on TF
Serving's Prometheus page, as on a real pod. A pod of a TFModel whose versions are in a bucket
gets its model-sync sidecar run as rendered (support.sync_sidecars), and its stand-in serves
the directory the sidecar fills, once the first sync is done.
"""

import threading
from pathlib import Path
from typing import Any

from kubernetes import client

from support.sync_sidecars import Sidecar
from support.tfserving_standin import StandIn

REST_PORT = 8501
SYNC_FILE = "model-sync.json"


def _has_sidecar(pod: Any) -> bool:
    return any(c.name == "model-sync" for c in pod.spec.init_containers or [])


class ServingPods:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        tfmodel: str,
        models: Path,
        workdir: Path,
        base_path: str = "/models/vgg16",
        sub_path: str = "vgg16",
        load_delay: dict[int, float] | None = None,
        sidecar_env: dict[str, str] | None = None,
    ) -> None:
        self.core, self.namespace, self.tfmodel = core, namespace, tfmodel
        self.paths = {base_path: models / sub_path}
        self.workdir = workdir
        self.load_delay = load_delay if load_delay is not None else {}
        self.servers: dict[str, StandIn] = {}  # pod name -> its TF Serving stand-in
        self.sidecars: dict[str, Sidecar] = {}  # pod name -> its model-sync (bucket storage)
        # What the node would add to the sidecars' environment (the GCS emulator's address,
        # standing in for Google's endpoint, which the pods would otherwise reach).
        self.sidecar_env = sidecar_env or {}
        self.frozen: set[str] = set()  # pods whose "kubelet" stopped delivering the ConfigMap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ServingPods":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for server in self.servers.values():
            server.stop()
        for sidecar in self.sidecars.values():
            sidecar.stop()

    def stop_pod(self, pod: str) -> None:
        """The pod stays Ready in Kubernetes, but its server no longer answers."""
        self.servers[pod].stop()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self._sync()
            except Exception as err:  # a half-made world (pods coming and going): next round
                self.last_error = err

    def _sync(self) -> None:
        selector = f"app.kubernetes.io/instance={self.tfmodel},app.kubernetes.io/component=server"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        files = self._config_files()
        config = files.get("models.config")
        running = {
            p.metadata.name: p
            for p in pods
            if p.status.pod_ip and not p.metadata.deletion_timestamp
        }
        for name in set(self.servers) - set(running):
            self.servers.pop(name).stop()
        for name in set(self.sidecars) - set(running):
            self.sidecars.pop(name).stop()
        for name, pod in running.items():
            path = self.workdir / name / "models.config"
            monitoring = self.workdir / name / "monitoring.config"
            if config is not None and name not in self.frozen:
                write_if_changed(path, config)
                if SYNC_FILE in files:  # the ConfigMap volume the model-sync sidecar reads
                    write_if_changed(self.workdir / name / "config" / SYNC_FILE, files[SYNC_FILE])
            if "monitoring.config" in files:  # read once at start, as TF Serving does
                write_if_changed(monitoring, files["monitoring.config"])
            paths = self.paths
            if _has_sidecar(pod):  # TF Serving starts once its sidecar's first sync is done
                sidecar = self.sidecars.get(name)
                if sidecar is None:
                    sidecar = Sidecar(self.core, pod, self.workdir / name, self.sidecar_env)
                    self.sidecars[name] = sidecar
                if not sidecar.running():  # kubelet (re)starts a sidecar that is not running
                    sidecar.start()
                if name not in self.servers and not sidecar.ready():
                    continue
                paths = {base: sidecar.models for base in self.paths}
            if name not in self.servers and path.exists():
                server = StandIn(pod.status.pod_ip, REST_PORT, path, paths, poll_seconds=0.25,
                                 load_delay=self.load_delay,
                                 monitoring_config=monitoring if monitoring.exists() else None)  # fmt: skip
                server.start()
                self.servers[name] = server

    def _config_files(self) -> dict[str, str]:
        """The files of the TFModel's ConfigMap (none before it exists)."""
        name = f"{self.tfmodel}-models-config"
        try:
            data: dict[str, Any] = self.core.read_namespaced_config_map(name, self.namespace).data
        except client.exceptions.ApiException:
            return {}
        return {key: str(value) for key, value in (data or {}).items()}


def write_if_changed(path: Path, text: str) -> None:
    """Atomic, like kubelet's symlink swap: a reader never sees half a file."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def main() -> None:
    """`python -m support.serving_pods NAMESPACE TFMODEL MODELS_DIR`: for `make demo`."""
    import argparse
    import signal

    from kubernetes import config

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("namespace")
    parser.add_argument("tfmodel")
    parser.add_argument("models", type=Path, help="the directory the models PVC is bound to")
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    core = client.CoreV1Api(config.new_client_from_config())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ServingPods(core, args.namespace, args.tfmodel, args.models, args.workdir):
        stop.wait()


if __name__ == "__main__":
    main()
