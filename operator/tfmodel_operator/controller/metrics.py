"""The operator's Prometheus metrics (served by `tfmodel run --metrics-port`)."""

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

RECONCILES = Counter("tfmodel_reconciles", "Reconciles of one TFModel, by result", ["result"])
RECONCILE_SECONDS = Histogram(
    "tfmodel_reconcile_duration_seconds", "Time of one reconcile, TF Serving polls included"
)
QUEUE_DEPTH = Gauge("tfmodel_queue_depth", "TFModels waiting for a reconcile")
API_REQUESTS = Counter(
    "tfmodel_api_requests",
    "Requests the reconciles sent to the Kubernetes API (the watch streams are not counted)",
    ["verb", "code"],
)
SERVING_POLLS = Counter(
    "tfmodel_serving_polls", "TF Serving status requests to one pod, by result", ["result"]
)
SERVING_SECONDS = Histogram(
    "tfmodel_serving_poll_duration_seconds", "Time to ask one pod's TF Serving for its status"
)

PROMOTION_CHECKS = Counter(
    "tfmodel_promotion_checks", "Checks of a label move (all ready pods), by result", ["result"]
)
PROMOTION_CHECK_SECONDS = Histogram(
    "tfmodel_promotion_check_duration_seconds", "Time to check one label move on every ready pod"
)


class ReadyReasons(Collector):
    """TFModels by the status and reason of their Ready condition, counted at scrape time."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], tuple[str, str]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tfmodel_tfmodels", "TFModels by Ready status and reason", labels=["ready", "reason"]
        )
        for (ready, reason), count in sorted(Tally(self.by_key.values()).items()):
            family.add_metric([ready, reason], count)
        yield family


READY = ReadyReasons()
REGISTRY.register(READY)


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address)
