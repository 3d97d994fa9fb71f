"""One TFModel's trouble stays its own: a spec the schema admits but the operator must refuse, a
pod whose "TF Serving" answers nonsense or drips one byte at a time, each beside a healthy
TFModel whose failed load must still be noticed within one resync."""

import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from support.hostile_serving import HostileServing
from support.operator_settings import RESYNC_SECONDS
from support.polling import wait_until
from support.tfmodel_api import (
    condition,
    create,
    patch_spec,
    read,
    serve_ready,
    serving_pods,
    wait_for_condition,
)
from support.tfmodels import tfmodel, vgg16
from support.tfserving_standin import make_broken_version

HUGE_VERSION = json.dumps({"model_version_status": [
    {"version": str(2**64), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}).encode()  # fmt: skip


def ready_pod_ip(core: client.CoreV1Api, namespace: str, name: str) -> str:
    def ip() -> str | None:
        pods = [p for p in serving_pods(core, namespace, name) if p.status.pod_ip]
        ready = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return ready[0].status.pod_ip if ready else None

    return wait_until(ip, f"a ready pod of {name}")


def test_poison_tfmodels_beside_a_healthy_one_whose_failed_load_is_still_noticed(
    custom: client.CustomObjectsApi, core: client.CoreV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, models = models_namespace
    make_broken_version(models / "vgg16" / "4")
    serve_ready(custom, namespace, serve, vgg16())

    # A CPU limit beyond what Kubernetes can hold, an affinity with an unknown field, and two
    # pods whose "TF Serving" answers a version beyond int64, or drips it a byte every 0.5 s
    # (each read succeeds: only a deadline on the whole request stops it).
    create(
        custom,
        namespace,
        tfmodel("huge-cpu", modelName="vgg16", resources={"limits": {"cpu": "1e400"}}),
    )
    create(
        custom,
        namespace,
        tfmodel("odd-affinity", modelName="vgg16", affinity={"nodeAffinity": {"notAField": True}}),
    )
    hostile = []
    for name, body, drip in [("nonsense", HUGE_VERSION, 0.0), ("dripping", HUGE_VERSION, 0.5)]:
        create(custom, namespace, tfmodel(name, modelName="vgg16", versionPolicy={"specific": {"versions": [1]}},
                                          versionLabels={"stable": 1}))  # fmt: skip
        hostile.append(HostileServing(ready_pod_ip(core, namespace, name), body, drip))
    try:
        tfm = wait_for_condition(custom, namespace, "huge-cpu", "Stalled", "True", "InvalidSpec")
        assert "spec.resources.limits.cpu" in condition(tfm, "Stalled")["message"]
        tfm = wait_for_condition(
            custom, namespace, "odd-affinity", "Stalled", "True", "ApplyFailed"
        )
        assert "notAField" in condition(tfm, "Stalled")["message"], condition(tfm, "Stalled")

        def names_the_pod(name: str, words: str) -> Any:
            tfm = read(custom, namespace, name)
            return tfm if words in condition(tfm, "ConfigApplied").get("message", "") else None

        tfm = wait_until(
            lambda: names_the_pod("nonsense", "outside int64"), "the nonsense reported"
        )
        assert condition(tfm, "ConfigApplied")["reason"] == "NoPodAnswered"
        wait_until(lambda: names_the_pod("dripping", "no answer within 3s"), "the drip reported")

        # Meanwhile the healthy TFModel's failed load is noticed within one resync.
        started = time.monotonic()
        patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [1, 4]}},
                                                "versionLabels": {"stable": 1, "canary": 4}})  # fmt: skip
        wait_for_condition(custom, namespace, "vgg16", "Stalled", "True", "VersionLoadFailed",
                           timeout=RESYNC_SECONDS + 10)  # fmt: skip
        assert time.monotonic() - started < RESYNC_SECONDS + 10
    finally:
        for server in hostile:
            server.stop()
