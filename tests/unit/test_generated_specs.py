"""Hundreds of generated TFModels that the CRD's schema admits go through the pure path
(spec.parse -> decide -> status) without raising: a bad spec ends as a status, never a crash."""

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tfmodel_operator.controller import api, projection, spec
from tfmodel_operator.controller.decision import decide
from tfmodel_operator.controller.decision.observed import Observed
from tfmodel_operator.controller.decision.serving import PodServing, VersionStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def decided(observed: Observed, *args: Any, **kwargs: Any) -> decide.Outcome:
    """decide over `observed`, its spec parsed once as the reconciler parses it."""
    return decide.decide(observed, spec.parsed(observed.tfmodel or {}), *args, **kwargs)


QUANTITIES = ["1", "0", "100m", "2Gi", "1.5", ".5", "1e3", "1e400", "9E", "8Ei", "+3", "1e-9",
              "99999999999999999999", "7Pi", "0.000001u"]  # fmt: skip
NAMES = ["vgg16", "my_first_model", "a", "m" * 63, "x.y-z_1", "A1"]


def generated(rng: random.Random, i: int) -> dict[str, Any]:
    versions = sorted(
        rng.sample(range(1, 2**63 - 1 if rng.random() < 0.1 else 50), rng.randint(1, 5))
    )
    policy = rng.choice(
        [
            {"specific": {"versions": versions}},
            {"latest": {"numVersions": rng.randint(1, 100)}},
            {"all": {}},
        ]
    )
    labels = (
        {f"l{j}": rng.choice(versions) for j in range(rng.randint(0, 3))}
        if "specific" in policy
        else {f"l{j}": rng.randint(1, 2**63 - 1) for j in range(rng.randint(0, 2))}
    )
    body: dict[str, Any] = {"storage": rng.choice([
        {"persistentVolumeClaim": {"claimName": "models", "subPath": rng.choice(["vgg16", "a/b-c_d.e"])}},
        {"nfs": {"server": rng.choice(["nfs.example", "10.0.0.1", "fe80::1"]), "path": "/exports/m"}}]),
        "versionPolicy": policy, "versionLabels": labels}  # fmt: skip
    optional = {
        "modelName": lambda: rng.choice(NAMES),
        "replicas": lambda: rng.choice([0, 1, 2, 1000]),
        "image": lambda: rng.choice(["tensorflow/serving:2.20.0", "registry.example/tfs@sha256", "a"]),
        "resources": lambda: {part: {rng.choice(["cpu", "memory", "example.com/fpga"]): rng.choice(QUANTITIES)}
                              for part in rng.sample(["requests", "limits"], rng.randint(0, 2))},
        "configPollSeconds": lambda: rng.randint(1, 3600),
        "batching": lambda: {"maxBatchSize": rng.randint(1, 1000000), "batchTimeoutMicros": rng.randint(0, 60000000),
                             "numBatchThreads": rng.randint(1, 1024)},
        "gpu": lambda: {"count": rng.randint(1, 16), "memoryFraction": rng.choice([1, 0.5, 1e-9]),
                        "runtimeClassName": "nvidia", "tolerations": [{"operator": "Exists"}]},
        "nodeSelector": lambda: {"disk": rng.choice(["ssd", ""]), "example.com/zone": "a"},
        "tolerations": lambda: [{"key": "k", "operator": rng.choice(["Equal", "Exists"]), "value": "v",
                                 "effect": rng.choice(["NoSchedule", "NoExecute"]), "tolerationSeconds": rng.randint(0, 2**40)}],
        "affinity": lambda: rng.choice([{}, {"nodeAffinity": {"whatever": [1, {"x": None}]}}, {"podAntiAffinity": "text"}]),
        "exports": lambda: [{"version": v, "application": rng.choice(api.APPLICATIONS), "weights": rng.choice(["imagenet", "none", "w/x.h5"]),
                             "warmup": rng.random() < 0.5} for v in sorted(set(rng.sample(range(1, 60), rng.randint(1, 3))))],
        "exportImage": lambda: "my/exporter:2",
        "basePath": lambda: rng.choice(["/models/x", "/data/models/vgg16"]),
        "promotion": lambda: {k: v for k, v in {"labels": rng.sample(["l0", "l1", "canary"], rng.randint(0, 3)),
                              "checkSignatures": rng.random() < 0.5, "smokeRequest": rng.random() < 0.5}.items()
                              if rng.random() < 0.7},
    }  # fmt: skip
    for field in rng.sample(sorted(optional), rng.randint(0, len(optional))):
        body[field] = optional[field]()
    meta = {"name": f"m{i}", "namespace": "ml", "uid": f"uid-{i}", "generation": rng.randint(1, 9)}
    return {
        "apiVersion": "serving.tfmodel.io/v1alpha1",
        "kind": "TFModel",
        "metadata": meta,
        "spec": body,
    }


def answers(rng: random.Random) -> tuple[PodServing, ...]:
    """What pods might say, including nonsense that survived validation (huge versions)."""
    pods = []
    for n in range(rng.randint(0, 3)):
        versions = tuple(VersionStatus(rng.choice([1, 2, 2**63 - 1]), rng.choice(["START", "LOADING", "AVAILABLE", "END"]),
                                       rng.choice(["", "boom"])) for _ in range(rng.randint(0, 3)))  # fmt: skip
        labels = tuple((f"l{j}", rng.choice([1, 2])) for j in range(rng.randint(0, 2)))
        pods.append(PodServing(f"p{n}", versions, labels, rng.choice(["", "", "cannot connect"])))
    return tuple(pods)


@pytest.mark.parametrize("seed", range(400))
def test_a_generated_spec_never_makes_the_pure_path_raise(seed: int) -> None:
    rng = random.Random(seed)
    body = generated(rng, seed)
    first = decided(Observed(tfmodel=body), NOW)
    assert first.status is not None
    assert first.status["conditions"]
    # Then with the children it asked for, and whatever the pods answered.
    children = tuple(projection.project(m["kind"], {**m, "metadata": {**m["metadata"], "uid": "c", "resourceVersion": "2"}})
                     for m in first.manifests)  # fmt: skip
    again = decided(Observed({**body, "status": first.status}, children, serving=answers(rng)), NOW)
    assert again.status is None or {c["type"] for c in again.status["conditions"]} >= {
        "Ready",
        "Stalled",
    }
