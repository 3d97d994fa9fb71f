"""models.config: exact text pinned by golden files, and accepted by TF Serving's own proto."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from support import tfs_protos
from support.tfmodels import tfmodel
from tfmodel_operator.controller import api, spec
from tfmodel_operator.controller.decision.plan import Plan, desired_plan
from tfmodel_operator.controller.decision.render import config_files

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "models_config"

CASES = {
    "specific-with-labels": {},
    "specific-one-version": {"versionPolicy": {"specific": {"versions": [3]}}, "versionLabels": {}},
    "latest-two": {"versionPolicy": {"latest": {"numVersions": 2}}, "versionLabels": {}},
    "latest-with-label": {"versionPolicy": {"latest": {"numVersions": 1}}, "versionLabels": {"stable": 4}},
    "all": {"versionPolicy": {"all": {}}, "versionLabels": {}},
    "custom-name-and-path": {"modelName": "resnet", "basePath": "/mnt/resnet-models"},
}  # fmt: skip


def rendered(case: str) -> str:
    parsed = spec.parse(tfmodel(**CASES[case]))
    return config_files.models_config(parsed, desired_plan(parsed))


@pytest.mark.parametrize("case", CASES)
def test_matches_golden_file(case: str) -> None:
    golden = GOLDEN / f"{case}.pbtxt"
    assert rendered(case) == golden.read_text(), f"to accept a change: delete {golden} and review"


@pytest.mark.parametrize("case", CASES)
def test_parses_as_model_server_config(case: str) -> None:
    config = text_format.Parse(rendered(case), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    parsed = spec.parse(tfmodel(**CASES[case]))
    assert model.name == parsed.model_name
    assert model.base_path == parsed.base_path
    assert model.model_platform == "tensorflow"
    assert dict(model.version_labels) == dict(parsed.version_labels)
    policy = model.model_version_policy
    assert policy.WhichOneof("policy_choice") == parsed.version_policy.kind
    if parsed.version_policy.kind == "specific":
        assert tuple(policy.specific.versions) == parsed.version_policy.versions
    if parsed.version_policy.kind == "latest":
        assert policy.latest.num_versions == parsed.version_policy.num_versions


def test_the_proto_parser_really_rejects_a_bad_config() -> None:
    broken = rendered("all").replace("model_platform", "model_platfrom")
    with pytest.raises(text_format.ParseError, match="model_platfrom"):
        text_format.Parse(broken, model_server_config_pb2.ModelServerConfig())


def test_monitoring_and_batching_files_parse_with_their_protos() -> None:
    monitoring = text_format.Parse(
        config_files.monitoring_config(), tfs_protos.message("MonitoringConfig")
    )
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    batching = api.Batching(max_batch_size=32, batch_timeout_micros=2000, num_batch_threads=4)
    params = text_format.Parse(
        config_files.batching_config(batching), tfs_protos.message("BatchingParameters")
    )
    assert params.max_batch_size.value == 32
    assert params.batch_timeout_micros.value == 2000
    assert params.num_batch_threads.value == 4
    assert not params.HasField("max_enqueued_batches")


def test_labels_render_in_one_order_whatever_order_the_plan_holds_them() -> None:
    # The renderer sorts the labels itself: a plan from anywhere (the parser sorts, a plan read
    # back from a ConfigMap annotation or made during a label move need not) renders the same.
    parsed = spec.parse(tfmodel())
    golden = (GOLDEN / "specific-with-labels.pbtxt").read_text()
    for labels in [(("canary", 2), ("stable", 1)), (("stable", 1), ("canary", 2))]:
        assert config_files.models_config(parsed, Plan(parsed.version_policy, labels)) == golden


def test_a_spec_listing_versions_and_labels_in_another_order_renders_the_golden_file() -> None:
    body = tfmodel(versionPolicy={"specific": {"versions": [2, 1]}})
    body["spec"]["versionLabels"] = {"stable": 1, "canary": 2}
    body["spec"] = dict(reversed(list(body["spec"].items())))
    parsed = spec.parse(body)
    golden = (GOLDEN / "specific-with-labels.pbtxt").read_text()
    assert config_files.models_config(parsed, desired_plan(parsed)) == golden
