"""I/O: leader election on a coordination.k8s.io Lease, with the kubernetes client's own
leaderelection, so that several replicas can run: one reconciles, the others stand by.

The leader renews the Lease in a background thread. A standby takes over once the leader has
not renewed it for the lease duration (a leader killed with its node). A leader that cannot
renew in time exits at once rather than reconcile beside its successor; its pod restarts as a
standby (controller-runtime does the same). A leader that stops on SIGTERM releases the Lease,
so a rolling update hands over in a second instead of a lease duration.

Every Lease request has a deadline well below the renew deadline, and any failure to reach the
apiserver (an error answer or none) is one failed try, retried within the renew deadline: a
blip of the apiserver costs no replica. A watchdog exits once the last renewal is older than
the renew deadline, whatever the renewing thread is doing, so an old leader stops before a
standby can take the Lease (a lease duration after the last renewal). The Lease is not
renewed while the work loop is wedged (`trouble`): a standby takes over instead.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger(__name__)


class BoundedLeaseLock(LeaseLock):
    """The client's LeaseLock with a deadline on every request; a request that fails in any way
    is a failed try (the client's own lets transport errors end the election)."""

    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        namespace: str,
        identity: str,
        seconds: float,
        trouble: Callable[[], str],
    ) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = client.CoordinationV1Api(api)
        self.timeout = (seconds, seconds)
        self.trouble = trouble
        self.renewed_at: float | None = None  # monotonic time of the last write that held

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        try:
            lease = self.api_instance.read_namespaced_lease(
                name, namespace, _request_timeout=self.timeout
            )
        except Exception as err:  # 404 is told apart by its body; anything else is retried
            return False, err
        self.lease_reference = lease
        return True, self.get_lock_object(lease)  # type: ignore[no-untyped-call]

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        spec = self.get_lease_spec(election_record)  # type: ignore[no-untyped-call]
        body = client.V1Lease(metadata=client.V1ObjectMeta(name=name), spec=spec)
        return self._write(
            lambda: self.api_instance.create_namespaced_lease(
                namespace, body, _request_timeout=self.timeout
            )
        )

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        lease = self.lease_reference
        if lease is None:
            return False
        wedged = self.trouble()
        if wedged:
            log.error("Not renewing the lease %s/%s: %s", namespace, name, wedged)
            return False
        lease.spec = self.get_lease_spec(updated_record, lease.spec)  # type: ignore[no-untyped-call]
        return self._write(
            lambda: self.api_instance.replace_namespaced_lease(
                name, namespace, lease, _request_timeout=self.timeout
            )
        )

    def _write(self, request: Callable[[], Any]) -> bool:
        started = time.monotonic()
        try:
            self.lease_reference = request()
        except Exception as err:
            log.info("Could not write the lease %s/%s: %s", self.namespace, self.name, err)
            return False
        self.renewed_at = started  # the apiserver may have stored it as early as this
        return True


def wait_for_leadership(
    api: client.ApiClient,
    namespace: str,
    name: str,
    lease_seconds: int,
    trouble: Callable[[], str] = lambda: "",
) -> str:
    """Block until this process holds the Lease `namespace/name`; return its identity."""
    identity = f"{socket.gethostname()}_{os.getpid()}"
    leading = threading.Event()
    renew_deadline = lease_seconds * 2 / 3
    # Each try ends within half the renew deadline, so there are two at least before it passes.
    lock = BoundedLeaseLock(api, name, namespace, identity, renew_deadline / 2, trouble)

    def lost(why: str = "") -> None:
        log.error(
            "Lost the lease %s/%s%s; exiting so that only the new leader reconciles",
            namespace, name, f" ({why})" if why else "",
        )  # fmt: skip
        logging.shutdown()
        os._exit(1)

    def watchdog() -> None:
        leading.wait()
        while True:
            time.sleep(0.25)
            renewed = lock.renewed_at
            if renewed is not None and time.monotonic() - renewed > renew_deadline:
                lost(f"not renewed for {renew_deadline:.0f} s")

    config = electionconfig.Config(  # type: ignore[no-untyped-call]
        lock,
        lease_duration=lease_seconds,
        renew_deadline=renew_deadline,
        retry_period=max(1.0, lease_seconds / 7.5),
        onstarted_leading=leading.set,
        onstopped_leading=lost,
    )
    threading.Thread(target=watchdog, name="lease-watchdog", daemon=True).start()
    election = leaderelection.LeaderElection(config)  # type: ignore[no-untyped-call]

    def elect() -> None:
        try:
            election.run()  # type: ignore[no-untyped-call]
        except Exception:  # without the election nobody would ever lead: fail loudly instead
            log.exception("Leader election failed")
            logging.shutdown()
            os._exit(1)

    threading.Thread(target=elect, name="leader-election", daemon=True).start()
    log.info("Waiting for the lease %s/%s as %s", namespace, name, identity)
    leading.wait()
    log.info("Leading: holding the lease %s/%s as %s", namespace, name, identity)
    return identity


def release(api: client.ApiClient, namespace: str, name: str, identity: str) -> None:
    """Give the Lease up if this process still holds it: a standby takes it at its next try."""
    leases = client.CoordinationV1Api(api)
    timeout = (2.0, 2.0)
    try:
        lease = leases.read_namespaced_lease(name, namespace, _request_timeout=timeout)
        if lease.spec is None or lease.spec.holder_identity != identity:
            return
        lease.spec.holder_identity = None
        # Fails if renewed meanwhile.
        leases.replace_namespaced_lease(name, namespace, lease, _request_timeout=timeout)
        log.info("Released the lease %s/%s", namespace, name)
    except Exception as err:  # the standby takes it a lease duration later instead
        log.warning("Could not release the lease %s/%s: %s", namespace, name, err)
