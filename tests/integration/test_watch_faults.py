"""The operator's cache under watch faults, on the real control plane.

Relist: changes made while the operator was frozen and its watches cut, then etcd compacted so
that every watch must list again, are all seen once it resumes. Hangs: a leader whose
connections to the apiserver go silent exits within its lease and the standby takes over; an
apiserver that restarts three times in a row costs no replica and marks no TFModel in error.
Each test replaces the session's leader with operators of its own, and hands a live leader back.
"""

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from support.cluster import compact_etcd, restart_apiserver
from support.operator import Operators, started
from support.operator_settings import OPERATOR_SETTINGS, RESYNC_SECONDS
from support.polling import wait_until
from support.relay import Relay
from support.tfmodel_api import condition, create, patch_spec, read, serve_ready
from support.tfmodels import tfmodel

LEASE_SECONDS = float(OPERATOR_SETTINGS["TFMODEL_LEASE_SECONDS"])
GROUP, VERSION, PLURAL = "serving.tfmodel.io", "v1alpha1", "tfmodels"


def small(name: str, **spec: Any) -> dict[str, Any]:
    fields = {"modelName": "vgg16", "replicas": 1, "configPollSeconds": 1, "versionLabels":
              {"stable": 1}, "versionPolicy": {"specific": {"versions": [1]}}, **spec}  # fmt: skip
    return tfmodel(name, **fields)


@pytest.fixture
def own_operators(operators: Operators) -> Iterator[Operators]:
    """The session's leader stopped (it hands the Lease over); afterwards a new one leads."""
    assert operators.leader is not None
    operators.leader.terminate()
    operators.leader.wait(timeout=30)
    earlier = len(operators.processes)
    yield operators
    for process in operators.processes[earlier:]:  # whatever the test left running
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(timeout=30)
    process, log = operators.start(f"leader-after-{time.monotonic_ns()}")
    wait_until(lambda: started(process, log), "a new session leader", timeout=120)
    operators.leader = process


