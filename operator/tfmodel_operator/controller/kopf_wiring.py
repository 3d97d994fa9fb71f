"""Running the operator (`tfmodel run` starts here), and the kopf wiring: the only module that
imports kopf.

kopf's watch streams feed in-memory indexes of slim projections: TFModels, and the
ConfigMaps, Services, Deployments, Jobs and pods that carry the operator's label, keyed by the
TFModel they belong to. kopf fills every index from its initial listing before any event
handler runs, so the first reconcile already sees every child. Each event only queues its
TFModel's key; a few workers take keys from the queue (one reconcile per TFModel at a time,
repeated events coalesced) and run the reconcile in threads. A poll loop re-queues TFModels
whose config is on its way into TF Serving; the periodic resync re-queues every TFModel from
memory, without a request.

Only event and index handlers are used: kopf writes nothing on a TFModel for them (no
finalizer, no progress annotations), so a TFModel stays deletable without the operator.
"""

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from tfmodel_operator import __version__, vocabulary
from tfmodel_operator.controller import election, metrics
from tfmodel_operator.controller.decision.observed import Key, Packed, owner_key, pack
from tfmodel_operator.controller.kube import Kube, connect
from tfmodel_operator.controller.metrics import QUEUE_DEPTH
from tfmodel_operator.controller.reconciler import Reconciler, Watched
from tfmodel_operator.controller.settings import Settings
from tfmodel_operator.controller.workqueue import WorkQueue

log = logging.getLogger(__name__)

OWNED = {vocabulary.LABEL_MANAGED_BY: vocabulary.FIELD_MANAGER}
OWNED_SELECTOR = f"{vocabulary.LABEL_MANAGED_BY}={vocabulary.FIELD_MANAGER}"
# Children change in bursts (a rollout's status steps, pods starting): their events wait this
# long so that a burst becomes one reconcile and one status write. TFModel events do not wait.
CHILD_EVENT_DELAY = 1.0
WATCHED = [("apps", "deployments"), ("batch", "jobs"), ("v1", "services"),
           ("v1", "configmaps"), ("v1", "pods"), ("policy", "poddisruptionbudgets"),
           ("networking.k8s.io", "networkpolicies")]  # fmt: skip


