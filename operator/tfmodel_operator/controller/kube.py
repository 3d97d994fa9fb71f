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
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes import config as kubeconfig
from kubernetes.client.exceptions import ApiException as ApiException
from urllib3.exceptions import HTTPError

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.decision.conditions import Event
from tfmodel_operator.controller.decision.ownership import controlled_by, taken
from tfmodel_operator.controller.kinds import CHILDREN, TFMODEL, Kind, Manifest
from tfmodel_operator.controller.metrics import API_REQUESTS

log = logging.getLogger(__name__)

# (connect, each read) seconds for every request a reconcile makes.
TIMEOUT = (5.0, 20.0)
# Server-side apply as the operator, taking over fields others set (force).
APPLY = [("fieldManager", vocabulary.FIELD_MANAGER), ("force", "true")]
JSON_PATCH = "application/json-patch+json"
EVENTS = Kind("Event", "v1", "events")
# A resourceVersion no stored object can have (etcd revisions would have to reach 2**64): as
# an apply's precondition it lets the apply create the object and refuses (409) if it exists.
# (A resourceVersion in an apply is ignored when the object is created.)
CREATE_ONLY = str(2**64 - 1)
# The API's passing trouble: an error answer, or none (refused, reset, timed out). Retried.
TRANSIENT = (ApiException, HTTPError, OSError)


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

    def request(
        self,
        verb: str,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        not_found_ok: bool = False,
    ) -> Manifest | None:
        """One request with the deadline, counted by `verb` and code; the answer as the API
        serves it (JSON). An error answer raises ApiException (None for a 404 if `not_found_ok`)."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        url_method, url, headers, body, _ = self.api.param_serialize(
            method, path, query_params=query, header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(
            url_method, url, header_params=headers, body=body, _request_timeout=TIMEOUT
        )
        response.read()  # type: ignore[no-untyped-call]
        API_REQUESTS.labels(verb, str(response.status)).inc()
        if not_found_ok and response.status == 404:
            return None
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        result: Manifest = json.loads(response.data or b"{}")
        return result

    def read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object of that name as stored now, or None if there is none (only asked when a
        create finds the name taken: the cache holds only what TFModels control)."""
        path = CHILDREN[kind].path(namespace, name)
        return self.request("get", "GET", path, not_found_ok=True)

    def tfmodel_uid(self, namespace: str, name: str) -> str | None:
        """The UID of TFModel `name` as stored now (None: there is none)."""
        found = self.request("get", "GET", TFMODEL.path(namespace, name), not_found_ok=True)
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
            stored = self.request(
                "apply", "PATCH", CHILDREN[kind].path(namespace, name),
                {**manifest, "metadata": meta}, APPLY, "application/apply-patch+yaml",
            )  # fmt: skip
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
        options = {"propagationPolicy": "Background", "preconditions": {"uid": meta["uid"]}}
        path = CHILDREN[child["kind"]].path(meta["namespace"], meta["name"])
        try:
            self.request("delete", "DELETE", path, options)
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
        path = TFMODEL.path(namespace, name) + "/status"
        stored = self.request("patch", "PATCH", path, patch, content_type=JSON_PATCH)
        assert stored is not None
        return stored

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
        self.request("create", "POST", EVENTS.path(meta["namespace"]), body)


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
