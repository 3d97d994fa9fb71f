"""The version has one source (pyproject.toml, read through the package metadata); the image
tags the manifests, the CRD, the README and the docs name must follow it."""

import re
import tomllib
from pathlib import Path

from tfmodel_operator import __version__
from tfmodel_operator.controller.api import DEFAULT_EXPORT_IMAGE

REPO = Path(__file__).resolve().parents[2]


def test_the_package_version_is_pyprojects() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]  # stale? reinstall: pip install -e .


def test_every_image_tag_of_ours_is_the_package_version() -> None:
    assert f"ghcr.io/tfmodel/tfmodel-exporter:{__version__}" == DEFAULT_EXPORT_IMAGE
    files = ["manifests/operator.yaml", "crds/tfmodels.serving.tfmodel.io.yaml", "README.md",
             "Dockerfile", "Dockerfile.export"]  # fmt: skip
    files += sorted(str(page.relative_to(REPO)) for page in (REPO / "docs").glob("*.md"))
    ours = re.compile(r"tfmodel-(?:operator|exporter):([0-9][\w.]*\w)")
    tags = {(name, tag) for name in files for tag in ours.findall((REPO / name).read_text())}
    assert tags
    assert {tag for _, tag in tags} == {__version__}, sorted(tags)
