"""Versions that know the model: TF Serving's own status in the TFModel, two-phase label moves,
failed loads, silent pods and reloads that never arrive.

TF Serving here is the test stand-in (support.tfserving_standin) serving real SavedModels with
TensorFlow on each fake pod's loopback IP; everything else is the real control plane.
"""

import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from support.label_watch import watch_label
from support.operator_settings import RELOAD_GRACE_SECONDS
from support.polling import wait_until
from support.tfmodel_api import (
    condition,
    patch_spec,
    pod_ids,
    read,
    serve_ready,
    serving_pods,
    wait_for_condition,
    wait_settled,
)
from support.tfmodels import vgg16
from support.tfserving_standin import make_broken_version


def test_sample_status_lists_what_tf_serving_serves(
    custom: client.CustomObjectsApi, models_namespace: tuple[str, Path], serve: Any
) -> None:
    namespace, _ = models_namespace
    serve_ready(custom, namespace, serve, vgg16())
    tfm = read(custom, namespace, "vgg16")
    assert tfm["status"]["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 2}
    ]
    assert tfm["status"]["labels"] == {"stable": 1}
    assert tfm["status"]["labelSummary"] == {"stable": "1 (2/2)"}
    assert (
        condition(tfm, "ConfigApplied")["message"]
        == "models.config is in effect on 2 of 2 ready pods"
    )


