"""Safe promotion on the local control plane: a label moves only to a version that keeps the
old one's signatures and answers a smoke request on every ready pod, while clients of the label
see no error and no NaN. TF Serving is the stand-in, serving real SavedModels with VGG16's
signatures (support.contract_models)."""

import shutil
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from support.contract_models import Change, make_contract_model
from support.label_watch import watch_label
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

VERSIONS = {1: Change.NONE, 2: Change.NONE, 3: Change.INPUT_RENAMED,
            4: Change.IMAGE_BYTES_DROPPED, 5: Change.OUTPUT_DTYPE, 6: Change.NAN}  # fmt: skip


def contract_versions(models: Path, versions: dict[int, Change]) -> None:
    """Replace the namespace's vgg16 versions with these."""
    shutil.rmtree(models / "vgg16")
    for version, change in versions.items():
        make_contract_model(models / "vgg16" / str(version), version, change)


def serving(versions: list[int]) -> dict[str, Any]:
    return vgg16(versionPolicy={"specific": {"versions": versions}})


def blocked_message(custom: client.CustomObjectsApi, namespace: str, stays_on: int) -> str:
    """Wait for the TFModel to be stalled on a blocked promotion; say why it is."""
    tfm = wait_for_condition(custom, namespace, "vgg16", "Stalled", "True", "PromotionBlocked")
    assert tfm["status"]["labels"] == {"stable": stays_on}, tfm["status"]
    assert condition(tfm, "Ready")["reason"] == "PromotionBlocked"
    assert condition(tfm, "ConfigApplied")["reason"] == "PromotionBlocked"
    message = str(condition(tfm, "ConfigApplied")["message"])
    assert message.startswith(f"label stable stays on version {stays_on}: version "), message
    return message


def test_a_label_moves_only_to_a_version_that_keeps_the_contract(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, models = models_namespace
    contract_versions(models, VERSIONS)
    serve_ready(custom, namespace, serve, serving(sorted(VERSIONS)))
    before = pod_ids(core, namespace)
    watch = watch_label(core, namespace, "vgg16", "stable")

    changed = time.monotonic()
    patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})
    tfm = wait_settled(custom, namespace, "vgg16")
    assert tfm["status"]["labels"] == {"stable": 2}
    promoted = watch.first_time_all_resolve(2, after=changed) - changed

    breaks = {
        3: "signature serving_default: input image is gone (inputs now: pixels)",
        4: "signature image_bytes is gone (new signatures: serving_default)",
        5: "signature serving_default: output predictions was DT_FLOAT [-1, 2], is DT_DOUBLE",
        6: "smoke request to signature image_bytes: output predictions holds values that are not "
        "finite numbers (NaN or Inf)",
    }
    for version, words in breaks.items():
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": version}})
        message = blocked_message(custom, namespace, stays_on=2)
        assert words in message, message
        for pod in serving_pods(core, namespace, "vgg16"):
            assert pod.metadata.name in message, message
    events = core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=vgg16,reason=PromotionBlocked"
    ).items
    # One Warning per condition that turned (Ready, Degraded, Stalled), not one per refusal.
    assert sorted((e.type, e.message.split(":")[0]) for e in events) == [
        ("Warning", "Degraded is True"), ("Warning", "Ready is False"), ("Warning", "Stalled is True"),
    ]  # fmt: skip
    # Refused versions are loaded and served by number all the same.
    assert {v["version"]: v["state"] for v in tfm_versions(custom, namespace)} == {
        v: "AVAILABLE" for v in VERSIONS
    }

    # A deliberate breaking change: the switch lets the renamed input through.
    patch_spec(
        custom,
        namespace,
        "vgg16",
        {"versionLabels": {"stable": 3}, "promotion": {"checkSignatures": False}},
    )
    tfm = wait_settled(custom, namespace, "vgg16")
    watch.stop()
    assert tfm["status"]["labels"] == {"stable": 3}
    assert pod_ids(core, namespace) == before  # no pod restarted
    assert len(watch.samples) > 50, "the watch saw too little"
    assert watch.failures() == [], f"a client of stable saw: {watch.failures()[:5]}"
    assert {v for *_, v in watch.samples} == {1, 2, 3}
    print(f"\npromotion 1->2 with both checks on 2 pods: served {promoted:.2f} s after the spec change")  # fmt: skip


def tfm_versions(custom: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    return list(read(custom, namespace, "vgg16")["status"]["versions"])


def test_a_pod_that_times_out_on_the_smoke_request_holds_the_move(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
) -> None:
    namespace, models = models_namespace
    contract_versions(models, {1: Change.NONE, 2: Change.NONE})
    pods = serve_ready(custom, namespace, serve, serving([1, 2]))
    slow = sorted(pods.servers)[0]
    pods.servers[slow].predict_delays[2] = 30.0  # version 2 answers predicts after 30 s there
    watch = watch_label(core, namespace, "vgg16", "stable")

    patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})
    message = blocked_message(custom, namespace, stays_on=1)
    assert message.endswith(
        f"no answer within 10s (on {slow}) (a new spec, or spec.promotion, lets it proceed)"
    ), message

    # The pod recovers; a new spec (here: the same checks, spelled out) checks again.
    pods.servers[slow].predict_delays.clear()
    patch_spec(custom, namespace, "vgg16", {"promotion": {"labels": ["stable"]}})
    tfm = wait_settled(custom, namespace, "vgg16")
    watch.stop()
    assert tfm["status"]["labels"] == {"stable": 2}
    assert watch.failures() == [], f"a client of stable saw: {watch.failures()[:5]}"
    assert {v for *_, v in watch.samples} == {1, 2}
