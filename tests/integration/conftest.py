"""Fixtures for tests that run against the real local control plane."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from support.cluster import running_cluster
from support.polling import wait_until


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
