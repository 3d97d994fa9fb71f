"""Pure: does a live child already hold what should be applied? (Then nothing is written.)

The cache keeps children as slim projections (a ConfigMap's data as digests), so a desired child
is compared in the same form (`comparable`), field by field (`is_applied`).
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.kinds import Manifest


def digests(data: Mapping[str, str]) -> dict[str, str]:
    return {
        key: "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()
        for key, value in data.items()
    }


def comparable(manifest: Manifest) -> Manifest:
    """A desired child as the cache keeps its kind, to compare the two (a ConfigMap's data as
    digests)."""
    if manifest["kind"] != "ConfigMap":
        return manifest
    return {**manifest, "data": digests(manifest.get("data") or {})}


def is_applied(desired: Any, live: Any) -> bool:
    """True if `live` already holds every field of `desired` with the same value.

    Fields the apiserver defaults (and fields others own) may be extra in `live`; a field the
    apiserver drops because it holds its zero value (`readOnly: false`) may be missing. Together
    with the applied-hash annotation, which changes whenever the desired manifest does, this
    tells an unchanged child from one that needs an apply (a spec change, or a hand edit).
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            is_applied(value, live[key]) if key in live else is_zero(value)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_applied(d, v) for d, v in zip(desired, live, strict=True))
        )
    return bool(desired == live)


def is_zero(value: Any) -> bool:
    """What the API omits when serialising (Go's omitempty): false, 0, "", empty lists/maps."""
    if isinstance(value, bool):
        return value is False
    return value in (0, "") or value == [] or value == {}


def applied(obj: Manifest | None) -> tuple[str, str]:
    """An object's resourceVersion and the hash of the manifest last applied to it."""
    meta = (obj or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return str(meta.get("resourceVersion", "")), str(annotations.get(vocabulary.APPLIED_HASH, ""))
