"""The CRD as `kubectl explain` shows it, and the lists it shares with the operator."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tfmodel_operator.controller import api

CRD = Path(__file__).resolve().parents[2] / "crds" / "tfmodels.serving.tfmodel.io.yaml"


def schema() -> dict[str, Any]:
    document = yaml.safe_load(CRD.read_text())
    (version,) = document["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def properties(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property below `node`, with its path as `kubectl explain` names it."""
    for name, child in (node.get("properties") or {}).items():
        yield f"{path}.{name}", child
        yield from properties(child, f"{path}.{name}")
    items = node.get("items")
    if isinstance(items, dict):
        yield from properties(items, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from properties(extra, path)


def test_every_field_of_spec_and_status_has_a_description() -> None:
    root = schema()
    assert root.get("description"), "the TFModel itself"
    missing = [
        path
        for path, child in properties(root, "tfmodel")
        if path not in ("tfmodel.apiVersion", "tfmodel.kind", "tfmodel.metadata")
        and not child.get("description")
    ]
    assert missing == []


def test_top_level_tolerations_do_not_reuse_the_gpu_text() -> None:
    fields = schema()["properties"]["spec"]["properties"]
    assert (
        fields["tolerations"]["description"]
        != fields["gpu"]["properties"]["tolerations"]["description"]
    )


def test_the_applications_the_crd_admits_are_those_the_operator_accepts() -> None:
    exports = schema()["properties"]["spec"]["properties"]["exports"]["items"]
    assert tuple(exports["properties"]["application"]["enum"]) == api.APPLICATIONS
