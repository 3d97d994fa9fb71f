"""Pure: checks for one field of a TFModel spec, each raising InvalidSpec naming the field.

Strings that reach models.config or a pod spec are constrained so that they cannot break out
of their quotes (no quote, backslash or newline can match these patterns).
"""

import re
from collections.abc import Mapping
from typing import Any

from tfmodel_operator.controller.api import Toleration

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


class InvalidSpec(ValueError):
    """The resource cannot be served as written. `field` is the JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


SUFFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "Pi": 2**50, "Ei": 2**60}  # fmt: skip
# Kubernetes keeps quantities as int64 milli-units: anything larger cannot be scheduled.
MAX_QUANTITY = 2**63 / 1000


def quantity(text: str) -> float:
    """A Kubernetes quantity (matching QUANTITY) as a number; huge exponents give inf."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * SUFFIXES[suffix]
    return float(text)


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