def test_canary_rollout_never_points_a_label_at_an_unloaded_version(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, _ = models_namespace
    # Version 2 takes 4 s to load on every pod.
    pods = serve_ready(custom, namespace, serve, vgg16(), load_delay={2: 4.0})
    before = pod_ids(core, namespace)
    watch = watch_label(core, namespace, "vgg16", "stable")

    # Add version 2 as canary, then move stable onto it while it is still loading.
    patch_spec(
        custom,
        namespace,
        "vgg16",
        {
            "versionPolicy": {"specific": {"versions": [1, 2]}},
            "versionLabels": {"stable": 1, "canary": 2},
        },
    )
    wait_until(
        lambda: any(
            v["version"] == 2 and v["state"] == "LOADING"
            for v in read(custom, namespace, "vgg16")["status"].get("versions", [])
        ),
        "version 2 LOADING in the status",
    )
    moved_at = time.monotonic()
    patch_spec(
        custom,
        namespace,
        "vgg16",
        {
            "versionPolicy": {"specific": {"versions": [2]}},
            "versionLabels": {"stable": 2, "canary": 2},
        },
    )
    held = wait_for_condition(
        custom, namespace, "vgg16", "ConfigApplied", "False", "LabelMovePending"
    )
    assert (
        "label stable stays on version 1 until version 2 is AVAILABLE"
        in condition(held, "ConfigApplied")["message"]
    )

    tfm = wait_settled(custom, namespace, "vgg16", timeout=90)
    watch.done.set()
    watch.join()
    assert tfm["status"]["labels"] == {"canary": 2, "stable": 2}
    assert tfm["status"]["versions"] == [
        {"version": 2, "state": "AVAILABLE", "availableReplicas": 2}
    ]
    for server in pods.servers.values():
        assert (
            server.served("vgg16").get(1) == "END"
        )  # version 1 was unloaded: the policy dropped it
    assert pod_ids(core, namespace) == before  # no pod restarted

    failed = [s for s in watch.samples if s[2] != 200]
    assert len(watch.samples) > 100, "the watch saw too little"
    assert failed == [], f"a predict through stable failed: {failed[:5]}"
    assert {v for *_, v in watch.samples} == {1, 2}
    served_at = watch.first_time_all_resolve(2, after=moved_at)
    print(f"\nstable 1->2 while version 2 loaded (4 s): served on all pods {served_at - moved_at:.1f} s after the spec change")  # fmt: skip


@pytest.mark.parametrize(
    "checks", ["checked", "unchecked"], ids=["promotion-checks", "no-promotion-checks"]
)
def test_label_move_latency_between_loaded_versions(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
    checks: str,
) -> None:
    """Measures (prints, asserts nothing about speed) spec change -> label served on all pods,
    with the promotion checks (the default) and without."""
    namespace, _ = models_namespace
    promotion = {} if checks == "checked" else {"checkSignatures": False, "smokeRequest": False}
    body = vgg16(versionPolicy={"specific": {"versions": [1, 2]}}, promotion=promotion)
    serve_ready(custom, namespace, serve, body)
    watch = watch_label(core, namespace, "vgg16", "stable")
    timings = []
    for target in (2, 1, 2, 1, 2):
        changed_at = time.monotonic()
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": target}})
        wait_until(
            lambda t=target: set(watch.latest().values()) == {t}, f"stable={target} everywhere"
        )  # type: ignore[misc]
        timings.append(watch.first_time_all_resolve(target, after=changed_at) - changed_at)
    watch.stop()
    assert watch.failures() == []
    print(f"\nlabel move ({checks}), spec change -> served on all {len(watch.ips)} pods: median {statistics.median(timings):.2f} s, "
          f"min {min(timings):.2f} s, max {max(timings):.2f} s over {len(timings)} moves")  # fmt: skip


def test_failed_load_is_reported_and_the_old_version_keeps_serving(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, models = models_namespace
    make_broken_version(models / "vgg16" / "4")
    serve_ready(custom, namespace, serve, vgg16())

    patch_spec(
        custom,
        namespace,
        "vgg16",
        {
            "versionPolicy": {"specific": {"versions": [1, 4]}},
            "versionLabels": {"stable": 1, "canary": 4},
        },
    )
    wait_for_condition(custom, namespace, "vgg16", "Degraded", "True", "VersionLoadFailed")
    pods = [p.metadata.name for p in serving_pods(core, namespace, "vgg16")]

    def on_every_pod() -> dict[str, Any] | None:  # each pod fails on its own schedule
        tfm = read(custom, namespace, "vgg16")
        return tfm if all(p in condition(tfm, "Degraded")["message"] for p in pods) else None

    tfm = wait_until(on_every_pod, "the failure to be reported for every pod")
    message = condition(tfm, "Degraded")["message"]
    assert message.startswith("Version 4 failed to load on vgg16-"), message
    failed = next(v for v in tfm["status"]["versions"] if v["version"] == 4)
    assert failed["state"] == "END"
    assert failed["error"]  # TF's own error text
    assert failed["error"] in message
    assert {"version": 1, "state": "AVAILABLE", "availableReplicas": 2} in tfm["status"]["versions"]
    assert tfm["status"]["labels"] == {"stable": 1}  # still served by the old version

    patch_spec(
        custom,
        namespace,
        "vgg16",
        {
            "versionPolicy": {"specific": {"versions": [1]}},
            "versionLabels": {"stable": 1, "canary": None},
        },
    )
    wait_settled(custom, namespace, "vgg16")


def test_a_pod_that_does_not_answer_is_reported_not_fatal(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, _ = models_namespace
    pods = serve_ready(custom, namespace, serve, vgg16())
    silent = sorted(pods.servers)[0]
    pods.stop_pod(silent)

    def reported() -> dict[str, Any] | None:
        tfm = read(custom, namespace, "vgg16")
        return tfm if silent in condition(tfm, "ConfigApplied")["message"] else None

    tfm = wait_until(reported, f"the status to name the silent pod {silent}")
    assert "not answering" in condition(tfm, "ConfigApplied")["message"]
    assert condition(tfm, "Ready")["status"] == "True"  # the other pod still serves
    assert tfm["status"]["versions"] == [
        {"version": 1, "state": "AVAILABLE", "availableReplicas": 1}
    ]
    assert tfm["status"]["labelSummary"] == {"stable": "1 (1/2)"}


def test_a_reload_that_never_arrives_is_degraded_with_the_pod_named(
    custom: client.CustomObjectsApi, models_namespace: tuple[str, Path], serve: Any
) -> None:
    namespace, _ = models_namespace
    pods = serve_ready(
        custom, namespace, serve, vgg16(versionPolicy={"specific": {"versions": [1, 2]}})
    )
    stuck = sorted(pods.servers)[1]
    pods.frozen.add(stuck)  # its kubelet stops delivering ConfigMap updates

    patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})
    tfm = wait_for_condition(
        custom,
        namespace,
        "vgg16",
        "Degraded",
        "True",
        "ReloadNotSeen",
        timeout=30 + RELOAD_GRACE_SECONDS,
    )
    message = condition(tfm, "Degraded")["message"]
    assert f"{stuck}: label stable resolves to 1, not 2" in message, message

    pods.frozen.discard(stuck)
    wait_settled(custom, namespace, "vgg16")
