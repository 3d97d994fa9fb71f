"""`tfmodel render -f FILE`: the children a TFModel would get, offline, for reviews and GitOps."""

from pathlib import Path

import pytest
import yaml

from tfmodel_operator import cli

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def test_render_prints_the_children_of_every_tfmodel_in_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["render", "-f", str(SAMPLES / "vgg16.yaml")]) == 0
    children = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [(c["kind"], c["metadata"]["name"]) for c in children] == [
        ("ConfigMap", "vgg16-models-config"), ("Service", "vgg16"),
        ("PodDisruptionBudget", "vgg16"), ("Deployment", "vgg16"),
    ]  # fmt: skip
    assert "version_labels { key: 'stable' value: 1 }" in children[0]["data"]["models.config"]


def test_render_includes_export_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = yaml.safe_load((SAMPLES / "vgg16.yaml").read_text())
    body["spec"]["exports"] = [{"version": 3, "weights": "none"}]
    path = tmp_path / "tfm.yaml"
    path.write_text(yaml.safe_dump(body))
    assert cli.main(["render", "-f", str(path)]) == 0
    kinds = [c["kind"] for c in yaml.safe_load_all(capsys.readouterr().out)]
    assert kinds == ["ConfigMap", "Service", "PodDisruptionBudget", "Deployment", "Job"]


def test_render_refuses_an_invalid_tfmodel_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = yaml.safe_load((SAMPLES / "vgg16.yaml").read_text())
    body["spec"]["gpu"] = {"count": 0}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body))
    assert cli.main(["render", "-f", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "tfmodel render: TFModel vgg16: spec.gpu.count: must be at least 1 and at most 16, got 0"
    )


def test_run_refuses_a_broken_policy_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("imagePrefix: [tensorflow/serving]\n")
    assert cli.main(["run", "--policy", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tfmodel run: --policy {path}: unknown rules imagePrefix")
    assert "\n" not in err
