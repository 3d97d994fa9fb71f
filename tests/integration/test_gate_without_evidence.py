"""The promotion gate holds when its evidence goes missing: after a refused promotion, neither a
lost plan annotation, nor a deleted ConfigMap, nor pods that are all unready when the spec
changes let `stable` move onto the refused version. TF Serving is the stand-in
(support.contract_models); version 2 answers NaN."""

import re
import threading
from pathlib import Path
from typing import Any

from kubernetes import client

from support.contract_models import Change, make_contract_model
from support.polling import wait_until
from support.tfmodel_api import patch_spec, read, serve_ready, serving_pods, wait_for_condition
from support.tfmodels import vgg16

STABLE = re.compile(r"version_labels \{ key: 'stable' value: (\d+) \}")


class ConfigWatch(threading.Thread):
    """Reads models.config every 0.1 s; records every version `stable` was written as."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        super().__init__(daemon=True)
        self.core, self.namespace = core, namespace
        self.seen: set[int] = set()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            try:
                cm = self.core.read_namespaced_config_map("vgg16-models-config", self.namespace)
            except client.ApiException:
                continue  # deleted: the operator makes it again
            self.seen |= {int(v) for v in STABLE.findall((cm.data or {}).get("models.config", ""))}


def stable_in_config(core: client.CoreV1Api, namespace: str) -> int | None:
    cm = core.read_namespaced_config_map("vgg16-models-config", namespace)
    found = STABLE.findall((cm.data or {}).get("models.config", ""))
    return int(found[0]) if found else None


def test_a_refused_label_never_moves_when_the_gate_loses_its_evidence(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, models = models_namespace
    for path in (models / "vgg16").iterdir():
        if path.name.isdigit():
            for file in sorted(path.rglob("*"), reverse=True):
                file.unlink() if file.is_file() else file.rmdir()
            path.rmdir()
    make_contract_model(models / "vgg16" / "1", 1, Change.NONE)
    make_contract_model(models / "vgg16" / "2", 2, Change.NAN)
    serve_ready(custom, namespace, serve, vgg16(versionPolicy={"specific": {"versions": [1, 2]}}))
    watch = ConfigWatch(core, namespace)
    watch.start()
    try:
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})
        wait_for_condition(custom, namespace, "vgg16", "Stalled", "True", "PromotionBlocked")

        # The plan annotation removed by hand: the operator writes it back, stable still on 1.
        core.patch_namespaced_config_map(
            "vgg16-models-config", namespace,
            {"metadata": {"annotations": {"serving.tfmodel.io/plan": None}}},
        )  # fmt: skip

        def annotated() -> bool:
            cm = core.read_namespaced_config_map("vgg16-models-config", namespace)
            return "serving.tfmodel.io/plan" in (cm.metadata.annotations or {})

        wait_until(annotated, "the plan annotation written back")
        assert stable_in_config(core, namespace) == 1

        # The ConfigMap deleted: made again, stable on 1.
        core.delete_namespaced_config_map("vgg16-models-config", namespace)
        wait_until(lambda: stable_in_config(core, namespace), "the ConfigMap made again")
        assert stable_in_config(core, namespace) == 1

        # Every pod unready, then a spec change (the checks made so far no longer count).
        for pod in serving_pods(core, namespace, "vgg16"):
            core.patch_namespaced_pod_status(pod.metadata.name, namespace, {"status": {
                "conditions": [{"type": "Ready", "status": "False", "reason": "Test"}]}})  # fmt: skip
        patch_spec(custom, namespace, "vgg16", {"configPollSeconds": 2})

        def seen_spec() -> Any:
            tfm = read(custom, namespace, "vgg16")
            meta = tfm["metadata"]
            return tfm if tfm["status"].get("observedGeneration") == meta["generation"] else None

        wait_until(seen_spec, "the new spec reconciled")
        assert stable_in_config(core, namespace) == 1
        # The ConfigMap deleted while no pod is ready: stable waits (no pod says where it is).
        core.delete_namespaced_config_map("vgg16-models-config", namespace)

        def made_again() -> bool:
            try:
                return bool(core.read_namespaced_config_map("vgg16-models-config", namespace))
            except client.ApiException:
                return False

        wait_until(made_again, "the ConfigMap made again")
        assert stable_in_config(core, namespace) in (None, 1)
    finally:
        watch.stopped.set()
        watch.join()
    assert watch.seen == {1}, f"stable was written as {sorted(watch.seen)}"
