"""The kopf entry point and the only module that imports kopf.

One idempotent reconcile, run when a TFModel is created, resumed or its spec changes, when one
of its children changes (so a hand edit is undone and readiness is reported at once), every few
seconds while a config change is on its way into TF Serving, and by a periodic resync of every
TFModel (pods that cannot be scheduled, retries). A reconcile that
finds nothing to change writes nothing. No kopf timer or daemon is used: kopf would put a
finalizer on every TFModel for them, and a TFModel must stay deletable without the operator.
"""

import asyncio
import os
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import kopf

from tfmodel_operator import config as c
from tfmodel_operator import jobs, ownership, plan, render, serving, spec, status
from tfmodel_operator.kube import Kube, Refused, connect

RESYNC_SECONDS = float(os.environ.get("TFMODEL_RESYNC_SECONDS", "30"))
# While a config change is on its way into TF Serving, its status is polled this often.
POLL_SECONDS = float(os.environ.get("TFMODEL_POLL_SECONDS", "2"))
# How long after models.config changed a pod may still serve the old one: the kubelet's
# ConfigMap sync (up to about a minute plus its cache TTL) on top of TF Serving's own poll.
RELOAD_GRACE_SECONDS = float(os.environ.get("TFMODEL_RELOAD_GRACE_SECONDS", "120"))
RETRY_SECONDS = 30
OWNED = {c.LABEL_MANAGED_BY: c.FIELD_MANAGER}
OWNED_SELECTOR = f"{c.LABEL_MANAGED_BY}={c.FIELD_MANAGER}"
CHILDREN = [("apps", "deployments"), ("batch", "jobs"), ("v1", "services"), ("v1", "configmaps")]


