"""What GitOps tools conclude from the statuses the operator writes, on the local control plane:
kstatus itself (sigs.k8s.io/cli-utils, as Flux and kpt run it) and Argo CD's health script
(manifests/argocd/health.lua, run by Lua 5.1 as Argo CD's gopher-lua does).

One TFModel is driven through each case: serving, a label move in progress, a version that
fails to load, a blocked promotion, an invalid spec, an export that fails, an export refused, a rollout past its
progress deadline, and scaled to zero.
"""

import threading
from pathlib import Path
from typing import Any

from kubernetes import client

from support.contract_models import make_contract_model
from support.export_pods import fail_export_pods
from support.gitops import argocd_health, kstatus
from support.polling import wait_until
from support.tfmodel_api import condition, patch_spec, read, serve_ready, wait_for_condition
from support.tfmodels import vgg16
from support.tfserving_standin import make_broken_version


def judged(custom: client.CustomObjectsApi, namespace: str) -> tuple[str, str, dict[str, Any]]:
    tfm = read(custom, namespace, "vgg16")
    return kstatus(tfm), argocd_health(tfm), tfm


def wait_judged(custom: client.CustomObjectsApi, namespace: str, expected: tuple[str, str],
                what: str, timeout: float = 60) -> dict[str, Any]:  # fmt: skip
    def check() -> dict[str, Any] | None:
        flux, argo, tfm = judged(custom, namespace)
        current = tfm.get("status", {}).get("observedGeneration") == tfm["metadata"]["generation"]
        return tfm if current and (flux, argo) == expected else None

    return wait_until(check, f"{what}: kstatus/Argo CD {expected}", timeout)


def test_kstatus_and_argocd_see_each_case_as_a_pipeline_should(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, apps: client.AppsV1Api,
    models_namespace: tuple[str, Path], serve: Any,
) -> None:  # fmt: skip
    namespace, models = models_namespace
    make_broken_version(models / "vgg16" / "4")
    serve_ready(custom, namespace, serve, vgg16(), load_delay={3: 6.0})
    healthy = ("Current", "Healthy")
    assert judged(custom, namespace)[:2] == healthy

    # A label move onto a version that takes 6 s to load: in progress, and still Ready.
    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [1, 3]}},
                                            "versionLabels": {"stable": 3}})  # fmt: skip
    wait_for_condition(custom, namespace, "vgg16", "Reconciling", "True", "LabelMovePending")
    flux, argo, tfm = judged(custom, namespace)
    assert (flux, argo) == ("InProgress", "Progressing")
    assert condition(tfm, "Ready")["status"] == "True", tfm["status"]["conditions"]
    wait_judged(custom, namespace, healthy, "the move done")

    # A version that fails to load: failed, fast.
    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [3, 4]}},
                                            "versionLabels": {"stable": 3, "canary": 4}})  # fmt: skip
    tfm = wait_judged(custom, namespace, ("Failed", "Degraded"), "a failed load")
    assert condition(tfm, "Stalled")["reason"] == "VersionLoadFailed"
    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [3]}},
                                            "versionLabels": {"stable": 3, "canary": None}})  # fmt: skip
    wait_judged(custom, namespace, healthy, "the failed version dropped")

    # A promotion onto a version that would break the label's clients: failed until the spec
    # changes (version 7 has VGG16's signatures, version 3 the test model's x -> y).
    make_contract_model(models / "vgg16" / "7", 7)
    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [3, 7]}},
                                            "versionLabels": {"stable": 7}})  # fmt: skip
    tfm = wait_judged(custom, namespace, ("Failed", "Degraded"), "a blocked promotion")
    assert condition(tfm, "Stalled")["reason"] == "PromotionBlocked"
    assert tfm["status"]["labels"] == {"stable": 3}
    patch_spec(custom, namespace, "vgg16", {"versionPolicy": {"specific": {"versions": [3]}},
                                            "versionLabels": {"stable": 3}})  # fmt: skip
    wait_judged(custom, namespace, healthy, "the promotion withdrawn")

    # An invalid spec the schema cannot judge (a CPU limit beyond what Kubernetes can hold).
    patch_spec(custom, namespace, "vgg16", {"resources": {"limits": {"cpu": "1e400"}}})
    tfm = wait_judged(custom, namespace, ("Failed", "Degraded"), "an invalid spec")
    assert condition(tfm, "Stalled")["reason"] == "InvalidSpec"
    assert "spec.resources.limits.cpu" in condition(tfm, "Stalled")["message"]
    patch_spec(custom, namespace, "vgg16", {"resources": None})
    wait_judged(custom, namespace, healthy, "the spec fixed")

    # An export that fails.
    stop = threading.Event()
    killer = threading.Thread(
        target=fail_export_pods, args=(core, namespace, "no weights", stop), daemon=True
    )
    killer.start()
    try:
        patch_spec(custom, namespace, "vgg16", {"exports": [{"version": 5, "weights": "none"}]})
        tfm = wait_judged(custom, namespace, ("Failed", "Degraded"), "a failed export", timeout=90)
        assert condition(tfm, "Stalled")["reason"] == "ExportFailed"
    finally:
        stop.set()
        killer.join()
    patch_spec(custom, namespace, "vgg16", {"exports": None})
    wait_judged(custom, namespace, healthy, "the export removed")

    # An export refused: version 6 was published (kwok completes the Job), then its inputs change.
    patch_spec(custom, namespace, "vgg16", {"exports": [{"version": 6, "weights": "none"}]})
    wait_for_condition(
        custom, namespace, "vgg16", "Exported", "True", "ExportsSucceeded", timeout=60
    )
    patch_spec(custom, namespace, "vgg16", {"exports": [{"version": 6, "weights": "imagenet"}]})
    tfm = wait_judged(custom, namespace, ("Failed", "Degraded"), "a refused export")
    assert condition(tfm, "Stalled")["reason"] == "ExportRefused"
    patch_spec(custom, namespace, "vgg16", {"exports": None})
    wait_judged(custom, namespace, healthy, "the refused export removed")

    # A rollout that cannot finish, past its progress deadline (shortened by hand here: the
    # operator leaves progressDeadlineSeconds to its default of 600 s).
    apps.patch_namespaced_deployment("vgg16", namespace, {"spec": {"progressDeadlineSeconds": 1}})
    patch_spec(custom, namespace, "vgg16", {"nodeSelector": {"disk": "none-has-it"}})
    tfm = wait_judged(
        custom, namespace, ("Failed", "Degraded"), "a rollout past its deadline", timeout=90
    )
    assert condition(tfm, "Stalled")["reason"] == "ProgressDeadlineExceeded"
    patch_spec(custom, namespace, "vgg16", {"nodeSelector": None})

    # Scaled to zero: healthy, settled, nothing to poll.
    patch_spec(custom, namespace, "vgg16", {"replicas": 0})
    tfm = wait_judged(custom, namespace, healthy, "scaled to zero", timeout=90)
    assert (condition(tfm, "Ready")["status"], condition(tfm, "Ready")["reason"]) == (
        "True",
        "ScaledToZero",
    )
    assert condition(tfm, "Reconciling")["status"] == "False"
    wait_for_condition(custom, namespace, "vgg16", "ConfigApplied", "True", "ScaledToZero")
