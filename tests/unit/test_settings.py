"""settings: `tfmodel run` flags, each falling back to its environment variable, then a default;
a bad value is refused naming the flag or the variable."""

import argparse
from pathlib import Path

import pytest

from tfmodel_operator.controller import settings
from tfmodel_operator.controller.policy import Policy
from tfmodel_operator.controller.settings import Settings, SettingsError


def chosen(*flags: str, **environ: str) -> Settings:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return settings.from_arguments(parser.parse_args(list(flags)), environ)


def test_defaults() -> None:
    assert chosen() == Settings()
    assert Settings().lease_namespace == "tfmodel-system"


def test_a_flag_wins_over_its_variable_which_wins_over_the_default() -> None:
    assert chosen(TFMODEL_WORKERS="3").workers == 3
    assert chosen("--workers", "5", TFMODEL_WORKERS="3").workers == 5
    assert chosen(TFMODEL_LEADER_ELECT="true", POD_NAMESPACE="ops").leader_elect is True
    assert chosen(POD_NAMESPACE="ops").lease_namespace == "ops"
    assert chosen("--leader-elect").leader_elect is True
    assert chosen("-n", "a", "-n", "b").namespaces == ("a", "b")


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (["--workers", "abc"], {}, "--workers='abc' is not a whole number"),
        ([], {"TFMODEL_WORKERS": "0"}, "$TFMODEL_WORKERS='0' must be at least 1"),
        ([], {"TFMODEL_POLL_SECONDS": "soon"}, "$TFMODEL_POLL_SECONDS='soon' is not a number"),
        ([], {"TFMODEL_LEADER_ELECT": "maybe"}, "$TFMODEL_LEADER_ELECT='maybe' must be true or false"),
        (["--policy", "/nonexistent/policy.yaml"], {},
         "--policy /nonexistent/policy.yaml: [Errno 2] No such file or directory: '/nonexistent/policy.yaml'"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_where_it_came_from(
    flags: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        chosen(*flags, **environ)
    assert str(refused.value) == message


def test_the_policy_file_is_read_once_at_start(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("imagePrefixes: [registry.example/]\n")
    read = chosen(TFMODEL_POLICY_FILE=str(path))
    assert read.policy_file == path
    assert read.policy != Policy()
    assert read.policy.image_prefixes == ("registry.example/",)


def test_described_in_one_line() -> None:
    line = chosen("--workers", "2").describe()
    assert "\n" not in line
    assert line.startswith("namespaces=all poll_seconds=2.0 ")
    assert " workers=2 " in line
