"""promotion: the signature contract between two versions, and the smoke request and its answer."""

import base64
import math
from typing import Any

import pytest

from tfmodel_operator.controller.decision.promotion import (
    SMOKE_JPEG,
    Signature,
    Tensor,
    answer_problems,
    contract_breaks,
    signatures,
    smoke_request,
)

IMAGE = Tensor("DT_FLOAT", (-1, 224, 224, 3))
BYTES = Tensor("DT_STRING", (-1,))
SCORES = Tensor("DT_FLOAT", (-1, 1000))


def vgg16(**changes: Any) -> dict[str, Signature]:
    """VGG16 as the exporter writes it: serving_default on pixels, image_bytes on JPEG bytes."""
    sigs = {
        "serving_default": Signature({"image": IMAGE}, {"predictions": SCORES}),
        "image_bytes": Signature({"image_bytes": BYTES}, {"predictions": SCORES}),
    }
    for key, value in changes.items():
        if value is None:
            del sigs[key]
        else:
            sigs[key] = value
    return sigs


CONTRACT_CASES = [
    ("the same signatures", vgg16(), vgg16(), []),
    ("a signature added", vgg16(), vgg16(extra=Signature({"x": IMAGE}, {"y": SCORES})), []),
    ("an output added", vgg16(),
     vgg16(serving_default=Signature({"image": IMAGE}, {"predictions": SCORES, "logits": SCORES})), []),
    ("a fixed dimension becomes unknown", vgg16(),
     vgg16(serving_default=Signature({"image": Tensor("DT_FLOAT", (-1, -1, -1, 3))}, {"predictions": SCORES})), []),
    ("an unknown rank accepts anything", vgg16(),
     vgg16(serving_default=Signature({"image": Tensor("DT_FLOAT", None)}, {"predictions": SCORES})), []),
    ("image_bytes dropped", vgg16(), vgg16(image_bytes=None),
     ["signature image_bytes is gone (new signatures: serving_default)"]),
    ("the input renamed", vgg16(),
     vgg16(serving_default=Signature({"pixels": IMAGE}, {"predictions": SCORES})),
     ["signature serving_default: input pixels is new (every input is required)",
      "signature serving_default: input image is gone (inputs now: pixels)"]),
    ("the output dtype changed", vgg16(),
     vgg16(serving_default=Signature({"image": IMAGE}, {"predictions": Tensor("DT_HALF", (-1, 1000))})),
     ["signature serving_default: output predictions was DT_FLOAT [-1, 1000], is DT_HALF [-1, 1000]"]),
    ("the output renamed", vgg16(),
     vgg16(image_bytes=Signature({"image_bytes": BYTES}, {"probabilities": SCORES})),
     ["signature image_bytes: output predictions is gone (outputs now: probabilities)"]),
    ("an unknown dimension becomes fixed", vgg16(),
     vgg16(serving_default=Signature({"image": Tensor("DT_FLOAT", (8, 224, 224, 3))}, {"predictions": SCORES})),
     ["signature serving_default: input image was DT_FLOAT [-1, 224, 224, 3], is DT_FLOAT [8, 224, 224, 3]"]),
    ("a fixed dimension changes", vgg16(),
     vgg16(serving_default=Signature({"image": Tensor("DT_FLOAT", (-1, 299, 299, 3))}, {"predictions": SCORES})),
     ["signature serving_default: input image was DT_FLOAT [-1, 224, 224, 3], is DT_FLOAT [-1, 299, 299, 3]"]),
    ("the rank changes", vgg16(),
     vgg16(image_bytes=Signature({"image_bytes": Tensor("DT_STRING", ())}, {"predictions": SCORES})),
     ["signature image_bytes: input image_bytes was DT_STRING [-1], is DT_STRING []"]),
    ("an unknown rank becomes known", vgg16(serving_default=Signature({"image": Tensor("DT_FLOAT", None)}, {"predictions": SCORES})),
     vgg16(), ["signature serving_default: input image was DT_FLOAT unknown rank, is DT_FLOAT [-1, 224, 224, 3]"]),
    ("nothing served before: nothing to break", {}, vgg16(), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "old", "new", "expected"), CONTRACT_CASES, ids=[c[0] for c in CONTRACT_CASES]
)
def test_contract(case: str, old: dict[str, Signature], new: dict[str, Signature], expected: list[str]) -> None:  # fmt: skip
    assert contract_breaks(old, new) == expected


