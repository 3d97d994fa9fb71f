"""High availability: two operators share the Lease tfmodel-operator; when the leader is killed
(SIGKILL, as when its node goes away) while TFModels are being created, the standby takes over
and every TFModel is reconciled, none twice."""

import json
import signal
import time
from pathlib import Path

from kubernetes import client

from support.operator import Operators
from support.operator_settings import OPERATOR_SETTINGS
from support.polling import wait_until
from support.tfmodel_api import create
from support.tfmodels import tfmodel

LEASE_SECONDS = float(OPERATOR_SETTINGS["TFMODEL_LEASE_SECONDS"])


def test_a_standby_takes_over_when_the_leader_is_killed_and_nothing_is_lost(
    api: client.ApiClient, custom: client.CustomObjectsApi, namespace: str,
    operators: Operators, tmp_path: Path,
) -> None:  # fmt: skip
    standby, standby_log = operators.start("standby")
    wait_until(lambda: "Waiting for the lease" in standby_log.read_text(), "the standby to wait")
    time.sleep(LEASE_SECONDS)
    assert "Started tfmodel-operator" not in standby_log.read_text()  # it stands by

    leader = operators.leader
    assert leader is not None
    names = [f"m{i:02d}" for i in range(12)]
    killed_at = 0.0
    for i, name in enumerate(names):
        create(custom, namespace, tfmodel(name))
        if i == 5:  # mid-way: the rest are created while nobody leads
            leader.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            leader.wait()
    operators.leader = standby

    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)

    def reconciled(name: str) -> bool:
        tfm = custom.get_namespaced_custom_object(
            "serving.tfmodel.io", "v1alpha1", namespace, "tfmodels", name
        )
        return bool(
            tfm.get("status", {}).get("observedGeneration") == tfm["metadata"]["generation"]
        )

    wait_until(
        lambda: all(reconciled(n) for n in names[6:]),
        "the standby to reconcile",
        3 * LEASE_SECONDS + 30,
    )
    takeover = time.monotonic() - killed_at
    wait_until(lambda: all(reconciled(n) for n in names), "every TFModel reconciled")
    assert "Leading: holding the lease" in standby_log.read_text()

    # Nothing lost, nothing twice: each TFModel has exactly its three children, controlled by it.
    deployments = apps.list_namespaced_deployment(namespace).items
    services = core.list_namespaced_service(namespace).items
    config_maps = [
        c
        for c in core.list_namespaced_config_map(namespace).items
        if c.metadata.name != "kube-root-ca.crt"
    ]
    for kind, objects, suffix in [
        ("Deployment", deployments, ""),
        ("Service", services, ""),
        ("ConfigMap", config_maps, "-models-config"),
    ]:
        assert sorted(o.metadata.name for o in objects) == [f"{n}{suffix}" for n in names], kind
        assert all(
            o.metadata.owner_references[0].name + suffix == o.metadata.name for o in objects
        ), kind
    (tmp_path / "failover.json").write_text(
        json.dumps({"takeover_s": takeover, "lease_s": LEASE_SECONDS})
    )
    print(
        f"failover: the standby reconciled {takeover:.1f} s after the leader was killed (lease {LEASE_SECONDS:.0f} s)"
    )
    assert takeover < 3 * LEASE_SECONDS + 30

    # A leader stopped cleanly (a rolling update) releases the Lease: the next takes it at once.
    third, third_log = operators.start("third")
    wait_until(lambda: "Waiting for the lease" in third_log.read_text(), "a new standby to wait")
    stopped_at = time.monotonic()
    standby.terminate()
    assert standby.wait(timeout=20) == 0
    operators.leader = third
    wait_until(
        lambda: "Started tfmodel-operator" in third_log.read_text(),
        "the new standby to lead",
        3 * LEASE_SECONDS,
    )
    handover = time.monotonic() - stopped_at
    assert "Released the lease" in standby_log.read_text()
    print(f"handover after SIGTERM: {handover:.1f} s (lease {LEASE_SECONDS:.0f} s)")
    assert handover < LEASE_SECONDS  # without the release it waits out the lease
