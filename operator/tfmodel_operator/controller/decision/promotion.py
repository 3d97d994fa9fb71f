"""Pure: may a label move from version A to version B without breaking A's clients?

Two checks, both from what TF Serving itself says (the tenant's image, so untrusted input):

* the contract: B serves every predict signature A serves, with the same input and output
  names and dtypes, and shapes that accept what A accepted (a fixed dimension may become
  unknown, not the reverse; an unknown rank accepts anything). Added signatures and outputs
  are fine; an added input is not (TF Serving requires every input of a signature).
* a smoke request: one predict per signature of B, built from the signature (zeros of the
  declared shape, batch 1; a small JPEG for a string input), must answer finite numbers of the
  declared shape.

TF Serving replays a version's own warmup records (assets.extra/tf_serving_warmup_requests)
while it loads it, and a failing record fails the load: a version with warmup records that do
not run never becomes AVAILABLE, so it never gets here.
"""

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREDICT_METHOD = "tensorflow/serving/predict"
MAX_SMOKE_VALUES = 1 << 20  # elements in one smoke input; a declared shape beyond this is refused
# What a string input is sent: an 8x8 grey JPEG (tf.io.encode_jpeg, quality 50).
SMOKE_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEBLAEsAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX"
    "RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA"
    "AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
    "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT"
    "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA"
    "HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh"
    "cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp"
    "anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk"
    "5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwAooooA/9k="
)
FLOATS = ("DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16")
INTEGERS = ("DT_INT8", "DT_INT16", "DT_INT32", "DT_INT64", "DT_UINT8", "DT_UINT16", "DT_UINT32",
            "DT_UINT64")  # fmt: skip


@dataclass(frozen=True)
class Tensor:
    dtype: str  # TF's enum name, e.g. DT_FLOAT
    shape: tuple[int, ...] | None  # -1 for an unknown dimension; None for an unknown rank

    def __str__(self) -> str:
        shape = "unknown rank" if self.shape is None else f"[{', '.join(map(str, self.shape))}]"
        return f"{self.dtype} {shape}"


@dataclass(frozen=True)
class Signature:
    inputs: Mapping[str, Tensor]  # by the alias clients use in requests
    outputs: Mapping[str, Tensor]


Signatures = Mapping[str, Signature]


Move = tuple[int | None, int]  # a label's (current version or None for a new label, target)


@dataclass(frozen=True)
class Check:
    """The verdict on moving labels from `source` (None for a new label) to `target`."""

    source: int | None
    target: int
    passed: bool
    message: str = ""  # what broke: signature and tensor, or the pod and its error


def signatures(answer: Any) -> dict[str, Signature]:
    """The predict signatures in TF Serving's answer to GET .../versions/<v>/metadata.

    Raises ValueError when the answer is not shaped like TF Serving's."""
    try:
        defs = answer["metadata"]["signature_def"]["signature_def"]
        if not isinstance(defs, dict):
            raise TypeError("signature_def is not an object")
        return {
            str(key): Signature(tensors(sig.get("inputs")), tensors(sig.get("outputs")))
            for key, sig in defs.items()
            if sig.get("method_name") == PREDICT_METHOD  # not __saved_model_init_op and such
        }
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"metadata not as TF Serving sends it: {type(err).__name__}: {err}"
        ) from err


def tensors(raw: Any) -> dict[str, Tensor]:
    if raw is None:
        return {}
    result = {}
    for alias, info in raw.items():
        shape = info.get("tensor_shape") or {}
        dims = None
        if not shape.get("unknown_rank", False):
            dims = tuple(int(dim.get("size", -1)) for dim in shape.get("dim") or [])
        result[str(alias)] = Tensor(str(info.get("dtype", "DT_INVALID")), dims)
    return result


