"""The `tfmodel` command: `render -f FILE` (the children a TFModel would get, offline, for
reviews and GitOps), `--version`, and one line, never a traceback, for a user's mistake."""

from pathlib import Path

import pytest
import yaml

from tfmodel_operator import __version__, cli

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
        f"tfmodel render: {path}: TFModel vgg16: spec.gpu.count: must be at least 1 and at most 16, got 0"
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


MISTAKES = [
    ("missing", None, "tfmodel render: cannot read {path}: No such file or directory"),
    ("broken.yaml", "kind: TFModel\nmetadata: {name: x\n",
     "tfmodel render: {path} line 3, column 1: not valid YAML: expected ',' or '}}', but got '<stream end>'"),
    ("binary.yaml", b"\xa5\x00\xff", "tfmodel render: {path}: not UTF-8 text (byte 0)"),
    ("list.yaml", "- a\n- b\n", "tfmodel render: no TFModel in {path}"),
    ("meta.yaml", "kind: TFModel\nmetadata: 3\n",
     "tfmodel render: {path}: TFModel ?: metadata: is required and must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_render_reports_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | bytes | None,
    message: str,
) -> None:  # fmt: skip
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert cli.main(["render", "-f", str(path)]) == 2
    assert capsys.readouterr().err == message.format(path=path) + "\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"tfmodel {__version__}\n"
