"""Running the operator (`tfmodel run` starts here), and the kopf wiring: the only module that
imports kopf.

kopf runs the process: the event loop, start-up and clean-up, logging and the liveness
endpoint. The watching is the operator's own (informer.py): one informer per watched kind fills
the cache (cache.py) with slim projections of the TFModels and of what they control, and a
re-list replaces what the cache held, so it converges to the truth after any watch outage.
The workers start once every informer has made its first list, so the first reconcile already
sees every child. Each change only queues its TFModel's key; a few workers take keys from the
queue (one reconcile per TFModel at a time, repeated events coalesced) and run the reconcile in
threads. A poll loop re-queues TFModels whose config is on its way into TF Serving; the
periodic resync re-queues every TFModel from memory, without a request. A heartbeat of the
event loop and of each reconcile tells the liveness probe and the Lease whether work goes on.

kopf writes nothing on a TFModel (no finalizer, no progress annotations), so a TFModel stays
deletable without the operator.
"""

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from tfmodel_operator import __version__, vocabulary
from tfmodel_operator.controller import election, informer, metrics, tfserving
from tfmodel_operator.controller.cache import Store
from tfmodel_operator.controller.heartbeat import HEARTBEAT
from tfmodel_operator.controller.kinds import Key
from tfmodel_operator.controller.kube import Kube, connect
from tfmodel_operator.controller.metrics import QUEUE_DEPTH
from tfmodel_operator.controller.reconciler import Reconciler, Result
from tfmodel_operator.controller.settings import Settings
from tfmodel_operator.controller.workqueue import WorkQueue

log = logging.getLogger(__name__)

# Children change in bursts (a rollout's status steps, pods starting): their changes wait this
# long so that a burst becomes one reconcile and one status write. TFModel changes do not wait.
CHILD_EVENT_DELAY = 1.0


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # The CRD is installed before the operator; watching CRDs and namespaces would only widen RBAC.
    settings.scanning.disabled = True
    run: Settings = memo.settings  # read once by `tfmodel run`
    loop = asyncio.get_running_loop()
    memo.queue = queue = WorkQueue[Key]()

    def changed(kind: str, keys: set[Key]) -> None:  # called in the informers' threads
        delay = 0.0 if kind == vocabulary.KIND else CHILD_EVENT_DELAY
        for key in keys:
            loop.call_soon_threadsafe(queue.add_soon, key, delay)

    memo.store = Store()
    memo.stop = threading.Event()
    # The watches hold one connection each; the reconciles' requests get a pool of their own.
    watches = informer.start(connect(), run.namespaces, memo.store, changed, memo.stop)
    memo.reconciler = Reconciler(Kube(connect()), tfserving, run)
    memo.pool = ThreadPoolExecutor(max_workers=run.workers, thread_name_prefix="reconcile")
    memo.tasks = [asyncio.create_task(beat_forever())]
    for watch in watches:  # every kind listed once: no reconcile sees a partial world
        await loop.run_in_executor(None, watch.synced.wait)
    memo.tasks += [asyncio.create_task(work(memo)) for _ in range(run.workers)]
    memo.tasks.append(asyncio.create_task(poll_forever(memo, run.poll_seconds)))
    memo.tasks.append(asyncio.create_task(resync_forever(memo, run.resync_seconds)))
    for key in memo.store.tfmodel_keys():
        queue.add(key)
    log.info(
        "Started tfmodel-operator: %d workers, %d objects cached", run.workers, len(memo.store)
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.stop.set()
    for task in memo.tasks:
        task.cancel()
    memo.pool.shutdown(wait=False, cancel_futures=True)


def run(chosen: Settings) -> int:
    """Run the operator until it is stopped: metrics, leader election, then kopf."""
    if chosen.metrics_port:
        metrics.serve(chosen.metrics_port, HEARTBEAT.trouble)
    kopf.configure(verbose=chosen.verbose, log_format=kopf.LogFormat[chosen.log_format.upper()])
    if not chosen.verbose:  # kopf logs every handled event ("Handler ... succeeded"): many a second
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    log.info("tfmodel-operator %s: %s", __version__, chosen.describe())

    identity = ""  # who this process is in the Lease, once it leads
    lease_api = connect(connections=2) if chosen.leader_elect else None
    if lease_api is not None:
        identity = election.wait_for_leadership(
            lease_api, chosen.lease_namespace, vocabulary.FIELD_MANAGER, chosen.lease_seconds,
            HEARTBEAT.trouble,
        )  # fmt: skip
    kopf.run(
        standalone=True,
        clusterwide=not chosen.namespaces,
        namespaces=chosen.namespaces,
        liveness_endpoint=chosen.liveness,
        memo=kopf.Memo(settings=chosen),
    )
    if lease_api is not None:  # stopped cleanly: hand over now, before the renewing thread runs
        election.release(lease_api, chosen.lease_namespace, vocabulary.FIELD_MANAGER, identity)
        logging.shutdown()
        os._exit(0)
    return 0


@kopf.on.probe(id="work")
def work_probe(**_: Any) -> str:
    """kopf's liveness endpoint fails while the work loop is wedged."""
    trouble = HEARTBEAT.trouble()
    if trouble:
        raise kopf.PermanentError(trouble)
    return "beating"


# --- the loops -----------------------------------------------------------------------------------


async def beat_forever() -> None:
    while True:
        HEARTBEAT.beat()
        await asyncio.sleep(1.0)


async def work(memo: kopf.Memo) -> None:
    queue: WorkQueue[Key] = memo.queue
    loop = asyncio.get_running_loop()
    while True:
        key = await queue.get()
        QUEUE_DEPTH.set(len(queue))
        try:
            watched = memo.store.view(key)
            with HEARTBEAT.working(key):
                reconcile = memo.reconciler.reconcile
                result = await loop.run_in_executor(memo.pool, reconcile, key, watched)
        except Exception:  # never lose the worker: the key is retried
            log.exception("Reconcile of TFModel %s/%s failed", *key)
            result = Result.ERROR
        finally:
            queue.done(key)
        if result is Result.ERROR:
            queue.retry(key)
            continue
        queue.succeeded(key)
        if result is Result.AGAIN:  # it acted (checks, writes): look again at what it made
            queue.add(key)


async def poll_forever(memo: kopf.Memo, poll_seconds: float) -> None:
    """Re-queue TFModels whose config is on its way into TF Serving, when their poll is due."""
    reconciler: Reconciler = memo.reconciler
    while True:
        await asyncio.sleep(poll_seconds / 2)
        for key in reconciler.schedule.due():
            memo.queue.add(key)


async def resync_forever(memo: kopf.Memo, resync_seconds: float) -> None:
    """Re-queue every TFModel from memory (no request); unchanged ones are skipped cheaply."""
    while True:
        await asyncio.sleep(resync_seconds)
        for key in memo.store.tfmodel_keys():
            memo.queue.add(key)