def metadata(signature_def: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/models/m/versions/1/metadata as TF Serving answers it."""
    return {
        "model_spec": {"name": "m", "signature_name": "", "version": "1"},
        "metadata": {"signature_def": {"signature_def": signature_def}},
    }


def tensor_info(dtype: str, *dims: int, unknown_rank: bool = False) -> dict[str, Any]:
    shape = {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": unknown_rank}
    return {"dtype": dtype, "tensor_shape": shape, "name": "serving_default_x:0"}


def test_signatures_read_from_tf_serving_metadata() -> None:
    answer = metadata(
        {
            "serving_default": {
                "inputs": {"x": tensor_info("DT_FLOAT", -1, 2)},
                "outputs": {"y": tensor_info("DT_FLOAT", unknown_rank=True)},
                "method_name": "tensorflow/serving/predict",
                "defaults": {},
            },
            "__saved_model_init_op": {
                "inputs": {},
                "outputs": {"__saved_model_init_op": tensor_info("DT_INVALID", unknown_rank=True)},
                "method_name": "",
                "defaults": {},
            },
        }
    )
    assert signatures(answer) == {
        "serving_default": Signature({"x": Tensor("DT_FLOAT", (-1, 2))}, {"y": Tensor("DT_FLOAT", None)})
    }  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"metadata": []},
        metadata([]),
        metadata({"s": {"method_name": "tensorflow/serving/predict", "inputs": 3}}),
    ],
)
def test_metadata_not_shaped_like_tf_serving_is_an_error(answer: Any) -> None:
    with pytest.raises(ValueError, match="metadata not as TF Serving sends it"):
        signatures(answer)


def test_smoke_request_is_zeros_of_the_declared_shape_with_batch_one() -> None:
    signature = Signature(
        {"image": Tensor("DT_FLOAT", (-1, 2, 3)), "k": Tensor("DT_INT64", ()), "on": Tensor("DT_BOOL", (2,))},
        {"y": SCORES},
    )  # fmt: skip
    assert smoke_request("serving_default", signature) == {
        "signature_name": "serving_default",
        "inputs": {"image": [[[0.0] * 3] * 2], "k": 0, "on": [False, False]},
    }


def test_a_string_input_gets_a_small_valid_jpeg() -> None:
    request = smoke_request("image_bytes", vgg16()["image_bytes"])
    sent = base64.b64decode(request["inputs"]["image_bytes"][0]["b64"])
    assert sent == SMOKE_JPEG
    assert sent.startswith(b"\xff\xd8\xff")  # a JPEG's start marker
    assert sent.endswith(b"\xff\xd9")  # and its end


@pytest.mark.parametrize(
    ("tensor", "words"),
    [(Tensor("DT_FLOAT", (-1, 100000, 100000)), "too large"), (Tensor("DT_COMPLEX64", (1,)), "cannot carry")],
)  # fmt: skip
def test_inputs_no_smoke_request_can_carry_are_named(tensor: Tensor, words: str) -> None:
    with pytest.raises(ValueError, match=f"input big .*{words}"):
        smoke_request("s", Signature({"big": tensor}, {"y": SCORES}))


ONE = Signature({"x": IMAGE}, {"y": Tensor("DT_FLOAT", (-1, 2))})
TWO = Signature(
    {"x": IMAGE}, {"y": Tensor("DT_FLOAT", (-1, 2)), "label": Tensor("DT_STRING", (-1,))}
)
ANSWER_CASES = [
    ("a lone output comes bare", ONE, {"outputs": [[0.5, 1.5]]}, []),
    ("several outputs come by name", TWO, {"outputs": {"y": [[0.5, 1.5]], "label": ["cat"]}}, []),
    ("NaN", ONE, {"outputs": [[math.nan, 1.0]]}, ["output y holds values that are not finite numbers (NaN or Inf)"]),
    ("Infinity", ONE, {"outputs": [[1.0, -math.inf]]}, ["output y holds values that are not finite numbers (NaN or Inf)"]),
    ("a string where a number belongs", ONE, {"outputs": [["a", "b"]]}, ["output y holds values that are not finite numbers (NaN or Inf)"]),
    ("the wrong shape", ONE, {"outputs": [[1.0, 2.0, 3.0]]}, ["output y has shape [1, 3], declared DT_FLOAT [-1, 2]"]),
    ("a batch of two for one instance", ONE, {"outputs": [[1.0, 2.0], [1.0, 2.0]]}, ["output y has shape [2, 2], declared DT_FLOAT [-1, 2]"]),
    ("ragged", ONE, {"outputs": [[1.0], [1.0, 2.0]]}, ["output y is not a rectangular array"]),
    ("an output missing", TWO, {"outputs": {"y": [[0.5, 1.5]]}}, ["output label is missing"]),
    ("no outputs", ONE, {"predictions": [[1.0, 2.0]]}, ["the answer has no outputs"]),
    ("not an object", ONE, [1, 2], ["the answer has no outputs"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "signature", "answer", "expected"), ANSWER_CASES, ids=[c[0] for c in ANSWER_CASES]
)
def test_smoke_answer(case: str, signature: Signature, answer: Any, expected: list[str]) -> None:  # fmt: skip
    assert answer_problems(signature, answer) == expected
