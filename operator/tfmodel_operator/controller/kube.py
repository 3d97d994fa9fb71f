"""I/O only: the writes a reconcile makes (create, server-side apply, Job deletion, status,
events).

Nothing here reads the cluster in the steady state: the operator observes through its
informers. Objects cross this boundary as plain dicts (camelCase, as the API serves them), so
the pure modules never see a client model class. Every request is counted by verb and code and
has a deadline: a silent connection fails the request, which is retried like any passing
trouble of the API (TRANSIENT), instead of wedging a worker.
"""

import json
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes import config as kubeconfig
from kubernetes.client.exceptions import ApiException as ApiException
from urllib3.exceptions import HTTPError

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.conditions import Event
from tfmodel_operator.controller.decision.observed import Manifest
from tfmodel_operator.controller.decision.ownership import controlled_by, taken
from tfmodel_operator.controller.metrics import API_REQUESTS

log = logging.getLogger(__name__)

# (connect, each read) seconds for every request a reconcile makes.
TIMEOUT = (5.0, 20.0)
APPLY: dict[str, Any] = {
    "field_manager": vocabulary.FIELD_MANAGER,
    "force": True,
    "_content_type": "application/apply-patch+yaml",
    "_request_timeout": TIMEOUT,
}
# A resourceVersion no stored object can have (etcd revisions would have to reach 2**64): as
# an apply's precondition it lets the apply create the object and refuses (409) if it exists.
# (A resourceVersion in an apply is ignored when the object is created.)
CREATE_ONLY = str(2**64 - 1)
# The API's passing trouble: an error answer, or none (refused, reset, timed out). Retried.
TRANSIENT = (ApiException, HTTPError, OSError)


PATHS = {
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}",
}


