"""Fixtures for tests that run against the real local control plane."""

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from support.cluster import running_cluster
from support.operator import Operators, install, service_account_kubeconfig
from support.operator_settings import OPERATOR_SETTINGS
from support.polling import wait_until
from support.serving_pods import ServingPods
from support.tfserving_standin import make_saved_model


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[Path]:
    with running_cluster() as path:
        os.environ["KUBECONFIG"] = str(path)
        yield path


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, ready for pods (its default ServiceAccount exists)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    labels = getattr(request, "param", None) or {}
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    wait_until(
        lambda: core.read_namespaced_service_account("default", name),
        f"the default ServiceAccount in {name}",
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def operators(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operators]:
    """The operator, installed from crds/ and manifests/, running as its ServiceAccount with
    leader election (a failover test may replace it with a standby).

    A test that finds the leader dead fails: it must never crash.
    """
    install(kubeconfig)
    workdir = tmp_path_factory.mktemp("operator")
    as_operator = service_account_kubeconfig(kubeconfig, workdir / "kubeconfig")
    running = Operators(as_operator, workdir, OPERATOR_SETTINGS)
    try:  # whatever happens, every operator started here is stopped
        process, log = running.start("operator")

        def started() -> bool:
            if process.poll() is not None:
                raise pytest.fail(f"the operator exited at start:\n{log.read_text()[-5000:]}")
            return "Started tfmodel-operator" in log.read_text()

        wait_until(started, "the operator to start")
        running.leader = process
        yield running
        leader = running.leader
        assert leader.poll() is None, (
            f"the operator exited:\n{running.logs[leader.pid].read_text()[-5000:]}"
        )
    finally:
        running.stop_all()


@pytest.fixture(scope="session")
def operator(operators: Operators) -> Path:
    """The leading operator's log (tests that need the operator depend on this)."""
    assert operators.leader is not None
    return operators.logs[operators.leader.pid]


@pytest.fixture
def models_namespace(
    core: client.CoreV1Api, tmp_path: Path, operator: Path, saved_models: Path
) -> Iterator[tuple[str, Path]]:
    """A namespace that enforces Pod Security "restricted", with a bound `models` PVC whose
    volume is a directory of this test holding SavedModel versions 1-3 under vgg16/ (so tests
    can check that model data survives)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(
        {"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    models = tmp_path / "models"
    shutil.copytree(saved_models, models / "vgg16")
    core.create_persistent_volume(
        {
            "metadata": {"name": f"{name}-models"},
            "spec": {
                "capacity": {"storage": "20Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(models)},
                "claimRef": {"namespace": name, "name": "models"},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        name,
        {
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "20Gi"}},
            },
        },
    )
    wait_until(
        lambda: core.read_namespaced_service_account("default", name), "the default ServiceAccount"
    )
    yield name, models
    core.delete_namespace(name)
    core.delete_persistent_volume(f"{name}-models")


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real (tiny) SavedModels, versions 1-3, made once: y = x * version."""
    base = tmp_path_factory.mktemp("saved_models")
    for version in (1, 2, 3):
        make_saved_model(base / str(version), version)
    return base


@pytest.fixture
def serve(
    core: client.CoreV1Api, models_namespace: tuple[str, Path], tmp_path: Path
) -> Iterator[Callable[..., ServingPods]]:
    """Start TF Serving stand-ins on the pods of a TFModel: serve("vgg16", load_delay={2: 5})."""
    namespace, models = models_namespace
    started: list[ServingPods] = []

    def start(tfmodel: str, **options: Any) -> ServingPods:
        pods = ServingPods(
            core, namespace, tfmodel, models, tmp_path / f"pods-{tfmodel}", **options
        )
        started.append(pods.__enter__())
        return pods

    yield start
    for pods in started:
        pods.__exit__()
