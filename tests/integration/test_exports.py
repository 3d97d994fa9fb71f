"""Export Jobs on the real control plane: created from the TFModel, admitted under Pod Security
"restricted", gating the versions they publish, reported, never re-run, never overwritten.

kwok runs no containers: a Job's pod is Running for 4 s and then Succeeded. Where the exporter's
output matters, the test writes the version the way `tfmodel export` does (a temporary
directory renamed to the version number; the exporter itself is tested in
tests/integration/test_exporter.py), or reports the pod Failed the way a kubelet would.
"""

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from support.export_pods import EXPORT_JOBS, fail_export_pods, running_export_pod
from support.operator_settings import RESYNC_SECONDS
from support.polling import wait_until
from support.tfmodel_api import (
    condition,
    create,
    models_config,
    patch_spec,
    read,
    serve_ready,
    wait_for_condition,
    wait_fully_served,
    wait_settled,
)
from support.tfmodels import vgg16
from support.tfserving_standin import make_saved_model


def export_jobs(batch: client.BatchV1Api, namespace: str) -> list[client.V1Job]:
    return batch.list_namespaced_job(namespace, label_selector=EXPORT_JOBS).items  # type: ignore[no-any-return]


def test_export_job_publishes_a_version_that_is_served_only_afterwards(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, api: client.ApiClient,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    batch = client.BatchV1Api(api)
    namespace, models = models_namespace
    shutil.rmtree(models / "vgg16" / "2")  # version 2 exists only once its export has run
    serve("vgg16")
    spec = {"versionPolicy": {"specific": {"versions": [1, 2]}}, "versionLabels": {"stable": 1, "canary": 2},
            "exports": [{"version": 2, "weights": "none", "warmup": True}]}  # fmt: skip
    create(custom, namespace, vgg16(**spec))

    (job,) = wait_until(lambda: export_jobs(batch, namespace), "the export Job")
    assert job.metadata.name.startswith("vgg16-export-v2-")
    assert job.metadata.owner_references[0].kind == "TFModel"
    container = job.spec.template.spec.containers[0]
    assert container.args == ["--application", "VGG16", "--weights", "none", "--version", "2",
                              "--base-path", "/models/vgg16", "--model-name", "vgg16", "--warmup", "--exist-ok"]  # fmt: skip
    models_mount = container.volume_mounts[0]
    assert (models_mount.mount_path, models_mount.sub_path, models_mount.read_only) == (
        "/models/vgg16",
        "vgg16",
        None,
    )
    pod = wait_until(
        lambda: running_export_pod(core, namespace),
        "the export pod to run (admitted as restricted)",
    )
    assert pod.spec.security_context.run_as_non_root is True

    # While the export runs, version 2 is neither served nor labelled.
    tfm = wait_for_condition(custom, namespace, "vgg16", "Exported", "False", "ExportRunning")
    assert "versions: 2" not in models_config(core, namespace, "vgg16")
    assert "canary" not in models_config(core, namespace, "vgg16")
    assert condition(tfm, "Ready")["status"] == "False"
    make_saved_model(models / "vgg16" / "2", 2)  # what the exporter writes, atomically

    tfm = wait_fully_served(custom, namespace, "vgg16", replicas=2)
    assert tfm["status"]["exports"] == [
        {"version": 2, "job": job.metadata.name, "state": "Succeeded"}
    ]
    assert tfm["status"]["labels"] == {"canary": 2, "stable": 1}
    assert [v["version"] for v in tfm["status"]["versions"]] == [1, 2]

    time.sleep(2 * RESYNC_SECONDS)  # resyncs apply the finished Job again: a no-op, not a re-run
    assert [(j.metadata.name, j.metadata.uid) for j in export_jobs(batch, namespace)] == [
        (job.metadata.name, job.metadata.uid)
    ]

    patch_spec(
        custom,
        namespace,
        "vgg16",
        {"exports": [{"version": 2, "weights": "imagenet", "warmup": True}]},
    )
    tfm = wait_for_condition(custom, namespace, "vgg16", "Degraded", "True", "ExportRefused")
    assert "version 2 was published by Job" in condition(tfm, "Degraded")["message"]
    assert [j.metadata.name for j in export_jobs(batch, namespace)] == [job.metadata.name]
    assert {"version": 2, "state": "AVAILABLE", "availableReplicas": 2} in tfm["status"]["versions"]  # fmt: skip


def test_failed_export_is_reported_with_the_pod_message_and_serving_goes_on(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, api: client.ApiClient,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    batch = client.BatchV1Api(api)
    namespace, models = models_namespace
    shutil.rmtree(models / "vgg16" / "3")
    serve_ready(custom, namespace, serve, vgg16())
    stop = threading.Event()
    error = "tfmodel export: weights file not found: /models/vgg16/weights/missing.weights.h5"
    killer = threading.Thread(
        target=fail_export_pods, args=(core, namespace, error, stop), daemon=True
    )
    killer.start()
    try:
        patch_spec(custom, namespace, "vgg16", {
            "versionPolicy": {"specific": {"versions": [1, 3]}}, "versionLabels": {"stable": 1, "canary": 3},
            "exports": [{"version": 3, "weights": "weights/missing.weights.h5"}]})  # fmt: skip
        tfm = wait_for_condition(
            custom, namespace, "vgg16", "Degraded", "True", "ExportFailed", timeout=90
        )
    finally:
        stop.set()
        killer.join()
    message = condition(tfm, "Degraded")["message"]
    assert message.startswith("Export of version 3 failed (Job vgg16-export-v3-"), message
    assert error in message
    (export,) = tfm["status"]["exports"]
    assert (export["version"], export["state"]) == (3, "Failed")
    assert tfm["status"]["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2}
    ]
    assert tfm["status"]["labels"] == {"stable": 1}  # serving is undisturbed
    assert condition(tfm, "ConfigApplied")["status"] == "True"

    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [1]}}, "versionLabels": {"stable": 1, "canary": None}, "exports": None})  # fmt: skip
    wait_settled(custom, namespace, "vgg16")
    wait_until(lambda: not export_jobs(batch, namespace), "the failed Job to be pruned")
    assert read(custom, namespace, "vgg16")["status"]["exports"] == []
