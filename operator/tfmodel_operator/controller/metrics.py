"""The operator's Prometheus metrics (served by `tfmodel run --metrics-port`)."""

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

RECONCILES = Counter("tfmodel_reconciles", "Reconciles of one TFModel, by result", ["result"])
RECONCILE_SECONDS = Histogram(
    "tfmodel_reconcile_duration_seconds", "Time of one reconcile, TF Serving polls included"
)
QUEUE_DEPTH = Gauge("tfmodel_queue_depth", "TFModels waiting for a reconcile")
API_REQUESTS = Counter(
    "tfmodel_api_requests",
    "Requests the reconciles sent to the Kubernetes API (not the informers' lists and watches)",
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


def serve(port: int, trouble: Callable[[], str], address: str = "0.0.0.0") -> None:
    """/metrics, and /healthz for the liveness probe: 500 with `trouble()` while it says what is
    wedged (a standby waiting for the Lease serves both too)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                code, kind, body = 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
            elif self.path == "/healthz":
                wedged = trouble()
                code, kind, body = (500 if wedged else 200), "text/plain", (wedged or "ok").encode()
            else:
                code, kind, body = 404, "text/plain", b"not found"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # probes every few seconds: not worth a line
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
