"""The pure core (spec, render, status) imports no framework, client or network library."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "tfmodel_operator"
PURE = ["spec.py", "plan.py", "render.py", "status.py", "config.py", "jobs.py", "ownership.py"]
FORBIDDEN = {"kopf", "kubernetes", "requests", "urllib3", "tensorflow"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_library(module: str) -> None:
    assert imported_roots(PACKAGE / module) & FORBIDDEN == set()


def test_only_handlers_imports_kopf() -> None:
    users = {p.name for p in PACKAGE.glob("*.py") if "kopf" in imported_roots(p)}
    assert users <= {"handlers.py", "cli.py"}
