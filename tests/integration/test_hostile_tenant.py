"""A hostile tenant beside a healthy TFModel: pods whose "TF Serving" drips its headers, lists
28,000 versions, answers nested brackets or accepts and never writes, and 300 ConfigMaps of
1 MiB that carry the operator's labels but belong to no TFModel. The operator keeps none of
those ConfigMaps (RSS stays far below its 512Mi limit), each hostile TFModel's status stays
small and names its pod's trouble, and the healthy TFModel's label move still reaches its
ConfigMap within seconds."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from support.hostile_serving import NESTED_BRACKETS, Answer, HostileServing, version_list
from support.operator import Operators
from support.polling import wait_until
from support.tfmodel_api import condition, create, patch_spec, read, serve_ready, serving_pods
from support.tfmodels import tfmodel, vgg16

STATUS = "/v1/models/vgg16"
HOSTILE = {
    "dripping": ({STATUS: Answer(b'{"model_version_status": []}', drip=0.5, drip_head=True)},
                 "no answer within 3s"),
    "many-versions": ({STATUS: Answer(version_list(28_000))}, "more than 1000"),
    "brackets": ({STATUS: Answer(NESTED_BRACKETS)}, "nested too deeply"),
    "silent": ({STATUS: Answer(silent=True)}, "no answer within 3s"),
}  # fmt: skip
CONFIG_MAPS = 300
MiB = 1 << 20


def rss_mib(pid: int) -> tuple[float, float]:
    """(resident now, the peak) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def ready_ip(core: client.CoreV1Api, namespace: str, name: str) -> str:
    def ip() -> str | None:
        pods = [p for p in serving_pods(core, namespace, name) if p.status.pod_ip]
        return pods[0].status.pod_ip if pods else None

    return wait_until(ip, f"a pod of {name}")


@pytest.fixture
def labelled_config_maps(core: client.CoreV1Api, models_namespace: tuple[str, Path]) -> Any:
    """300 ConfigMaps of 1 MiB with the operator's labels, claiming the healthy TFModel's
    instance, owned by none."""
    namespace, _ = models_namespace
    labels = {"app.kubernetes.io/managed-by": "tfmodel-operator",
              "app.kubernetes.io/instance": "vgg16"}  # fmt: skip
    filler = "x" * (MiB - 1024)
    for i in range(CONFIG_MAPS):
        core.create_namespaced_config_map(namespace, {
            "metadata": {"name": f"tenant-{i:03d}", "labels": labels}, "data": {"blob": filler}})  # fmt: skip
    yield
    core.delete_collection_namespaced_config_map(
        namespace, label_selector="app.kubernetes.io/managed-by=tfmodel-operator"
    )


def test_a_hostile_tenant_costs_the_operator_little_and_disturbs_nobody(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    models_namespace: tuple[str, Path],
    serve: Any,
    operators: Operators,
    labelled_config_maps: Any,
) -> None:
    namespace, _ = models_namespace  # everyone in one namespace, the hostile beside the healthy
    assert operators.leader is not None
    pid = operators.leader.pid
    serve_ready(custom, namespace, serve, vgg16(versionPolicy={"specific": {"versions": [1, 2]}}))
    servers = []
    try:
        for name, (answers, _) in HOSTILE.items():
            create(custom, namespace, tfmodel(name, modelName="vgg16", replicas=1))
            servers.append(HostileServing(ready_ip(core, namespace, name), answers))

        for name, (_, words) in HOSTILE.items():

            def names_trouble(name: str = name, words: str = words) -> dict[str, Any] | None:
                tfm = read(custom, namespace, name)
                message = condition(tfm, "ConfigApplied").get("message", "")
                return tfm if words in message else None

            tfm = wait_until(names_trouble, f"{name}'s trouble in its status", timeout=90)
            assert len(json.dumps(tfm["status"])) < 64 * 1024, name

        started = time.monotonic()
        patch_spec(custom, namespace, "vgg16", {"versionLabels": {"stable": 2}})

        def moved() -> bool:
            cm = core.read_namespaced_config_map("vgg16-models-config", namespace)
            return "key: 'stable' value: 2" in cm.data["models.config"]

        wait_until(moved, "the healthy label move in models.config", timeout=30)
        move_seconds = time.monotonic() - started
        now, peak = rss_mib(pid)
        print(f"\nhostile tenant: label move {move_seconds:.2f} s; operator RSS {now:.0f} MiB "
              f"(peak {peak:.0f} MiB) beside {CONFIG_MAPS} labelled ConfigMaps of 1 MiB")  # fmt: skip
        assert move_seconds < 10
        assert peak < 400, f"the operator's RSS peaked at {peak:.0f} MiB"
    finally:
        for server in servers:
            server.stop()
