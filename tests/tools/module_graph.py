"""Print the package's module graph: each module, its size, and the modules of the package it
imports (`make graph`). Built with grimp, the graph library under import-linter."""

import sys
from pathlib import Path

import grimp


def main(package: str = "tfmodel_operator") -> None:
    graph = grimp.build_graph(package)
    root = Path(__import__(package).__file__ or "").parent.parent
    for module in sorted(graph.modules):
        path = root / Path(*module.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        lines = len(source.read_text().splitlines()) if source.exists() else 0
        imported = sorted(m.removeprefix(package + ".") for m in graph.find_modules_directly_imported_by(module))  # fmt: skip
        print(f"{module.removeprefix(package + '.')} ({lines}) -> {', '.join(imported) or '-'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