@kopf.on.startup()
async def start(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300  # long watches silently stall otherwise (kopf#585)
    settings.watching.client_timeout = 310
    # The CRD is installed before the operator; watching CRDs and namespaces would only widen RBAC.
    settings.scanning.disabled = True
    # Children are watched through a server-side label selector: the operator receives events
    # for its own ConfigMaps, Services, Deployments and Jobs, not for every one in the cluster.
    for group, plural in CHILDREN:
        settings.watching.label_selectors[group, plural] = OWNED_SELECTOR
    memo.kube = Kube(connect())
    memo.locks = defaultdict(threading.Lock)
    memo.unsettled = set()  # (namespace, name) of TFModels whose config is still moving
    memo.resync = asyncio.create_task(resync_forever(memo, logger))
    logger.info("Started tfmodel-operator; resync every %.0f s", RESYNC_SECONDS)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.resync.cancel()


@kopf.on.resume(c.GROUP, c.VERSION, c.PLURAL)
@kopf.on.create(c.GROUP, c.VERSION, c.PLURAL)
@kopf.on.update(c.GROUP, c.VERSION, c.PLURAL, field="spec")
def tfmodel_changed(
    name: str, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    try:
        reconcile(memo, str(namespace), name, logger)
    except Refused as err:  # reported in the status already; let kopf retry with backoff
        raise kopf.TemporaryError(str(err), delay=RETRY_SECONDS) from err


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
@kopf.on.event("v1", "services", labels=OWNED)
@kopf.on.event("v1", "configmaps", labels=OWNED)
def child_changed(
    meta: kopf.Meta, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    owners = [ref["name"] for ref in meta.get("ownerReferences", []) if ref.get("kind") == c.KIND]
    for owner in owners:
        reconcile_or_warn(memo, str(namespace), owner, logger)


async def resync_forever(memo: kopf.Memo, logger: kopf.Logger) -> None:
    """Poll TFModels whose config is moving; reconcile every TFModel each resync period."""
    namespaces = memo.get("namespaces", ())
    loop = asyncio.get_running_loop()
    last_resync = loop.time()
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            if loop.time() - last_resync >= RESYNC_SECONDS:
                last_resync = loop.time()
                tfmodels = await asyncio.to_thread(memo.kube.list_tfmodels, namespaces)
            else:
                tfmodels = sorted(memo.unsettled)
            for namespace, name in tfmodels:
                await asyncio.to_thread(reconcile_or_warn, memo, namespace, name, logger)
        except Exception:  # one bad pass must not end resyncing: log it and try again later
            logger.exception("Resync failed; retrying in %.0f s", POLL_SECONDS)


def reconcile_or_warn(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> None:
    """Reconcile; a refused child is already in the status, so it is only logged here."""
    try:
        reconcile(memo, namespace, name, logger)
    except Refused as err:
        logger.warning("TFModel %s/%s is degraded: %s", namespace, name, err)


def reconcile(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> None:
    """observe -> plan -> render -> apply -> status, for one TFModel at a time."""
    key = (namespace, name)
    with memo.locks[key]:
        kube: Kube = memo.kube
        body = kube.read_tfmodel(namespace, name)  # fresh, so `previous` is really the last write
        if body is None or body["metadata"].get("deletionTimestamp"):
            memo.unsettled.discard(key)
            return  # gone or going: the garbage collector removes the children
        previous = body.get("status") or {}
        generation = body["metadata"].get("generation", 0)
        now = datetime.now(UTC)
        try:
            tfmodel = spec.parse(body)
        except spec.InvalidSpec as err:  # the user's to fix: report it, do not retry
            memo.unsettled.discard(key)
            publish(kube, body, status.invalid(generation, err, previous, now), logger)
            return
        children = kube.observe(tfmodel)
        current = children.plan()
        names = {label for label, _ in tfmodel.version_labels + (current.labels if current else ())}
        pods = serving.observe(children.pods, tfmodel.model_name, names)
        served = {v for pod in pods for v in pod.available()}
        exports = jobs.decide(tfmodel, children.jobs, children.export_pods, served)
        desired = plan.gated(plan.desired_plan(tfmodel), exports.pending, current)
        decision = plan.next_plan(desired, current, pods)
        manifests = render.desired(tfmodel, decision.plan, exports.apply).in_apply_order()
        lives = [kube.live(manifest) for manifest in manifests]
        conflicts = [
            problem
            for manifest, live in zip(manifests, lives, strict=True)
            if (problem := ownership.conflict(manifest, live, tfmodel.uid))
        ]
        if conflicts:  # touch nothing: not ours to change, and nothing half-created
            memo.unsettled.discard(key)
            new = status.child_conflict(generation, "; ".join(conflicts), previous, now)
            publish(kube, body, new, logger)
            return
        written: list[str] = []
        try:
            for manifest, live in zip(manifests, lives, strict=True):
                if kube.apply(manifest, live):
                    written.append(manifest["kind"])
                    logger.info("Applied %s %s", manifest["kind"], manifest["metadata"]["name"])
        except Refused as err:
            publish(kube, body, status.apply_failed(generation, str(err), previous, now), logger)
            raise
        by_name = {job["metadata"]["name"]: job for job in children.jobs}
        for job in exports.prune:
            kube.delete_job(by_name[job])
            logger.info("Deleted superseded export Job %s", job)
        if written:
            children = kube.observe(tfmodel)
        observed = status.Observed(
            deployment=children.deployment,
            pods=children.pods,
            serving=pods,
            config_written=now if "ConfigMap" in written else children.config_written(),
        )
        new = status.compute(
            tfmodel, decision, observed, previous, now, RELOAD_GRACE_SECONDS, exports
        )
        publish(kube, body, new, logger)
        settled = any(
            cond["type"] == status.CONFIG_APPLIED and cond["status"] == "True"
            for cond in new["conditions"]
        )
        if settled or not pods:  # nothing to poll: pod events bring the next reconcile
            memo.unsettled.discard(key)
        else:
            memo.unsettled.add(key)


def publish(kube: Kube, body: dict[str, Any], current: dict[str, Any], logger: kopf.Logger) -> None:
    """Write the status only if it changed; post events only on condition transitions."""
    previous = body.get("status") or {}
    if current == previous:
        return
    meta = body["metadata"]
    kube.replace_status(meta["namespace"], meta["name"], current)
    for event in status.events(previous, current):
        kube.post_event(body, event)
        logger.info("%s: %s", event.reason, event.message)
