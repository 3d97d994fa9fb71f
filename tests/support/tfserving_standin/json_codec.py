"""JSON <-> tensors, as TF Serving's util/json_tensor.cc converts them.

`parse_json` checks a request body (rapidjson's parse, then "is it an object?");
`tensors_from_instances` and `tensors_from_inputs` turn the row ("instances") and columnar
("inputs") formats into tensors of the signature's dtypes, accepting exactly the JSON types TF
Serving accepts and failing with its error texts; `row_format_json` and `columnar_format_json`
write a signature's outputs back ("predictions" / "outputs"), floats as WriteDecimal rounds them.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from .errors import ServingError, first_line
from .rapidjson import JsonError, debug_string, read_json


def parse_json(body: bytes) -> dict[str, Any]:
    """json_tensor.cc ParseJson: TF Serving's own empty check, then rapidjson, then "object?".

    rapidjson 1.1.0 (tensorflow_serving/workspace.bzl) parses with kParseIterativeFlag |
    kParseNanAndInfFlag | kParseStopWhenDoneFlag (util/json_tensor.cc:483-486 at 2.20.0; the
    flags came with serving commit 6cb01316, first in 2.18): no nesting limit, NaN/Inf/Infinity
    accepted, and parsing stops at the end of the first value (rapidjson reader.h:1842), so
    text after the body is ignored -- before 2.18 it was "The document root must not be
    followed by other values.". Errors read "JSON Parse error: <GetParseError_En> at offset: N".
    """
    if not body:
        raise ServingError("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
    try:
        doc = read_json(body)
    except JsonError as err:
        raise ServingError(
            "INVALID_ARGUMENT", f"JSON Parse error: {err.text} at offset: {err.offset}"
        ) from None
    if not isinstance(doc, dict):
        raise ServingError("INVALID_ARGUMENT", f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    return "String" if isinstance(value, str) else "Number"


def _type_name(dtype: tf.DType) -> str:
    """DataTypeString: "float", "double", "int64", "string", ..."""
    name = str(dtype.name)
    return {"float32": "float", "float64": "double", "float16": "half"}.get(name, name)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value: Any) -> bool:
    """An object of named inputs, as opposed to a value or a {"b64": ...} string."""
    return isinstance(value, dict) and not _is_b64(value)


def _type_error(value: Any, dtype: tf.DType) -> ServingError:
    return ServingError(
        "INVALID_ARGUMENT",
        f"JSON Value: {debug_string(value)} Type: {_json_type(value)} is not of expected type: "
        f"{_type_name(dtype)}",
    )


def _b64_decode(value: Any) -> bytes:
    if not _is_b64(value):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data",
        )
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ServingError("INVALID_ARGUMENT", "Unable to base64 decode") from err


def _leaf(value: Any, dtype: tf.DType) -> Any:
    """AddValueToTensor: the JSON types each dtype accepts, and nothing looser."""
    if isinstance(value, dict):
        if dtype == tf.string:
            return _b64_decode(value)
        raise _type_error(value, dtype)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if dtype in (tf.float32, tf.float64):
        # util/json_tensor.cc:293-301 (AddValueToTensor): `if (!val.IsNumber()) return
        # TypeError(...)`, then add_float_val(val.GetFloat()) / add_double_val(val.GetDouble()).
        # GetDouble() converts any integer (int64/uint64; larger ones are doubles already) and
        # GetFloat() is static_cast<float>(GetDouble()): 16777217 becomes 16777216, and a
        # double beyond float range becomes +/-inf (json_tensor_test.cc
        # FloatTensorThatExceedsMaxReturnsInf); _tensor does that cast. The "without loss of
        # precision" check this used to copy was removed in 2021 (serving commit 57dac6cd,
        # json_tensor_test.cc FloatTensorWithPrecisionLoss).
        if not (is_int or isinstance(value, float)):
            raise _type_error(value, dtype)
        return float(value)
    ranges = {
        tf.int8: (-(2**31), 2**31 - 1),
        tf.int16: (-(2**31), 2**31 - 1),
        tf.int32: (-(2**31), 2**31 - 1),
        tf.uint8: (-(2**31), 2**31 - 1),
        tf.int64: (-(2**63), 2**63 - 1),
        tf.uint32: (0, 2**32 - 1),
        tf.uint64: (0, 2**64 - 1),
    }
    if dtype in ranges:
        low, high = ranges[dtype]
        if not is_int or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == tf.string:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8", "surrogateescape")  # the bytes rapidjson read
    if dtype == tf.bool:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise ServingError(
        "UNIMPLEMENTED",
        f"Conversion of JSON Value: {debug_string(value)} to type: {_type_name(dtype)}",
    )


def _dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: the shape read off the first element at each level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: tf.DType, out: list[Any]) -> None:
    """FillTensorProto: every list at a level has that level's size; leaves at the bottom."""
    if not isinstance(value, list):
        if level != len(shape):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} "
                f"in the JSON DOM. Expected at level: {len(shape)}",
            )
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Encountered list at unexpected level: {level} expected < {len(shape)}",
        )
    if len(value) != shape[level]:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}",
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _values(value: Any, dtype: tf.DType) -> tuple[list[int], list[Any]]:
    shape = _dense_shape(value)
    flat: list[Any] = []
    _fill(value, 0, shape, dtype, flat)
    return shape, flat


def _tensor(flat: list[Any], shape: list[int], dtype: tf.DType) -> tf.Tensor:
    numpy_type = object if dtype == tf.string else dtype.as_numpy_dtype
    try:
        with np.errstate(over="ignore"):  # double -> float beyond range is +/-inf, as in C++
            array = np.array(flat, dtype=numpy_type).reshape(shape)
        return tf.constant(array, dtype=dtype)
    except (OverflowError, ValueError, TypeError) as err:
        raise ServingError("INVALID_ARGUMENT", first_line(str(err))) from err