def owner_uids(api: client.ApiClient, namespace: str) -> dict[str, str]:
    """Object UID -> the UID of its controller, for the namespace's Deployments, Services and
    ConfigMaps."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    objects = [*apps.list_namespaced_deployment(namespace).items,
               *core.list_namespaced_service(namespace).items,
               *core.list_namespaced_config_map(namespace).items]  # fmt: skip
    return {
        o.metadata.uid: ref.uid
        for o in objects
        for ref in o.metadata.owner_references or []
        if ref.controller
    }


def test_changes_made_while_the_watches_were_down_are_all_seen(
    api: client.ApiClient, custom: client.CustomObjectsApi, core: client.CoreV1Api,
    models_namespace: tuple[str, Path], serve: Any, own_operators: Operators,
) -> None:  # fmt: skip
    namespace, _ = models_namespace
    # A long lease: the frozen operator is still the leader when it resumes.
    process, log = own_operators.start("frozen", TFMODEL_LEASE_SECONDS="600")
    wait_until(lambda: started(process, log), "the operator to start")
    uids = {}
    for name in ("a", "b", "c"):
        serve_ready(custom, namespace, serve, small(name))
        uids[name] = read(custom, namespace, name)["metadata"]["uid"]
    patch_spec(custom, namespace, "c", {"configPollSeconds": 2})  # generation 2
    wait_until(lambda: read(custom, namespace, "c")["status"]["observedGeneration"] == 2, "c")

    process.send_signal(signal.SIGSTOP)
    try:
        restart_apiserver()  # the watches are cut
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "a")
        core.delete_namespaced_config_map("b-models-config", namespace)
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "c")
        wait_until(lambda: "c" not in names(custom, namespace), "c to be deleted")
        new_c = create(custom, namespace, small("c", configPollSeconds=3))["metadata"]["uid"]
        compact_etcd()
        restart_apiserver()  # every watch must list again: its resourceVersion is compacted
        before = set(owner_uids(api, namespace))
    finally:
        process.send_signal(signal.SIGCONT)

    dead = {uids["a"], uids["c"]}
    made_for_the_dead: list[str] = []
    generations: list[tuple[int, int]] = []

    def converged() -> bool:
        made_for_the_dead.extend(
            uid for uid, owner in owner_uids(api, namespace).items()
            if owner in dead and uid not in before
        )  # fmt: skip
        c = read(custom, namespace, "c")
        observed = c.get("status", {}).get("observedGeneration", 0)
        generations.append((observed, c["metadata"]["generation"]))
        try:
            core.read_namespaced_config_map("b-models-config", namespace)
        except client.ApiException:
            return False
        children = [o for o in owner_uids(api, namespace).values() if o == new_c]
        ready = condition(c, "Ready").get("status") == "True"
        return ready and observed == c["metadata"]["generation"] and len(children) == 3

    try:
        wait_until(converged, "b's ConfigMap back and the new c Ready", timeout=90)
    except AssertionError as err:  # say what was left
        left = {uid: owner for uid, owner in owner_uids(api, namespace).items()}
        raise AssertionError(f"{err}; new c {new_c}, dead {dead}; children {left}; "
                             f"c: {read(custom, namespace, 'c').get('status')}") from None  # fmt: skip
    # What the lists brought is taken as it is: nothing is applied again while nothing changes.
    applied = log.read_text().count(f"Applied Deployment {namespace}/b")
    time.sleep(3 * RESYNC_SECONDS)
    assert log.read_text().count(f"Applied Deployment {namespace}/b") == applied
    assert process.poll() is None, log.read_text()[-3000:]
    assert made_for_the_dead == [], "children made for a TFModel that no longer exists"
    assert all(observed <= generation for observed, generation in generations), generations
    assert "listing again" in log.read_text()
    process.terminate()
    process.wait(timeout=30)


def names(custom: client.CustomObjectsApi, namespace: str) -> set[str]:
    found = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    return {item["metadata"]["name"] for item in found}


def test_a_leader_whose_connections_go_silent_hands_over_and_restarts_cost_nobody(
    custom: client.CustomObjectsApi, namespace: str, own_operators: Operators, tmp_path: Path,
) -> None:  # fmt: skip
    relay = Relay(16443)
    relayed = tmp_path / "relayed-kubeconfig"
    relayed.write_text(
        own_operators.kubeconfig.read_text().replace(
            "https://127.0.0.1:16443", f"https://127.0.0.1:{relay.port}"
        )
    )
    leader, leader_log = own_operators.start("relayed", kubeconfig=relayed)
    wait_until(lambda: started(leader, leader_log), "the relayed leader to start")
    standby, standby_log = own_operators.start("standby")
    wait_until(lambda: "Waiting for the lease" in standby_log.read_text(), "the standby")
    create(custom, namespace, small("before"))
    wait_until(lambda: read(custom, namespace, "before").get("status"), "the leader reconciles")

    relay.freeze()
    frozen_at = time.monotonic()
    leader.wait(timeout=3 * LEASE_SECONDS)
    exited = time.monotonic() - frozen_at
    wait_until(lambda: "Leading: holding the lease" in standby_log.read_text(), "the takeover")
    took_over = time.monotonic() - frozen_at
    create(custom, namespace, small("after"))
    wait_until(lambda: read(custom, namespace, "after").get("status"), "the standby reconciles")
    relay.close()
    print(f"\nsilent apiserver connections: the leader exited after {exited:.1f} s, the standby "
          f"led after {took_over:.1f} s (lease {LEASE_SECONDS:.0f} s)")  # fmt: skip
    assert exited <= LEASE_SECONDS, leader_log.read_text()[-3000:]
    assert exited < took_over  # no write of the old leader can follow the new one's
    assert "Lost the lease" in leader_log.read_text()
    standby.terminate()  # hands the Lease over
    standby.wait(timeout=30)

    # Three apiserver restarts (each a few seconds without an apiserver, within the renew
    # deadline of a production lease), with a leader and a standby. The next restart waits for
    # the leader's first renewal after the last one: on a slow machine a fresh apiserver
    # refuses the operator for a moment (its RBAC is not loaded yet), and restarts in a row
    # would add up to one outage longer than the renew deadline, which a leader must not outlive.
    steady = {"TFMODEL_LEASE_SECONDS": "15"}
    first, first_log = own_operators.start("steady-leader", **steady)
    wait_until(lambda: started(first, first_log), "the steady leader")
    second, second_log = own_operators.start("steady-standby", **steady)
    wait_until(lambda: "Waiting for the lease" in second_log.read_text(), "the steady standby")
    stop = threading.Event()
    errors: list[str] = []

    def watch_for_internal_errors() -> None:
        while not stop.wait(0.5):
            try:
                for name in ("before", "after"):
                    reason = condition(read(custom, namespace, name), "Ready").get("reason")
                    if reason == "InternalError":
                        errors.append(name)
            except Exception:
                pass  # the apiserver is away

    watcher = threading.Thread(target=watch_for_internal_errors, daemon=True)
    watcher.start()
    leases = client.CoordinationV1Api(custom.api_client)

    def renewed_since(moment: datetime) -> bool:
        lease = leases.read_namespaced_lease("tfmodel-operator", "tfmodel-system")
        return bool(lease.spec.renew_time and lease.spec.renew_time > moment)

    for _ in range(3):
        restart_apiserver()
        back = datetime.now(UTC)
        wait_until(lambda: renewed_since(back), "the leader to renew its lease", 10)  # noqa: B023
        time.sleep(1)
    patch_spec(custom, namespace, "after", {"configPollSeconds": 2})
    wait_until(
        lambda: read(custom, namespace, "after")["status"].get("observedGeneration") == 2,
        "a reconcile after the restarts",
    )
    stop.set()
    watcher.join()
    assert first.poll() is None, first_log.read_text()[-3000:]
    assert second.poll() is None, second_log.read_text()[-3000:]
    assert errors == []
    for process in (second, first):
        process.terminate()
        process.wait(timeout=30)
