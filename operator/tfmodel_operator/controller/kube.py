"""I/O only: the writes a reconcile makes (server-side apply, Job deletion, status, events).

Nothing here reads the cluster in the steady state: the operator observes through its watch
streams. Objects cross this boundary as plain dicts (camelCase, as the API serves them), so
the pure modules never see a client model class. Every request is counted by verb and code.
"""

import json
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes import config as kubeconfig
from kubernetes.client.exceptions import ApiException as ApiException  # the API's passing trouble

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.conditions import Event
from tfmodel_operator.controller.decision.observed import Manifest
from tfmodel_operator.controller.decision.ownership import taken
from tfmodel_operator.controller.metrics import API_REQUESTS

log = logging.getLogger(__name__)

APPLY: dict[str, Any] = {
    "field_manager": vocabulary.FIELD_MANAGER,
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


PATHS = {
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}",
}


def connect() -> client.ApiClient:
    """A client for the cluster this runs in, else for the current kubeconfig context."""
    try:
        kubeconfig.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubeconfig.ConfigException:
        kubeconfig.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class Refused(Exception):
    """The apiserver refused a child as invalid or forbidden: retrying unchanged will not help."""


class Taken(Exception):
    """A child's name is held by an object this TFModel does not control (the message says
    whose)."""


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
        networking = client.NetworkingV1Api(api)
        self.core, self.batch = core, batch
        self.custom = client.CustomObjectsApi(api)
        # kind -> server-side apply, for every kind of child
        self._patch: dict[str, Callable[..., Any]] = {
            "ConfigMap": core.patch_namespaced_config_map,
            "Service": core.patch_namespaced_service,
            "Deployment": apps.patch_namespaced_deployment,
            "Job": batch.patch_namespaced_job,
            "PodDisruptionBudget": client.PolicyV1Api(api).patch_namespaced_pod_disruption_budget,
            "NetworkPolicy": networking.patch_namespaced_network_policy,
        }
        # kind -> delete, for the children that are pruned
        self._delete: dict[str, Callable[..., Any]] = {
            "Job": batch.delete_namespaced_job,
            "NetworkPolicy": networking.delete_namespaced_network_policy,
        }

    def read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """A child the watch does not show (say, someone else's), or None if there is none.

        Served from the apiserver's cache (resourceVersion=0): this only asks whether a name is
        taken, which the object's owner settled long before, and costs etcd nothing.
        """
        path = PATHS[kind].format(namespace=namespace, name=name)
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, query_params=[("resourceVersion", "0")],
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(method, url, header_params=headers)
        response.read()  # type: ignore[no-untyped-call]
        API_REQUESTS.labels("get", str(response.status)).inc()
        if response.status == 404:
            return None
        if response.status != 200:
            raise ApiException(http_resp=response)
        result: Manifest = json.loads(response.data or b"{}")
        return result

    def apply(self, manifest: Manifest, uid: str | None) -> Manifest:
        """Server-side apply `manifest`; returns the object as the apiserver stored it.

        `uid` is the object observed under that name (None: none exists). It goes into the
        apply as a precondition: if the object was replaced since, by anyone, the apiserver
        refuses the apply instead of writing over the newcomer.
        """
        kind, meta = manifest["kind"], manifest["metadata"]
        patch = self._patch[kind]
        guarded = manifest if uid is None else {**manifest, "metadata": {**meta, "uid": uid}}
        try:
            stored = _call("apply", patch, meta["name"], meta["namespace"], guarded, **APPLY)
        except ApiException as err:
            reason = _reason(err)
            if uid and err.status == 422 and "metadata.uid" in reason:  # replaced since
                live = self.read(kind, meta["namespace"], meta["name"])
                held = taken(manifest, live) if live else f"{kind} {meta['name']} was replaced"
                raise Taken(held) from err
            if err.status in (400, 403, 422) or _schema_error(err):
                raise Refused(f"{kind} {meta['name']}: {reason}") from err
            raise  # 409 (gone since observed), 429, 5xx: the watch catches up; retried
        assert stored is not None
        return stored

    def delete(self, child: Manifest) -> None:
        """Remove a child that is no longer wanted (an export Job and its pods, a NetworkPolicy;
        never any model data); the UID precondition makes sure it is the object that was
        observed, not one made since."""
        meta = child["metadata"]
        options = client.V1DeleteOptions(
            propagation_policy="Background", preconditions=client.V1Preconditions(uid=meta["uid"])
        )
        try:
            _call(
                "delete", self._delete[child["kind"]], meta["name"], meta["namespace"], body=options
            )
        except ApiException as err:
            if err.status not in (404, 409):  # gone, or no longer the object we saw
                raise

    def replace_status(self, namespace: str, name: str, status: Manifest) -> Manifest:
        """Write the whole status; returns the TFModel as stored."""
        # A JSON patch replaces the whole status; a merge patch would keep labels that were removed.
        patch = [{"op": "add", "path": "/status", "value": status}]
        response = _call(
            "patch", self.custom.patch_namespaced_custom_object_status,
            vocabulary.GROUP, vocabulary.VERSION, namespace, vocabulary.PLURAL, name, patch,
            _content_type="application/json-patch+json",
        )  # fmt: skip
        assert response is not None
        return response

    def post_event(self, tfmodel: Manifest, event: Event) -> None:
        meta = tfmodel["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: Any = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": vocabulary.API_VERSION,
                "kind": vocabulary.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": vocabulary.FIELD_MANAGER},
            "reportingComponent": vocabulary.FIELD_MANAGER,
            "reportingInstance": socket.gethostname(),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        _call("create", self.core.create_namespaced_event, meta["namespace"], body)


def _call(
    verb: str, method: Callable[..., Any], *args: Any, not_found_ok: bool = False, **kwargs: Any
) -> Manifest | None:
    """One request, counted; the answer as the API serves it (JSON), None if not found and ok."""
    try:
        response = method(*args, _preload_content=False, **kwargs)
    except ApiException as err:
        API_REQUESTS.labels(verb, str(err.status)).inc()
        if not_found_ok and err.status == 404:
            return None
        raise
    API_REQUESTS.labels(verb, str(response.status)).inc()
    result: Manifest = json.loads(response.data)
    return result


def _reason(err: ApiException) -> str:
    try:
        return str(json.loads(err.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"{err.status} {err.reason}"


def _schema_error(err: ApiException) -> bool:
    """A 500 whose message shows the apiserver could not build the object from the schema
    (say, an unknown field inside an embedded object): retrying unchanged will not help."""
    return err.status == 500 and any(
        hint in _reason(err) for hint in ("field not declared in schema", "failed to create typed")
    )
