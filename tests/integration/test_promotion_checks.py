"""tfserving.check_promotion against TF Serving stand-ins serving real SavedModels over HTTP: the
metadata it reads and the smoke requests it sends are TF Serving's REST protocol, and what it
concludes names the signature and tensor, or the pod and its trouble. No cluster is needed:
the "pods" are the two fields the check reads (name and IP)."""

from collections.abc import Iterator
from typing import Any

import pytest

from support.contract_models import Change, make_contract_model
from support.tfserving_standin import StandIn
from tfmodel_operator import vocabulary
from tfmodel_operator.controller import tfserving
from tfmodel_operator.controller.api import Promotion

# Versions of "vgg16": 1 and 2 keep VGG16's contract; each later one breaks it in one way.
VERSIONS = {1: Change.NONE, 2: Change.NONE, 3: Change.INPUT_RENAMED,
            4: Change.IMAGE_BYTES_DROPPED, 5: Change.OUTPUT_DTYPE, 6: Change.NAN}  # fmt: skip
IPS = ("127.66.0.1", "127.66.0.2")  # outside the test cluster's pod range (127.10.0.0/16)
GATE = Promotion()


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Two ready "pods", each with a stand-in serving every version of vgg16."""
    base = tmp_path_factory.mktemp("contract")
    for version, change in VERSIONS.items():
        make_contract_model(base / "vgg16" / str(version), version, change)
    config = base / "models.config"
    config.write_text(
        'model_config_list { config { name: "vgg16" base_path: "/models/vgg16" '
        'model_platform: "tensorflow" model_version_policy { all {} } } }\n'
    )
    servers = [
        StandIn(ip, vocabulary.REST_PORT, config, {"/models/vgg16": base / "vgg16"}).start()
        for ip in IPS
    ]
    try:
        yield [
            {
                "metadata": {"name": f"vgg16-{n}"},
                "status": {
                    "podIP": ip,
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
            for n, ip in enumerate(IPS)
        ]
    finally:
        for server in servers:
            server.stop()


def check(pods: list[dict[str, Any]], source: int | None, target: int, gate: Promotion = GATE) -> Any:  # fmt: skip
    return tfserving.check_promotion(pods, "vgg16", (source, target), gate)


def test_a_version_that_keeps_the_contract_passes(pods: list[dict[str, Any]]) -> None:
    assert check(pods, 1, 2).passed
    assert check(pods, None, 2).passed  # a new label: the smoke request only


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (3, "it breaks the contract of version 1: signature serving_default: input pixels is new "
            "(every input is required); signature serving_default: input image is gone "
            "(inputs now: pixels) (on vgg16-0, vgg16-1)"),
        (4, "it breaks the contract of version 1: signature image_bytes is gone "
            "(new signatures: serving_default) (on vgg16-0, vgg16-1)"),
        (5, "it breaks the contract of version 1: signature image_bytes: output predictions was "
            "DT_FLOAT [-1, 2], is DT_DOUBLE [-1, 2]; signature serving_default: output predictions "
            "was DT_FLOAT [-1, 2], is DT_DOUBLE [-1, 2] (on vgg16-0, vgg16-1)"),
        (6, "smoke request to signature image_bytes: output predictions holds values that are "
            "not finite numbers (NaN or Inf) (on vgg16-0, vgg16-1)"),
    ],
)  # fmt: skip
def test_a_version_that_breaks_it_is_refused_naming_signature_and_tensor(
    pods: list[dict[str, Any]], target: int, message: str
) -> None:
    verdict = check(pods, 1, target)
    assert (verdict.passed, verdict.message) == (False, message)


def test_with_signatures_unchecked_a_contract_break_that_answers_passes(
    pods: list[dict[str, Any]],
) -> None:
    assert check(pods, 1, 3, Promotion(check_signatures=False)).passed
    assert not check(pods, 1, 6, Promotion(check_signatures=False)).passed  # NaN all the same
    assert check(pods, 1, 6, Promotion(smoke_request=False)).passed


def test_a_pod_that_does_not_answer_is_named(pods: list[dict[str, Any]]) -> None:
    gone = {"metadata": {"name": "vgg16-gone"}, "status": {**pods[0]["status"], "podIP": "127.66.0.9"}}  # fmt: skip
    verdict = check([*pods, gone], 1, 2)
    assert (verdict.passed, verdict.message) == (False, "cannot connect (on vgg16-gone)")


def test_a_version_that_is_not_loaded_is_refused(pods: list[dict[str, Any]]) -> None:
    verdict = check(pods, 1, 7)
    assert not verdict.passed
    assert "HTTP 404" in verdict.message
    assert "Servable not found for request: Specific(vgg16, 7)" in verdict.message
