"""How the operator runs: read once at start from `tfmodel run`'s flags, each with an environment
variable as its fallback (the Deployment sets those), and logged in one line at start-up."""

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.policy import Policy, PolicyError, load


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the flag or variable and the value."""


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # watched namespaces; none: every namespace
    poll_seconds: float = 2.0  # how often a config change on its way into TF Serving is checked
    slow_check_seconds: float = 300.0  # how often TF Serving is asked when nothing is moving
    reload_grace_seconds: float = 120.0  # kubelet's ConfigMap delay on top of TF Serving's poll
    resync_seconds: float = 30.0  # every TFModel is looked at again from memory this often
    workers: int = 8  # TFModels reconciled at the same time
    metrics_port: int = 0  # Prometheus metrics; 0: off
    leader_elect: bool = False  # one of several replicas: reconcile only while holding the Lease
    lease_namespace: str = vocabulary.OPERATOR_NAMESPACE
    lease_seconds: int = 15
    policy_file: Path | None = None
    policy: Policy = field(default_factory=Policy)  # what TFModel authors may ask for
    liveness: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    log_format: str = "full"
    verbose: bool = False

    def describe(self) -> str:
        """One line: every setting but the parsed policy (its file is named)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "policy"}
        shown["namespaces"] = ",".join(self.namespaces) or "all"
        return " ".join(f"{name}={value}" for name, value in shown.items())


def number(kind: type[int] | type[float], minimum: float) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(
                "is not a whole number" if kind is int else "is not a number"
            ) from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        return value

    return convert


def flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no", ""):
        return False
    raise ValueError("must be true or false")


# setting -> (flag, environment variable, how to read it, help)
OPTIONS: dict[str, tuple[str, str, Callable[[str], Any], str]] = {
    "metrics_port": ("--metrics-port", "TFMODEL_METRICS_PORT", number(int, 0),
                     "serve Prometheus metrics on this port (0: off)"),
    "policy_file": ("--policy", "TFMODEL_POLICY_FILE", Path,
                    "the platform policy: what TFModel authors may ask for (YAML; see README)"),
    "leader_elect": ("--leader-elect", "TFMODEL_LEADER_ELECT", flag,
                     "run as one of several replicas: reconcile only while holding the Lease "
                     "tfmodel-operator in --lease-namespace"),
    "lease_namespace": ("--lease-namespace", "POD_NAMESPACE", str,
                        "where the Lease lives (default the operator's own namespace)"),
    "lease_seconds": ("--lease-seconds", "TFMODEL_LEASE_SECONDS", number(int, 2),
                      "how long a leader's Lease lasts without renewal"),
    "poll_seconds": ("--poll-seconds", "TFMODEL_POLL_SECONDS", number(float, 0.1),
                     "how often TF Serving is asked while a config change is on its way"),
    "slow_check_seconds": ("--slow-check-seconds", "TFMODEL_SLOW_CHECK_SECONDS",
                           number(float, 1), "how often TF Serving is asked when nothing moves"),
    "reload_grace_seconds": ("--reload-grace-seconds", "TFMODEL_RELOAD_GRACE_SECONDS",
                             number(float, 0), "ReloadNotSeen after configPollSeconds plus this"),
    "resync_seconds": ("--resync-seconds", "TFMODEL_RESYNC_SECONDS", number(float, 1),
                       "every TFModel is looked at again from memory this often"),
    "workers": ("--workers", "TFMODEL_WORKERS", number(int, 1),
                "TFModels reconciled at the same time"),
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch only these namespaces")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (default)"
    )
    parser.add_argument(
        "--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    defaults = Settings()
    for name, (option, variable, _, text) in OPTIONS.items():
        default = getattr(defaults, name)
        shown = "" if default in (None, "") else f"; default {default}"
        extra: dict[str, Any] = {}
        if name == "leader_elect":  # a switch; its variable says true or false
            extra = {"action": "store_const", "const": "true"}
        parser.add_argument(option, dest=name, help=f"{text} (${variable}{shown})", **extra)
    parser.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    parser.add_argument("--verbose", action="store_true", help="log every apply")


def from_arguments(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings: each flag given, else its environment variable, else the default. Reads
    the policy file. Raises SettingsError naming the flag or variable of a bad value."""
    values: dict[str, Any] = {}
    for name, (option, variable, read, _) in OPTIONS.items():
        given, source = getattr(args, name), option
        if given is None and environ.get(variable):
            given, source = environ[variable], f"${variable}"
        if given is None:
            continue
        try:
            values[name] = read(given)
        except ValueError as err:
            raise SettingsError(f"{source}={given!r} {err}") from None
    settings = Settings(
        namespaces=tuple(args.namespace or ()),
        liveness=args.liveness,
        log_format=args.log_format,
        verbose=args.verbose,
        **values,
    )
    if settings.policy_file is None:
        return settings
    try:
        policy = load(settings.policy_file.read_text())
    except (OSError, PolicyError, yaml.YAMLError) as err:
        raise SettingsError(f"--policy {settings.policy_file}: {err}") from None
    return replace(settings, policy=policy)