def tensors_from_instances(
    instances: list[Any], infos: dict[str, tf.DType]
) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInstancesList: rows (or row objects) stacked into one batch."""
    if not isinstance(instances[0], dict) and len(infos) > 1:
        raise ServingError(
            "INVALID_ARGUMENT",
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map",
        )
    objects = _is_named(instances[0])
    shapes: dict[str, list[int]] = {}
    flats: dict[str, list[Any]] = {}

    def add(item: Any, name: str) -> None:
        if name not in infos:
            raise ServingError(
                "INVALID_ARGUMENT", f"JSON object: does not have named input: {name}"
            )
        shape, flat = _values(item, infos[name])
        if name not in shapes:
            shapes[name], flats[name] = shape, flat
            return
        if math.prod(shapes[name]) != math.prod(shape):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expecting tensor size: {math.prod(shapes[name])} but got: {math.prod(shape)}",
            )
        if shapes[name] != shape:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                f"[{','.join(map(str, shape))}]",
            )
        flats[name].extend(flat)

    for index, element in enumerate(instances):
        if objects:
            if not _is_named(element):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expecting object but got list at item {index} of input list",
                )
            for key, item in element.items():
                try:
                    add(item, key)
                except ServingError as err:
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {err}",
                    ) from err
            if set(element) != set(infos):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(element)} keys must be equal to: {','.join(sorted(infos))}",
                )
        else:
            if _is_named(element):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expecting value/list but got object at item {index} of input list",
                )
            try:
                add(element, next(iter(infos)))
            except ServingError as err:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Failed to process element: {index} of 'instances' list. Error: {err}",
                ) from err
    return {
        name: _tensor(flats[name], [len(instances), *shapes[name]], infos[name]) for name in shapes
    }


def tensors_from_inputs(inputs: Any, infos: dict[str, tf.DType]) -> dict[str, tf.Tensor]:
    """FillTensorMapFromInputsMap: one value for a single input, else an object by name."""
    if not _is_named(inputs):
        if len(infos) > 1:
            raise ServingError(
                "INVALID_ARGUMENT",
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map",
            )
        name, dtype = next(iter(infos.items()))
        shape, flat = _values(inputs, dtype)
        return {name: _tensor(flat, shape, dtype)}
    tensors = {}
    for name, dtype in infos.items():
        if name not in inputs:
            raise ServingError(
                "INVALID_ARGUMENT", f"Missing named input: {name} in 'inputs' object."
            )
        shape, flat = _values(inputs[name], dtype)
        tensors[name] = _tensor(flat, shape, dtype)
    return tensors


def _decimal(value: float, single: bool) -> float:
    """WriteDecimal: shortest of %.6g or full precision that reads back as the same value."""
    if not math.isfinite(value):
        return value
    text = f"{value:.6g}"
    same = np.float32(text) == np.float32(value) if single else float(text) == value
    if not same:
        text = f"{value:.9g}" if single else f"{value:.17g}"
    return float(text)


def _json_tensor(array: Any, dtype: tf.DType, name: str) -> Any:
    """AddTensorValues: nested lists; strings as text, or {"b64"} for "*_bytes" outputs."""
    convert: Callable[[Any], Any]
    if dtype in (tf.float32, tf.float16):

        def convert(x: Any) -> Any:
            return _decimal(float(x), single=True)
    elif dtype == tf.float64:

        def convert(x: Any) -> Any:
            return _decimal(float(x), single=False)
    elif dtype == tf.string and name.endswith("_bytes"):

        def convert(x: Any) -> Any:
            return {"b64": base64.b64encode(x).decode()}
    elif dtype == tf.string:

        def convert(x: Any) -> Any:
            return x.decode("utf-8", "replace")
    elif dtype.is_integer or dtype == tf.bool:

        def convert(x: Any) -> Any:
            return x
    else:
        raise ServingError(
            "INVALID_ARGUMENT", f"Failed to write JSON value for tensor type: {_type_name(dtype)}"
        )

    def walk(value: Any) -> Any:
        return [walk(v) for v in value] if isinstance(value, list) else convert(value)

    # A row of a string tensor is a bare `bytes`; np.asarray would strip its trailing NULs.
    return walk(array.tolist() if isinstance(array, np.ndarray | np.generic) else array)


def row_format_json(outputs: Mapping[str, tf.Tensor]) -> dict[str, Any]:
    """MakeRowFormatJsonFromTensors: one entry per batch row; objects if several outputs."""
    batch = -1
    arrays = {}
    for name, tensor in outputs.items():
        array = tensor.numpy()
        if array.ndim == 0:
            raise ServingError("INVALID_ARGUMENT", f"Tensor name: {name} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}",
            )
        batch = array.shape[0]
        arrays[name] = (array, tensor.dtype)
    rows: list[Any] = []
    for row in range(batch):
        values = {n: _json_tensor(a[row], d, n) for n, (a, d) in arrays.items()}
        rows.append(values if len(values) > 1 else next(iter(values.values())))
    return {"predictions": rows}


def columnar_format_json(outputs: Mapping[str, tf.Tensor]) -> dict[str, Any]:
    """MakeColumnarFormatJsonFromTensors: the bare value if one output, else an object."""
    values = {n: _json_tensor(t.numpy(), t.dtype, n) for n, t in outputs.items()}
    return {"outputs": values if len(values) > 1 else next(iter(values.values()))}
