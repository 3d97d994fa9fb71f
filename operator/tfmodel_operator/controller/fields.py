"""Pure: checks for one field of a TFModel spec, each raising InvalidSpec naming the field.

Strings that reach models.config or a pod spec are constrained so that they cannot break out
of their quotes (no quote, backslash or newline can match these patterns).
"""

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from tfmodel_operator.controller.api import Gpu, Resources, Toleration

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# TF Serving model names as used in practice (my_first_model, resnet-50, vgg16.v2): they only
# reach URLs, paths and models.config, never object names; no "..", no leading ".".
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# Absolute path whose segments never start with "." (so no "." or ".." traversal).
ABSOLUTE_PATH = re.compile(r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$")
RELATIVE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
LABEL_NAME = re.compile(r"^[a-zA-Z0-9_]+$")
IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")
QUANTITY = re.compile(
    r"^[+]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
)
HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^[0-9a-fA-F:]+$")
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
ENDPOINT = re.compile(r"^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$")
REGION = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class InvalidSpec(ValueError):
    """The resource cannot be served as written. `field` is the JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Kubernetes keeps quantities as int64 milli-units: anything larger cannot be scheduled.
MAX_QUANTITY = Fraction(2**63, 1000)
DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
# Go's parseQuantityString on a text that matches QUANTITY: leading zeros go, "" whole is "0".
QUANTITY_PARTS = re.compile(r"[+]?0*(?P<whole>[0-9]*)([.](?P<fraction>[0-9]*))?(?P<suffix>.*)")
NANO = 10**9


def _split(text: str) -> tuple[str, str, str, int]:
    """A QUANTITY's whole and fraction digits, its form (si, binary, exponent) and exponent."""
    parts = QUANTITY_PARTS.fullmatch(text)
    assert parts is not None, text  # every string matches
    whole, fraction, suffix = parts["whole"] or "0", parts["fraction"] or "", parts["suffix"]
    if suffix in BINARY_SI:
        return whole, fraction, "binary", BINARY_SI[suffix]
    if suffix in DECIMAL_SI:
        return whole, fraction, "si", DECIMAL_SI[suffix]
    # Past +-100 a quantity of 64 characters is out of range, or rounds up to 1n, either way:
    # clamping spares computing 10**(10**60).
    return whole, fraction, "exponent", max(-100, min(100, int(suffix[1:])))


def quantity(text: str) -> Fraction:
    """The exact amount Kubernetes keeps for a QUANTITY: rounded up to whole nano-units, a
    binary (Ki..Ei) one capped at 2^63-1 (apimachinery's ParseQuantity)."""
    whole, fraction, form, exponent = _split(text)
    amount = Fraction(int(whole + fraction), 10 ** len(fraction))
    amount *= Fraction(2) ** exponent if form == "binary" else Fraction(10) ** exponent
    amount = Fraction(math.ceil(amount * NANO), NANO)
    return min(amount, Fraction(2**63 - 1)) if form == "binary" else amount


def canonical_quantity(text: str) -> str:
    """A QUANTITY as the apiserver stores and returns it (resource.Quantity's String()), so
    that a rendered pod spec compares equal to the live one: "0.5" -> "500m", "1.5Gi" ->
    "1536Mi". Meant for quantities below MAX_QUANTITY (above 999E Go drops the suffix)."""
    if _kept_as_written(text):
        return text
    amount, form = quantity(text), _split(text)[2]
    if amount == 0:
        return "0"
    # Binary only for whole amounts of 1024 and more; anything else is shown in decimal.
    if form == "binary" and amount >= 1024 and amount.denominator == 1:
        mantissa, power = int(amount), 0
        while mantissa % 1024 == 0:
            mantissa, power = mantissa // 1024, power + 10
        return str(mantissa) + next((s for s, p in BINARY_SI.items() if p == power), "")
    # The largest exponent that is a multiple of 3 and leaves a whole mantissa.
    mantissa, exponent = int(amount * NANO), -9
    while mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    mantissa, exponent = mantissa * 10 ** (exponent % 3), exponent - exponent % 3
    if form == "exponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return str(mantissa) + next(s for s, e in DECIMAL_SI.items() if e == exponent)


def _kept_as_written(text: str) -> bool:
    """Whether ParseQuantity keeps `text` verbatim, as its fast path does for a small amount
    already in canonical form, "+", leading zeros, "E" and all: "+5", "007", "1E3", "1e+3".
    The apiserver then stores that very text, so the operator must render it too."""
    if text == "0":
        return True
    whole, fraction, form, exponent = _split(text)
    if form == "binary":
        # Go's estimate that the amount fits an int64; a mantissa divisible by 8 is recomputed.
        precision = 15 - len(whole) - exponent * 3 // 10 - 1
        return not fraction and precision >= 0 and int(whole) % 8 != 0
    digits, scale = whole + fraction, exponent - len(fraction)
    return (
        len(digits) <= 18
        and scale >= -9
        and scale % 3 == 0
        and not digits.endswith("000")
        and not digits.startswith("0")
    )


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSpec(where, "is required and must be an object")
    return value


def optional_mapping(value: Any, where: str) -> Mapping[str, Any] | None:
    return None if value is None else mapping(value, where)


def no_unknown(value: Mapping[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidSpec(f"{where}.{unknown[0]}", "is not a known field")


def integer(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(where, "must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidSpec(where, f"must be at least {minimum}{upper}, got {value}")
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSpec(where, "must be true or false")
    return value


SAFE_TEXT = re.compile(r"^[^\"'\\\n\r\t]*$")


def string(
    value: Any,
    where: str,
    pattern: re.Pattern[str] = SAFE_TEXT,
    max_length: int = 253,
    *,
    allow_empty: bool = False,
) -> str:
    if not isinstance(value, str):
        raise InvalidSpec(where, "is required and must be a string")
    if value == "" and allow_empty:
        return value
    if len(value) > max_length:
        raise InvalidSpec(where, f"must be at most {max_length} characters, got {len(value)}")
    if not pattern.fullmatch(value) or not SAFE_TEXT.fullmatch(value):
        raise InvalidSpec(where, f"{value!r} does not match {pattern.pattern}")
    return value


def string_map(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    raw = optional_mapping(value, where) or {}
    return tuple(
        (
            string(k, where, LABEL_KEY, 253),
            string(v, f"{where}.{k}", LABEL_VALUE, 63, allow_empty=True),
        )
        for k, v in sorted(raw.items())
    )


def tolerations(value: Any, where: str) -> tuple[Toleration, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSpec(where, "must be a list")
    result = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        raw = mapping(item, at)
        no_unknown(raw, at, {"key", "operator", "value", "effect", "tolerationSeconds"})
        operator = raw.get("operator", "Equal")
        if operator not in ("Equal", "Exists"):
            raise InvalidSpec(f"{at}.operator", "must be Equal or Exists")
        effect = raw.get("effect", "")
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute", ""):
            raise InvalidSpec(f"{at}.effect", "must be NoSchedule, PreferNoSchedule or NoExecute")
        seconds = raw.get("tolerationSeconds")
        result.append(
            Toleration(
                key=string(raw.get("key", ""), f"{at}.key", LABEL_KEY, 253, allow_empty=True),
                operator=operator,
                value=string(
                    raw.get("value", ""), f"{at}.value", LABEL_VALUE, 63, allow_empty=True
                ),
                effect=effect,
                toleration_seconds=(
                    None if seconds is None else integer(seconds, f"{at}.tolerationSeconds", 0)
                ),
            )
        )
    return tuple(result)


def resource_requirements(value: Any, gpu: Gpu | None) -> Resources:
    """spec.resources, each quantity in the canonical form the apiserver will store it in."""
    resources = optional_mapping(value, "spec.resources") or {}
    no_unknown(resources, "spec.resources", {"requests", "limits"})
    parts = {}
    for part in ("requests", "limits"):
        where = f"spec.resources.{part}"
        amounts = optional_mapping(resources.get(part), where) or {}
        checked = []
        for key, amount in sorted(amounts.items()):
            string(key, f"{where}", RESOURCE_NAME, 253)
            text = (
                str(amount) if isinstance(amount, int) and not isinstance(amount, bool) else amount
            )
            string(text, f"{where}.{key}", QUANTITY, 64)
            if not 0 <= quantity(text) < MAX_QUANTITY:
                raise InvalidSpec(f"{where}.{key}", f"{text} is out of range (below 2^63/1000)")
            if gpu and key == gpu.resource_name:
                raise InvalidSpec(f"{where}.{key}", "set GPUs with spec.gpu.count, not here")
            checked.append((key, canonical_quantity(text)))
        parts[part] = tuple(checked)
    return Resources(**parts)
