"""spec.parse: samples, defaults, and the table of invalid TFModels (the same table the
integration tests send to the apiserver, so the operator and the CRD refuse the same things)."""

from pathlib import Path

import pytest
import yaml

from support.tfmodels import INVALID, invalid_body, tfmodel
from tfmodel_operator.controller import api, spec

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def samples() -> list[dict]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(SAMPLES.glob("*.yaml"))]
    return [d for d in docs if d["kind"] == "TFModel"]


@pytest.mark.parametrize("body", samples(), ids=lambda b: b["metadata"]["name"])
def test_samples_parse(body: dict) -> None:
    parsed = spec.parse(body)
    assert parsed.name == body["metadata"]["name"]


def test_defaults() -> None:
    body = tfmodel()
    del body["spec"]["versionPolicy"], body["spec"]["versionLabels"]
    parsed = spec.parse(body)
    assert parsed.model_name == "vgg16"
    assert parsed.base_path == "/models/vgg16"
    assert parsed.version_policy == api.VersionPolicy(kind="latest", num_versions=1)
    assert parsed.version_labels == ()
    assert parsed.replicas == 1
    assert parsed.image == "tensorflow/serving:2.20.0"
    assert parsed.config_poll_seconds == 30
    assert parsed.gpu is None
    assert parsed.device == "cpu"


def test_gpu_defaults_switch_image_and_tolerate_the_gpu_taint() -> None:
    parsed = spec.parse(tfmodel(gpu={}))
    assert parsed.image == "tensorflow/serving:2.20.0-gpu"
    assert parsed.gpu == api.Gpu(
        count=1,
        resource_name="nvidia.com/gpu",
        node_selector=(),
        tolerations=(api.Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),),
        runtime_class_name="",
        memory_fraction=None,
    )
    assert parsed.device == "gpu"


def test_explicit_image_is_kept_with_gpu() -> None:
    assert spec.parse(tfmodel(gpu={"count": 2}, image="my/serving:1")).image == "my/serving:1"


def test_versions_and_labels_are_sorted() -> None:
    parsed = spec.parse(
        tfmodel(versionPolicy={"specific": {"versions": [3, 1, 2]}}, versionLabels={"z": 3, "a": 1})
    )
    assert parsed.version_policy.versions == (1, 2, 3)
    assert parsed.version_labels == (("a", 1), ("z", 3))


def test_labels_may_name_any_version_under_latest_policy() -> None:
    parsed = spec.parse(
        tfmodel(versionPolicy={"latest": {"numVersions": 2}}, versionLabels={"stable": 7})
    )
    assert parsed.version_labels == (("stable", 7),)


@pytest.mark.parametrize(("case", "changes", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_tfmodels_are_refused_naming_the_field(
    case: str, changes: list, field: str
) -> None:
    with pytest.raises(spec.InvalidSpec) as refused:
        spec.parse(invalid_body(changes))
    assert refused.value.field.startswith(field), str(refused.value)
    assert str(refused.value).startswith(refused.value.field + ": ")


@pytest.mark.parametrize("name", ["my_first_model", "resnet-50", "vgg16.v2", "VGG16"])
def test_model_names_as_tf_serving_allows_them(name: str) -> None:
    assert spec.parse(tfmodel(modelName=name)).model_name == name


def test_a_trailing_newline_never_passes_a_pattern() -> None:
    for field, value in [
        ("modelName", "vgg16\n"),
        ("basePath", "/models/vgg16\n"),
        ("image", "tensorflow/serving:2.20.0\n"),
    ]:
        with pytest.raises(spec.InvalidSpec, match=f"spec.{field}"):
            spec.parse(tfmodel(**{field: value}))


@pytest.mark.parametrize("amount", ["1e400", "1e19", "99999999999999999999"])
def test_quantities_out_of_kubernetes_range_are_invalid_naming_the_field(amount: str) -> None:
    with pytest.raises(spec.InvalidSpec, match=r"spec\.resources\.limits\.cpu: .* out of range"):
        spec.parse(tfmodel(resources={"limits": {"cpu": amount}}))
