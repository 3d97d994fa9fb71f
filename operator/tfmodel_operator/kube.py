"""I/O only: server-side apply of children, observation, and the TFModel's status.

Objects cross this boundary as plain dicts (camelCase, as the API serves them), so the pure
modules never see a client model class.
"""

import json
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes import config as kubeconfig
from kubernetes.client.exceptions import ApiException

from tfmodel_operator import config as c
from tfmodel_operator.ownership import controlled_by
from tfmodel_operator.plan import Plan
from tfmodel_operator.render import Manifest, config_map_name, is_applied, server_selector
from tfmodel_operator.spec import TFModel
from tfmodel_operator.status import Event

log = logging.getLogger(__name__)

APPLY = {
    "field_manager": c.FIELD_MANAGER,
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


def connect() -> client.ApiClient:
    """A client for the cluster this runs in, else for the current kubeconfig context."""
    try:
        kubeconfig.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubeconfig.ConfigException:
        kubeconfig.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


@dataclass(frozen=True)
class Children:
    config_map: Manifest | None
    deployment: Manifest | None
    pods: list[Manifest]
    jobs: list[Manifest]
    export_pods: list[Manifest]

    def plan(self) -> Plan | None:
        """The plan last written into models.config, read back from the ConfigMap."""
        annotations = (self.config_map or {}).get("metadata", {}).get("annotations") or {}
        return Plan.from_json(annotations.get(c.PLAN, ""))

    def config_written(self) -> datetime | None:
        """When the operator last changed the ConfigMap (its server-side apply timestamp)."""
        entries = (self.config_map or {}).get("metadata", {}).get("managedFields") or []
        times = [
            e["time"] for e in entries if e.get("manager") == c.FIELD_MANAGER and e.get("time")
        ]
        return (
            datetime.strptime(max(times), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if times
            else None
        )


class Refused(Exception):
    """The apiserver refused a child as invalid or forbidden: retrying unchanged will not help."""


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        # kind -> (read, server-side apply) for every kind of child
        core, apps, batch = self.core, self.apps, self.batch
        self._verbs: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
            "ConfigMap": (core.read_namespaced_config_map, core.patch_namespaced_config_map),
            "Service": (core.read_namespaced_service, core.patch_namespaced_service),
            "Deployment": (apps.read_namespaced_deployment, apps.patch_namespaced_deployment),
            "Job": (batch.read_namespaced_job, batch.patch_namespaced_job),
        }

    def live(self, manifest: Manifest) -> Manifest | None:
        """The object `manifest` would be applied over, or None if there is none."""
        read, _ = self._verbs[manifest["kind"]]
        return _raw(read, manifest["metadata"]["name"], manifest["metadata"]["namespace"])

    def apply(self, manifest: Manifest, live: Manifest | None) -> bool:
        """Server-side apply `manifest` unless `live` already matches; True if written.

        The caller has checked that `live` is controlled by the TFModel (ownership.conflict).
        """
        _, patch = self._verbs[manifest["kind"]]
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        if live is not None and is_applied(manifest, live):
            return False
        try:
            patch(name, namespace, manifest, **APPLY)
        except ApiException as err:
            if err.status in (400, 403, 409, 422):
                raise Refused(f"{manifest['kind']} {name}: {_reason(err)}") from err
            raise
        log.debug("Applied %s %s/%s", manifest["kind"], namespace, name)
        return True

    def observe(self, tfmodel: TFModel) -> Children:
        """The live children the plan and the status are computed from."""
        namespace = tfmodel.namespace
        server = ",".join(f"{k}={v}" for k, v in server_selector(tfmodel).items())
        exports = f"{c.LABEL_INSTANCE}={tfmodel.name},{c.LABEL_COMPONENT}=export"
        config_map = _raw(self.core.read_namespaced_config_map, config_map_name(tfmodel), namespace)
        deployment = _raw(self.apps.read_namespaced_deployment, tfmodel.name, namespace)
        jobs = _items(self.batch.list_namespaced_job, namespace, exports)

        def ours(obj: Manifest | None) -> Manifest | None:
            return obj if obj is not None and controlled_by(obj, tfmodel.uid) else None

        # What another owner holds under our names or labels is neither read nor pruned.
        return Children(
            config_map=ours(config_map),
            deployment=ours(deployment),
            pods=_items(self.core.list_namespaced_pod, namespace, server),
            jobs=[job for job in jobs if ours(job)],
            export_pods=_items(self.core.list_namespaced_pod, namespace, exports),
        )

    def delete_job(self, job: Manifest) -> None:
        """Remove a superseded export Job and its pods (never any model data); the UID
        precondition makes sure it is the Job that was observed, not one made since."""
        meta = job["metadata"]
        try:
            options = client.V1DeleteOptions(
                propagation_policy="Background",
                preconditions=client.V1Preconditions(uid=meta["uid"]),
            )
            self.batch.delete_namespaced_job(meta["name"], meta["namespace"], body=options)
        except ApiException as err:
            if err.status not in (404, 409):  # gone, or no longer the Job we saw
                raise

    def read_tfmodel(self, namespace: str, name: str) -> Manifest | None:
        return _raw(
            self.custom.get_namespaced_custom_object, c.GROUP, c.VERSION, namespace, c.PLURAL, name
        )

    def list_tfmodels(self, namespaces: Sequence[str]) -> list[tuple[str, str]]:
        """(namespace, name) of every TFModel in `namespaces`, or in the cluster if empty."""
        lists: list[Any]
        if namespaces:
            lists = [
                self.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, ns, c.PLURAL)
                for ns in namespaces
            ]
        else:
            lists = [self.custom.list_cluster_custom_object(c.GROUP, c.VERSION, c.PLURAL)]
        return [
            (item["metadata"]["namespace"], item["metadata"]["name"])
            for listed in lists
            for item in listed["items"]
        ]

    def replace_status(self, namespace: str, name: str, status: Manifest) -> None:
        # A JSON patch replaces the whole status; a merge patch would keep labels that were removed.
        self.custom.patch_namespaced_custom_object_status(
            c.GROUP, c.VERSION, namespace, c.PLURAL, name,
            [{"op": "add", "path": "/status", "value": status}],
            _content_type="application/json-patch+json",
        )  # fmt: skip

    def post_event(self, tfmodel: Manifest, event: Event) -> None:
        meta = tfmodel["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: Any = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": c.API_VERSION,
                "kind": c.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": c.FIELD_MANAGER},
            "reportingComponent": c.FIELD_MANAGER,
            "reportingInstance": socket.gethostname(),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.core.create_namespaced_event(meta["namespace"], body)


def _raw(read: Callable[..., Any], *args: str) -> Manifest | None:
    """The object as the API serves it, or None if it does not exist."""
    try:
        return _json(read(*args, _preload_content=False))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _items(list_: Callable[..., Any], namespace: str, selector: str) -> list[Manifest]:
    items: list[Manifest] = _json(
        list_(namespace, label_selector=selector, _preload_content=False)
    )["items"]
    return items


def _json(response: Any) -> Manifest:
    result: Manifest = json.loads(response.data)
    return result


def _reason(err: ApiException) -> str:
    try:
        return str(json.loads(err.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"{err.status} {err.reason}"
