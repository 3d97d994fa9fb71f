"""The `tfmodel` command: run the operator, or render a TFModel's children offline."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tfmodel_operator import config as c
from tfmodel_operator import plan, render, spec


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfmodel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch only these namespaces")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (default)"
    )
    run.add_argument(
        "--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    run.add_argument("--verbose", action="store_true", help="log every apply")

    draw = commands.add_parser("render", help="print the children a TFModel would get, offline")
    draw.add_argument(
        "-f", "--filename", required=True, type=Path, help="TFModel YAML ('-' for stdin)"
    )

    args = parser.parse_args(argv)
    if args.command == "run":
        return run_operator(args.namespace, args.liveness, args.log_format, args.verbose)
    return render_file(args.filename)


def run_operator(
    namespaces: list[str] | None, liveness: str | None, log_format: str, verbose: bool
) -> int:
    import kopf  # imported here: `tfmodel render` needs no cluster libraries

    import tfmodel_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat[log_format.upper()])
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces or (),
        liveness_endpoint=liveness,
        memo=kopf.Memo(namespaces=tuple(namespaces or ())),
    )
    return 0


def render_file(path: Path) -> int:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    children: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(text):
        if not document or document.get("kind") != c.KIND:
            continue
        try:
            tfmodel = spec.parse(document)
        except spec.InvalidSpec as err:
            name = document.get("metadata", {}).get("name", "?")
            print(f"tfmodel render: TFModel {name}: {err}", file=sys.stderr)
            return 2
        children.extend(render.desired(tfmodel, plan.desired_plan(tfmodel)).in_apply_order())
    if not children:
        print(f"tfmodel render: no {c.KIND} in {path}", file=sys.stderr)
        return 2
    yaml.safe_dump_all(children, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
