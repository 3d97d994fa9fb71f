"""Argo CD's health check (manifests/argocd/health.lua, run by Lua 5.1 as Argo CD does) on
statuses the status module computes; the same statuses meet kstatus in the integration tests."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.gitops import ARGOCD_HEALTH, argocd_health
from support.tfmodels import tfmodel
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision import conditions, status
from tfmodel_operator.controller.decision.plan import (
    Decision,
    desired_plan,
)
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BODY = {**tfmodel(replicas=1), "metadata": {"name": "vgg16", "namespace": "ml", "generation": 2}}


def available(replicas: int = 1) -> dict[str, Any]:
    return {"metadata": {"generation": 1}, "spec": {"replicas": replicas}, "status": {
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
        "availableReplicas": replicas, "readyReplicas": replicas,
        "conditions": [{"type": "Available", "status": "True"}]}}  # fmt: skip


def pod(
    states: dict[int, str], labels: dict[str, int], failed: dict[int, str] | None = None
) -> PodServing:
    versions = [VersionStatus(v, s) for v, s in states.items()]
    versions += [VersionStatus(v, "END", e) for v, e in (failed or {}).items()]
    return PodServing("vgg16-a", tuple(versions), tuple(labels.items()))


def tfm(world: status.World, generation: int = 2, **spec_changes: Any) -> dict[str, Any]:
    body = {**BODY, "spec": {**BODY["spec"], **spec_changes}}
    parsed = spec.parse(body)
    computed = status.compute(parsed, Decision(desired_plan(parsed)), world, {}, NOW)
    return {**body, "apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel",
            "metadata": {**body["metadata"], "generation": generation}, "status": computed}  # fmt: skip


SERVES = pod({1: "AVAILABLE", 2: "AVAILABLE"}, {"stable": 1, "canary": 2})
CASES = [
    ("serving", tfm(status.World(available(), [], [SERVES])), "Healthy"),
    ("label move in progress", tfm(status.World(available(), [], [pod({1: "AVAILABLE", 2: "AVAILABLE"}, {"stable": 1, "canary": 1})])), "Progressing"),
    ("creating", tfm(status.World(None)), "Progressing"),
    ("version load failed", tfm(status.World(available(), [], [pod({1: "AVAILABLE"}, {"stable": 1}, {2: "no .pb"})])), "Degraded"),
    ("scaled to zero", tfm(status.World(available(0)), replicas=0), "Healthy"),
    ("a newer generation not observed yet", tfm(status.World(available(), [], [SERVES]), generation=3), "Progressing"),
    ("no status yet", {**BODY, "apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel"}, "Progressing"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "obj", "health"), CASES, ids=[c[0] for c in CASES])
def test_argocd_health(case: str, obj: dict[str, Any], health: str) -> None:
    assert argocd_health(obj) == health


def test_invalid_spec_is_degraded() -> None:
    error = spec.InvalidSpec("spec.resources.limits.cpu", "1e400 is out of range")
    obj = {**BODY, "status": conditions.blocked(2, "InvalidSpec", str(error), {}, NOW)}
    assert argocd_health(obj) == "Degraded"


def test_the_argocd_cm_snippet_carries_the_same_script() -> None:
    snippet = yaml.safe_load((Path(ARGOCD_HEALTH).parent / "argocd-cm.yaml").read_text())
    key = "resource.customizations.health.serving.tfmodel.io_TFModel"
    assert snippet["data"][key] == ARGOCD_HEALTH.read_text()