def contract_breaks(old: Signatures, new: Signatures) -> list[str]:
    """What clients of `old` would lose with `new`, one line per broken tensor or signature."""
    breaks = []
    for key, was in sorted(old.items()):
        now = new.get(key)
        if now is None:
            breaks.append(f"signature {key} is gone (new signatures: {', '.join(sorted(new))})")
            continue
        for alias in sorted(set(now.inputs) - set(was.inputs)):
            breaks.append(f"signature {key}: input {alias} is new (every input is required)")
        for kind, before, after in (("input", was.inputs, now.inputs),
                                    ("output", was.outputs, now.outputs)):  # fmt: skip
            for alias, tensor in sorted(before.items()):
                if alias not in after:
                    names = ", ".join(sorted(after)) or "none"
                    breaks.append(f"signature {key}: {kind} {alias} is gone ({kind}s now: {names})")
                elif not accepts(tensor, after[alias]):
                    breaks.append(
                        f"signature {key}: {kind} {alias} was {tensor}, is {after[alias]}"
                    )
    return breaks


def accepts(old: Tensor, new: Tensor) -> bool:
    """Does `new` take (or give) whatever `old` did?"""
    if old.dtype != new.dtype:
        return False
    if new.shape is None:
        return True
    if old.shape is None or len(old.shape) != len(new.shape):
        return False
    return all(n == -1 or n == o for o, n in zip(old.shape, new.shape, strict=True))


def smoke_request(key: str, signature: Signature) -> dict[str, Any]:
    """A columnar predict request for `signature`: one zero instance of each input.

    Raises ValueError for an input no request can be built for (say so; do not guess)."""
    inputs = {}
    for alias, tensor in sorted(signature.inputs.items()):
        declared = (1,) if tensor.shape is None else tensor.shape
        dims = [1 if d < 0 else d for d in declared]
        if math.prod(dims) > MAX_SMOKE_VALUES:
            raise ValueError(f"input {alias} ({tensor}) is too large for a smoke request")
        value = zero(tensor.dtype, alias)
        for size in reversed(dims):
            value = [value] * size
        inputs[alias] = value
    return {"signature_name": key, "inputs": inputs}


def zero(dtype: str, alias: str) -> Any:
    if dtype in FLOATS:
        return 0.0
    if dtype in INTEGERS:
        return 0
    if dtype == "DT_BOOL":
        return False
    if dtype == "DT_STRING":
        return {"b64": base64.b64encode(SMOKE_JPEG).decode()}
    raise ValueError(f"input {alias} has dtype {dtype}, which a JSON request cannot carry")


def answer_problems(signature: Signature, answer: Any) -> list[str]:
    """What is wrong with a columnar predict answer: missing outputs, a shape other than the
    declared one (batch 1 for an unknown dimension), numbers that are not finite."""
    if not isinstance(answer, dict) or "outputs" not in answer:
        return ["the answer has no outputs"]
    outputs = answer["outputs"]
    if len(signature.outputs) == 1:  # TF Serving sends a lone output bare, without its name
        outputs = {next(iter(signature.outputs)): outputs}
    if not isinstance(outputs, dict):
        return ["the answer's outputs are not an object"]
    problems = []
    for alias, tensor in sorted(signature.outputs.items()):
        if alias not in outputs:
            problems.append(f"output {alias} is missing")
            continue
        found = shape_of(outputs[alias])
        if found is None:
            problems.append(f"output {alias} is not a rectangular array")
        elif tensor.shape is not None and not fits(found, tensor.shape):
            problems.append(f"output {alias} has shape {list(found)}, declared {tensor}")
        elif tensor.dtype in FLOATS + INTEGERS and not all_finite(outputs[alias]):
            problems.append(f"output {alias} holds values that are not finite numbers (NaN or Inf)")
    return problems


def shape_of(value: Any) -> tuple[int, ...] | None:
    """The dimensions of a nested JSON list (None if ragged)."""
    if not isinstance(value, list):
        return ()
    shapes = {shape_of(item) for item in value}
    if len(shapes) > 1 or None in shapes:
        return None
    inner = shapes.pop() if shapes else ()
    return None if inner is None else (len(value), *inner)


def fits(found: tuple[int, ...], declared: tuple[int, ...]) -> bool:
    if len(found) != len(declared):
        return False
    # The first dimension of an unknown size is the batch: one instance was sent.
    return all(
        d == f or (d == -1 and (f == 1 or i > 0))
        for i, (f, d) in enumerate(zip(found, declared, strict=True))
    )


def all_finite(value: Any) -> bool:
    if isinstance(value, list):
        return all(all_finite(item) for item in value)
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
