"""Models from a bucket, end to end on the control plane: a TFModel with spec.storage.s3 (moto)
or spec.storage.gcs (fake-gcs-server), its pods' model-sync sidecars run as rendered (the pod's
`model-sync` container: command, args and env, with its emptyDir and ConfigMap mounts mapped to
directories of the pod; support.sync_sidecars), and TF Serving stand-ins serving the directory
each sidecar fills. Everything else is the real control plane and the real operator.

What must hold: TF Serving never sees a partial version (a watcher samples each pod's directory
every 10 ms), new versions and label moves need no pod or sidecar restart, a sidecar killed in
the middle of a download leaves nothing partial behind, and a bucket the sidecars cannot read is
reported naming it while what is served stays served.
"""

import base64
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from kubernetes import client

from support import moto_iam
from support.object_stores import gcs_server, s3_server
from support.polling import wait_until
from support.serving_pods import ServingPods
from support.tfmodel_api import (
    create,
    patch_spec,
    pod_ids,
    read,
    wait_for_condition,
    wait_fully_served,
)
from support.tfmodels import tfmodel
from tfmodel_operator.storage.stores import Store, open_store

BIG = 256 * 1024 * 1024  # a file large enough to kill the sidecar in the middle of it
MARKER = Path("/dev/null")  # an empty _SUCCESS


@dataclass
class Bucket:
    store: Store  # the test's own access to it
    put: Callable[[Path, str], None]  # upload a file to a path under the prefix
    storage: dict[str, Any]  # spec.storage
    node_env: dict[str, str]  # what the sidecars' environment gets besides the rendered env
    endpoint: str


@pytest.fixture(params=["s3", "gcs"])
def bucket(
    request: pytest.FixtureRequest, core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
) -> Iterator[Bucket]:  # fmt: skip
    namespace, _ = models_namespace
    s3 = request.param == "s3"
    with s3_server() if s3 else gcs_server() as server:
        server.create_bucket("models")
        env = dict(server.env)
        if s3:  # checked credentials, kept in a Secret as spec.storage.s3.secretRef names it
            keys = moto_iam.checked_credentials(server.endpoint)
            env.update(keys)
            core.create_namespaced_secret(
                namespace, {"metadata": {"name": "s3-creds"}, "stringData": keys}
            )
            source = {"s3": {"bucket": "models", "prefix": "vgg16", "endpoint": server.endpoint,
                             "region": "us-east-1", "secretRef": {"name": "s3-creds"}}}  # fmt: skip
            node_env: dict[str, str] = {}
        else:  # the emulator stands in for Google's endpoint (fake-gcs-server has no auth)
            source = {"gcs": {"bucket": "models", "prefix": "vgg16"}}
            node_env = {"STORAGE_EMULATOR_HOST": env["STORAGE_EMULATOR_HOST"]}
        store = open_store(f"{'s3' if s3 else 'gs'}://models/vgg16", env)

        def put(local: Path, path: str) -> None:
            if s3:
                store.upload(local, path)
            else:  # fake-gcs-server takes no XML-API PUT (obstore's upload): its JSON API
                server.upload("models", f"vgg16/{path}", local.read_bytes())  # type: ignore[union-attr]

        try:
            yield Bucket(store, put, {**source, "syncSeconds": 1}, node_env, server.endpoint)
        finally:
            if s3:
                moto_iam.no_checks(server.endpoint)


def upload(bucket: Bucket, local: Path, version: int, *, skip: tuple[str, ...] = (),
           marker: bool = True) -> None:  # fmt: skip
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        relative = path.relative_to(local).as_posix()
        if relative not in skip:
            bucket.put(path, f"{version}/{relative}")
    if marker:
        bucket.put(MARKER, f"{version}/_SUCCESS")


class PartialWatch:
    """Samples a directory every 10 ms: a numeric entry must hold its version whole (every file
    of it, at its full size), or TF Serving could load it half-written."""

    def __init__(self, directory: Path, versions: dict[int, Path]) -> None:
        self.directory, self.versions = directory, versions
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PartialWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            for entry in list(self.directory.iterdir()):
                if entry.name.isdigit():
                    self._check(entry, self.versions[int(entry.name)])

    def _check(self, entry: Path, source: Path) -> None:
        for path in source.rglob("*"):
            if path.is_file():
                local = entry / path.relative_to(source)
                try:
                    whole = local.stat().st_size == path.stat().st_size
                except FileNotFoundError:
                    whole = not entry.exists()  # removed meanwhile (an unloaded version)
                if not whole:
                    self.seen.append(f"{local} incomplete")


def versions_served(custom: client.CustomObjectsApi, namespace: str) -> dict[int, str]:
    status = read(custom, namespace, "vgg16").get("status") or {}
    return {v["version"]: v["state"] for v in status.get("versions", [])}


