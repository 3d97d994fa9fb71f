"""The TF Serving stand-in's modules import one another in one direction only.

Read from the source (nothing is imported, so no TensorFlow): each module of
tests/support/tfserving_standin may import only the modules listed after it here, the order the
package docstring gives.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "support" / "tfserving_standin"
LAYERS = [
    "server",
    "http_server",
    "core",
    "loader",
    "config",
    "json_codec",
    "rapidjson",
    "errors",
    "saved_models",
]


def package_imports(module: str) -> set[str]:
    """The modules of the package that `module` imports, relative or absolute."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                target = node.module or ""
            elif (node.module or "").startswith("support.tfserving_standin."):
                target = (node.module or "").removeprefix("support.tfserving_standin.")
            else:
                continue
            found.add(target.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("support.tfserving_standin."):
                    found.add(alias.name.split(".")[2])
    return found


def test_every_module_of_the_package_has_a_place_in_the_layers() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


@pytest.mark.parametrize("module", LAYERS)
def test_a_module_imports_only_the_modules_below_it(module: str) -> None:
    below = set(LAYERS[LAYERS.index(module) + 1 :])
    assert package_imports(module) <= below, f"{module} imports above itself or itself"


def test_the_package_docstring_lists_the_layers_in_this_order() -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    listed = [line.split("``")[1] for line in docstring.splitlines() if line.startswith("* ``")]
    assert listed == LAYERS
