"""I/O: leader election on a coordination.k8s.io Lease, with the kubernetes client's own
leaderelection, so that several replicas can run: one reconciles, the others stand by.

The leader renews the Lease in a background thread. A standby takes over once the leader has
not renewed it for the lease duration (a leader killed with its node). A leader that cannot
renew in time exits at once rather than reconcile beside its successor; its pod restarts as a
standby (controller-runtime does the same). A leader that stops on SIGTERM releases the Lease,
so a rolling update hands over in a second instead of a lease duration.
"""

import logging
import os
import socket
import threading

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger(__name__)


def wait_for_leadership(namespace: str, name: str, lease_seconds: int) -> str:
    """Block until this process holds the Lease `namespace/name`; return its identity."""
    identity = f"{socket.gethostname()}_{os.getpid()}"
    leading = threading.Event()

    def lost() -> None:
        log.error(
            "Lost the lease %s/%s; exiting so that only the new leader reconciles", namespace, name
        )
        logging.shutdown()
        os._exit(1)

    config = electionconfig.Config(  # type: ignore[no-untyped-call]
        LeaseLock(name, namespace, identity),  # type: ignore[no-untyped-call]
        lease_duration=lease_seconds,
        renew_deadline=lease_seconds * 2 / 3,
        retry_period=max(1.0, lease_seconds / 7.5),
        onstarted_leading=leading.set,
        onstopped_leading=lost,
    )
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


def release(namespace: str, name: str, identity: str) -> None:
    """Give the Lease up if this process still holds it: a standby takes it at its next try."""
    leases = client.CoordinationV1Api()
    try:
        lease = leases.read_namespaced_lease(name, namespace)
        if lease.spec is None or lease.spec.holder_identity != identity:
            return
        lease.spec.holder_identity = None
        leases.replace_namespaced_lease(name, namespace, lease)  # fails if renewed meanwhile
        log.info("Released the lease %s/%s", namespace, name)
    except ApiException as err:
        log.warning("Could not release the lease %s/%s: %s", namespace, name, err.reason)