@kopf.on.startup()
async def start(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    settings.watching.server_timeout = 300  # long watches silently stall otherwise (kopf#585)
    settings.watching.client_timeout = 310
    # The CRD is installed before the operator; watching CRDs and namespaces would only widen RBAC.
    settings.scanning.disabled = True
    # Children and pods are watched through a server-side label selector: the operator receives
    # its own objects, not every ConfigMap or pod in the cluster.
    for group, plural in WATCHED:
        settings.watching.label_selectors[group, plural] = OWNED_SELECTOR
    run: Settings = memo.settings  # read once by `tfmodel run`
    memo.indexes = {name: kwargs[name] for name in INDEXES}  # kopf keeps them up to date
    memo.queue = WorkQueue[Key]()
    memo.reconciler = Reconciler(Kube(connect()), run)
    memo.pool = ThreadPoolExecutor(max_workers=run.workers, thread_name_prefix="reconcile")
    memo.warm = asyncio.Event()  # set by the first event: every index is filled by then
    memo.tasks = [asyncio.create_task(work(memo, logger)) for _ in range(run.workers)]
    memo.tasks.append(asyncio.create_task(poll_forever(memo, run.poll_seconds)))
    memo.tasks.append(asyncio.create_task(resync_forever(memo, run.resync_seconds)))
    logger.info("Started tfmodel-operator: %d workers", run.workers)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.tasks:
        task.cancel()
    memo.pool.shutdown(wait=False, cancel_futures=True)


def run(chosen: Settings) -> int:
    """Run the operator until it is stopped: metrics, leader election, then kopf."""
    if chosen.metrics_port:
        metrics.serve(chosen.metrics_port)
    kopf.configure(verbose=chosen.verbose, log_format=kopf.LogFormat[chosen.log_format.upper()])
    if not chosen.verbose:  # kopf logs every handled event ("Handler ... succeeded"): many a second
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    log.info("tfmodel-operator %s: %s", __version__, chosen.describe())

    identity = ""  # who this process is in the Lease, once it leads
    if chosen.leader_elect:
        connect()  # the Lease is read and renewed with the same credentials
        identity = election.wait_for_leadership(
            chosen.lease_namespace, vocabulary.FIELD_MANAGER, chosen.lease_seconds
        )
    kopf.run(
        standalone=True,
        clusterwide=not chosen.namespaces,
        namespaces=chosen.namespaces,
        liveness_endpoint=chosen.liveness,
        memo=kopf.Memo(settings=chosen),
    )
    if chosen.leader_elect:  # stopped cleanly: hand over now, before the renewing thread runs
        election.release(chosen.lease_namespace, vocabulary.FIELD_MANAGER, identity)
        logging.shutdown()
        os._exit(0)
    return 0


# --- the caches ------------------------------------------------------------------------------


@kopf.index(vocabulary.GROUP, vocabulary.VERSION, vocabulary.PLURAL)
def tfmodels(name: str, namespace: str | None, body: kopf.Body, **_: Any) -> dict[Key, Packed]:
    return {(str(namespace), name): pack(vocabulary.KIND, body)}


def _child_index(kind: str) -> Any:
    def index(body: kopf.Body, **_: Any) -> dict[Key, Packed] | None:
        key = owner_key(body)
        return {key: pack(kind, body)} if key else None

    return index


# (kwarg and index name, kind, group-version, plural)
CHILD_INDEXES = [("configmaps", "ConfigMap", "v1", "configmaps"),
                 ("services", "Service", "v1", "services"),
                 ("deployments", "Deployment", "apps/v1", "deployments"),
                 ("jobs", "Job", "batch/v1", "jobs"),
                 ("budgets", "PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
                 ("networkpolicies", "NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
                 ("pods", "Pod", "v1", "pods")]  # fmt: skip
for _id, _kind, _api, _plural in CHILD_INDEXES:
    kopf.index(_api, _plural, labels=OWNED, id=_id)(_child_index(_kind))
INDEXES = ["tfmodels", *(entry[0] for entry in CHILD_INDEXES)]


@kopf.on.event(vocabulary.GROUP, vocabulary.VERSION, vocabulary.PLURAL)
async def tfmodel_event(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    memo.warm.set()
    memo.queue.add((str(namespace), name))


@kopf.on.event("v1", "configmaps", labels=OWNED)
@kopf.on.event("v1", "services", labels=OWNED)
@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=OWNED)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=OWNED)
@kopf.on.event("v1", "pods", labels=OWNED)
async def child_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.warm.set()
    key = owner_key(body)
    if key:
        memo.queue.add_soon(key, CHILD_EVENT_DELAY)


def snapshot(memo: kopf.Memo, key: Key) -> Watched:
    """One TFModel's objects from the indexes (in the event loop, where kopf updates them)."""
    indexes = memo.indexes

    def values(index: str) -> list[Packed]:
        found = indexes[index].get(key)
        return list(found) if found else []

    kinds = ("configmaps", "services", "deployments", "jobs", "budgets", "networkpolicies")
    children = [obj for index in kinds for obj in values(index)]
    return Watched(next(iter(values("tfmodels")), None), children, values("pods"))


# --- the loops -----------------------------------------------------------------------------------


async def work(memo: kopf.Memo, logger: kopf.Logger) -> None:
    queue: WorkQueue[Key] = memo.queue
    loop = asyncio.get_running_loop()
    while True:
        key = await queue.get()
        QUEUE_DEPTH.set(len(queue))
        try:
            watched = snapshot(memo, key)
            done = await loop.run_in_executor(memo.pool, memo.reconciler.reconcile, key, watched)
        except Exception:  # never lose the worker: the key is retried
            logger.exception("Reconcile of TFModel %s/%s failed", *key)
            done = False
        finally:
            queue.done(key)
        if done:
            queue.succeeded(key)
        else:
            queue.retry(key)


async def poll_forever(memo: kopf.Memo, poll_seconds: float) -> None:
    """Re-queue TFModels whose config is on its way into TF Serving, when their poll is due."""
    reconciler: Reconciler = memo.reconciler
    while True:
        await asyncio.sleep(poll_seconds / 2)
        now = time.monotonic()
        for key in list(reconciler.unsettled):
            if reconciler.is_due(key, now):
                memo.queue.add(key)


async def resync_forever(memo: kopf.Memo, resync_seconds: float) -> None:
    """Re-queue every TFModel from memory (no request); unchanged ones are skipped cheaply."""
    await memo.warm.wait()
    while True:
        await asyncio.sleep(resync_seconds)
        for key in list(memo.indexes["tfmodels"]):
            memo.queue.add(key)