def connect(connections: int = 16) -> client.ApiClient:
    """A client for the cluster this runs in, else for the current kubeconfig context, keeping
    up to `connections` connections open (one per thread that uses it at once)."""
    try:
        kubeconfig.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubeconfig.ConfigException:
        kubeconfig.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


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
        policy = client.PolicyV1Api(api)
        # kind -> server-side apply, for every kind of child
        self._patch: dict[str, Callable[..., Any]] = {
            "ConfigMap": core.patch_namespaced_config_map,
            "Service": core.patch_namespaced_service,
            "Deployment": apps.patch_namespaced_deployment,
            "Job": batch.patch_namespaced_job,
            "PodDisruptionBudget": policy.patch_namespaced_pod_disruption_budget,
            "NetworkPolicy": networking.patch_namespaced_network_policy,
        }
        # kind -> delete, for the children that are pruned (superseded export Jobs, a
        # NetworkPolicy no longer asked for, children an earlier TFModel of the name left)
        self._delete: dict[str, Callable[..., Any]] = {
            "ConfigMap": core.delete_namespaced_config_map,
            "Service": core.delete_namespaced_service,
            "Deployment": apps.delete_namespaced_deployment,
            "Job": batch.delete_namespaced_job,
            "PodDisruptionBudget": policy.delete_namespaced_pod_disruption_budget,
            "NetworkPolicy": networking.delete_namespaced_network_policy,
        }

    def read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object of that name as stored now, or None if there is none (only asked when a
        create finds the name taken: the cache holds only what TFModels control)."""
        path = PATHS[kind].format(namespace=namespace, name=name)
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        response = self.api.call_api(method, url, header_params=headers, _request_timeout=TIMEOUT)
        response.read()  # type: ignore[no-untyped-call]
        API_REQUESTS.labels("get", str(response.status)).inc()
        if response.status == 404:
            return None
        if response.status != 200:
            raise ApiException(http_resp=response)
        result: Manifest = json.loads(response.data or b"{}")
        return result

    def tfmodel_uid(self, namespace: str, name: str) -> str | None:
        """The UID of TFModel `name` as stored now (None: there is none)."""
        found = _call(
            "get", self.custom.get_namespaced_custom_object, vocabulary.GROUP, vocabulary.VERSION,
            namespace, vocabulary.PLURAL, name, not_found_ok=True, _request_timeout=TIMEOUT,
        )  # fmt: skip
        return str(found["metadata"]["uid"]) if found else None

    def apply(self, manifest: Manifest, uid: str | None, owner: str) -> Manifest:
        """Server-side apply `manifest`; returns the object as the apiserver stored it.

        `uid` is the object observed under that name, and goes into the apply as a
        precondition: if the object was replaced since, by anyone, the apiserver refuses the
        apply instead of writing over the newcomer. With none observed, the apply may only
        create: if the name is taken (409), the holder is applied over only if TFModel `owner`
        controls it (its labels were edited away, so the informers lost sight of it); anyone
        else's object is `Taken`, never adopted.
        """
        kind, meta = manifest["kind"], manifest["metadata"]
        if uid is None:
            try:
                return self._apply({**meta, "resourceVersion": CREATE_ONLY}, manifest)
            except ApiException as err:
                if err.status != 409:
                    raise
                live = self.read(kind, meta["namespace"], meta["name"])
                if live is None:
                    raise  # deleted again meanwhile: retried
                if not controlled_by(live, owner):
                    raise Taken(taken(manifest, live)) from err
                uid = str(live["metadata"]["uid"])
        try:
            return self._apply({**meta, "uid": uid}, manifest)
        except ApiException as err:
            if err.status == 422 and "metadata.uid" in _reason(err):  # replaced since
                live = self.read(kind, meta["namespace"], meta["name"])
                held = taken(manifest, live) if live else f"{kind} {meta['name']} was replaced"
                raise Taken(held) from err
            raise

    def _apply(self, meta: Manifest, manifest: Manifest) -> Manifest:
        kind, name, namespace = manifest["kind"], meta["name"], meta["namespace"]
        try:
            stored = _call(
                "apply", self._patch[kind], name, namespace, {**manifest, "metadata": meta}, **APPLY
            )
        except ApiException as err:
            invalid = err.status in (400, 403, 422) and "metadata.uid" not in _reason(err)
            if invalid or _schema_error(err):
                raise Refused(f"{kind} {name}: {_reason(err)}") from err
            raise  # 409 (taken, or gone since observed), 429, 5xx: the cache catches up; retried
        assert stored is not None
        return stored

    def delete(self, child: Manifest) -> None:
        """Remove a child that is no longer wanted (an export Job and its pods, a NetworkPolicy,
        what an earlier TFModel of the name left; never any model data); the UID precondition
        makes sure it is the object that was observed, not one made since."""
        meta = child["metadata"]
        options = client.V1DeleteOptions(
            propagation_policy="Background", preconditions=client.V1Preconditions(uid=meta["uid"])
        )
        try:
            _call(
                "delete", self._delete[child["kind"]], meta["name"], meta["namespace"],
                body=options, _request_timeout=TIMEOUT,
            )  # fmt: skip
        except ApiException as err:
            if err.status not in (404, 409):  # gone, or no longer the object we saw
                raise

    def replace_status(self, namespace: str, name: str, uid: str, status: Manifest) -> Manifest:
        """Write the whole status of TFModel `uid`; returns the TFModel as stored. If the name
        now belongs to another TFModel (deleted and created again), the patch fails (its test
        of the UID): one TFModel's status never lands on its successor."""
        # A JSON patch replaces the whole status; a merge patch would keep labels that were removed.
        patch = [
            {"op": "test", "path": "/metadata/uid", "value": uid},
            {"op": "add", "path": "/status", "value": status},
        ]
        response = _call(
            "patch", self.custom.patch_namespaced_custom_object_status,
            vocabulary.GROUP, vocabulary.VERSION, namespace, vocabulary.PLURAL, name, patch,
            _content_type="application/json-patch+json", _request_timeout=TIMEOUT,
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
        _call(
            "create", self.core.create_namespaced_event, meta["namespace"], body,
            _request_timeout=TIMEOUT,
        )  # fmt: skip


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