def test_versions_from_a_bucket_arrive_whole_with_no_restart_and_trouble_is_named(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, models_namespace: tuple[str, Path],
    serve: Any, saved_models: Path, bucket: Bucket, tmp_path: Path,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    upload(bucket, saved_models / "1", 1)
    pods: ServingPods = serve("vgg16", sidecar_env=bucket.node_env)
    body = tfmodel(storage=bucket.storage, versionPolicy={"latest": {"numVersions": 2}},
                   versionLabels={"stable": 1})  # fmt: skip
    create(custom, namespace, body)
    tfm = wait_fully_served(custom, namespace, "vgg16", 1)
    assert versions_served(custom, namespace) == {1: "AVAILABLE"}
    synced = next(c for c in tfm["status"]["conditions"] if c["type"] == "Synced")
    assert synced["status"] == "True", synced
    (pod_name,) = pods.sidecars
    sidecar = pods.sidecars[pod_name]
    (first_pod,) = pod_ids(core, namespace)
    big3 = tmp_path / "3"
    shutil.copytree(saved_models / "3", big3)
    (big3 / "assets").mkdir(exist_ok=True)
    with (big3 / "assets" / "big.bin").open("wb") as out:
        out.truncate(BIG)  # zeros: cheap to make, as slow to move as any bytes
    sources = {1: saved_models / "1", 2: saved_models / "2", 3: big3}

    with PartialWatch(sidecar.models, sources) as watch:
        # Version 2 without its marker and without its data shard: never taken.
        shard = "variables/variables.data-00000-of-00001"
        upload(bucket, saved_models / "2", 2, skip=(shard,), marker=False)
        time.sleep(4)  # four polls
        assert not (sidecar.models / "2").exists()
        assert versions_served(custom, namespace) == {1: "AVAILABLE"}
        # Finished: served, and the label moves onto it with no pod or sidecar restart.
        bucket.put(saved_models / "2" / shard, f"2/{shard}")
        bucket.put(MARKER, "2/_SUCCESS")
        wait_until(lambda: versions_served(custom, namespace).get(2) == "AVAILABLE",
                   "version 2 to be served", 60)  # fmt: skip
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})
        wait_until(lambda: read(custom, namespace, "vgg16")["status"].get("labels") == {"stable": 2},
                   "the label to move onto version 2", 60)  # fmt: skip
        assert pod_ids(core, namespace) == {first_pod}
        assert sidecar.starts == 1

        # Killed in the middle of version 3's large file: nothing partial, no leftovers.
        upload(bucket, big3, 3)
        wait_until(lambda: any(not e.name.isdigit() for e in sidecar.models.iterdir()),
                   "the sidecar to start downloading version 3", 60, interval=0.01)  # fmt: skip
        sidecar.kill()
        assert not (sidecar.models / "3").exists()
        wait_until(lambda: sidecar.starts == 2 and sidecar.ready(), "the sidecar's restart", 30)
        wait_until(lambda: versions_served(custom, namespace).get(3) == "AVAILABLE",
                   "version 3 to be served", 120)  # fmt: skip
        assert sorted(e.name for e in sidecar.models.iterdir() if not e.name.isdigit()) == []
        # latest 2 and stable=2: version 1 leaves, removed once TF Serving unloaded it.
        wait_until(lambda: not (sidecar.models / "1").exists(), "version 1 to be removed", 60)
    assert watch.seen == []

    # A bucket the sidecars cannot read is named; what is served stays served.
    if "s3" in bucket.storage:
        keys = core.read_namespaced_secret("s3-creds", namespace).data
        moto_iam.revoke(bucket.endpoint, base64.b64decode(keys["AWS_ACCESS_KEY_ID"]).decode())
        problem = "wrong credentials"
    else:
        for entry in bucket.store.list(""):
            name = quote(f"vgg16/{entry.path}", safe="")
            requests.delete(f"{bucket.endpoint}/storage/v1/b/models/o/{name}", timeout=10)
        requests.delete(f"{bucket.endpoint}/storage/v1/b/models", timeout=10).raise_for_status()
        problem = "no bucket named models"  # the emulator's words (an HTTP 500; GCS says 404)
    tfm = wait_for_condition(custom, namespace, "vgg16", "Synced", "False", "SyncFailed", 60)
    message = next(c for c in tfm["status"]["conditions"] if c["type"] == "Synced")["message"]
    url = "s3://models/vgg16" if "s3" in bucket.storage else "gs://models/vgg16"
    assert message.startswith(f"{url}: "), message
    assert problem in message, message
    assert pod_name in message, message
    degraded = next(c for c in tfm["status"]["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "SyncFailed")
    assert next(c for c in tfm["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    assert versions_served(custom, namespace) == {2: "AVAILABLE", 3: "AVAILABLE"}
    assert (sidecar.models / "2").exists()
    assert (sidecar.models / "3").exists()
