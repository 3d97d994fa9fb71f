"""The operator settings integration tests run with: short periods, so that tests see in seconds
what takes a minute in a real cluster."""

from pathlib import Path

RESYNC_SECONDS = 3
RELOAD_GRACE_SECONDS = 5
OPERATOR_SETTINGS = {
    "TFMODEL_RESYNC_SECONDS": str(RESYNC_SECONDS),
    "TFMODEL_POLL_SECONDS": "0.5",
    # A settled TFModel's pods are asked again this often (in a cluster a pod whose TF Serving
    # stops answering also turns unready, which brings a reconcile at once; kwok pods do not).
    "TFMODEL_SLOW_CHECK_SECONDS": "4",
    "TFMODEL_LEADER_ELECT": "true",
    "TFMODEL_LEASE_SECONDS": "4",
    "TFMODEL_POLICY_FILE": str(Path(__file__).resolve().parent / "platform-policy.yaml"),
    "TFMODEL_RELOAD_GRACE_SECONDS": str(RELOAD_GRACE_SECONDS),
}
