"""The HTTP transport, and the metrics TF Serving serves over it: a threading HTTP/1.1 server
that hands each request to a callable, and the Prometheus page.

`HttpServer` binds at construction but listens only on ``server_activate()`` (TF Serving's port
refuses connections until the initial models are loaded) and can cut its live keep-alive
connections when stopped; its handler reads the body (Content-Length or chunked) and passes
``(method, request target, body)`` to the ``respond`` callable it was given, which returns the
HTTP status, the Content-Type ("" for none) and the body. `uri_path` is the path as TF
Serving's evhttp layer hands it to the REST handler, query string included, and `path_only`
the path evhttp looks exact-path handlers (such as the Prometheus page) up by. The transport
knows nothing about models.

Metrics, as TF Serving's http_server.cc includes them (release 2.20.0): `Registry` holds
metrics as TensorFlow's ``monitoring`` library does (`Counter`, `Gauge`, `Sampler`: a histogram
with fixed bucket limits) and `Registry.page` writes them as
tensorflow_serving/util/prometheus_exporter.cc GeneratePage does. `ServingMetrics` is the part
of tensorflow_serving/servables/tensorflow/util.cc that the REST API records into (the
recording itself, per request, is in ``server``):

* ``/tensorflow/serving/request_count{model_name, status}``, a counter incremented once per
  request, status being error::Code_Name ("OK", "INVALID_ARGUMENT", "NOT_FOUND", ...)
  (RecordModelRequestCount);
* ``/tensorflow/serving/request_latency{model_name, API, entrypoint}``, microseconds,
  buckets Exponential(10, 1.8, 33) (RecordRequestLatency);
* ``/tensorflow/serving/runtime_latency{model_name, API, runtime}``, microseconds, same
  buckets, the time of Session::Run alone (RecordRuntimeLatency, predict_util.cc RunPredict).

The other metrics of a real server (TensorFlow core's, model load latencies, example counts
of :classify/:regress, batching) are not imitated.

What the exporter does, from prometheus_exporter.cc and the TensorFlow sources it relies on:

* a metric name has every character outside ``[a-zA-Z0-9_]`` replaced by ":" and "_" put in
  front if it starts with a digit ("/tensorflow/serving/request_count" ->
  ":tensorflow:serving:request_count"); label names get "_" for ``[^a-zA-Z0-9]``; in label
  values only backslash and double quote are escaped (a newline is written as is);
* metrics come in the order of their original names (CollectedMetrics keeps a std::map),
  the points of a metric in the order of their label values (a cell map keyed by the label
  array), labels in declaration order; a metric without points still gets its ``# TYPE``
  line; there are no ``# HELP`` lines and no timestamps; lines are joined by "\\n" and the
  page ends with one;
* a counter is ``# TYPE name counter`` with ``name{labels} value`` (%d), with no ``_total``;
  a gauge the same with ``gauge``;
* a histogram is ``# TYPE name histogram``, then per point one ``name_bucket{labels,le="L"}``
  per bucket with the cumulative count, the last bucket's ``le`` being "+Inf", then
  ``name_sum{labels}`` and ``name_count{labels}`` (the cumulative count). ``L`` and the sum
  are written by absl::StrCat(double), that is with six significant digits (printf "%g"):
  a sum of 1234567 microseconds is written "1.23457e+06";
* a histogram's bucket limits are the given ones plus DBL_MAX (sampler.cc ExplicitBuckets),
  Exponential(scale, growth, n) being scale, scale*growth, ... by repeated multiplication
  (ExponentialBuckets::ComputeBucketLimits); a value goes into the first bucket whose limit is
  *greater* than it (histogram.cc Histogram::Add, std::upper_bound), so a value equal to a
  limit is counted in the next bucket: prometheus_exporter_test.cc's Add(2) is under le="4".

The metrics are thread-safe: the HTTP server records from one thread per connection.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


class HttpServer(ThreadingHTTPServer):
    """Binds at construction but listens only on server_activate(); can drop live connections."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        respond: Callable[[str, str, bytes], tuple[int, str, bytes]],
    ) -> None:
        super().__init__(address, _Handler, bind_and_activate=False)
        # (method, request target, body) -> (HTTP status, Content-Type or "", body)
        self.respond = respond
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        try:
            self.server_bind()
        except BaseException:
            self.server_close()
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS lookup (getfqdn); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections too: a stopped pod must not keep answering."""
        with self._open_lock:
            for conn in self._open:
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's libevent server
    timeout = 30  # an idle keep-alive connection does not pin a thread forever
    server: HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: integration tests make many requests."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        status, content_type, payload = self.server.respond(method, self.path, self._read_body())
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


def uri_path(target: str) -> str:
    r"""EvHTTPRequest::uri_path(): the path *with* "?query" and "#fragment", as TF Serving sees it.

    util/net_http/server/internal/evhttp_request.cc:105-116 builds path_and_query = path + "?"
    + query + "#" + fragment, uri_path() returns it (:136), and model_servers/http_server.cc
    hands that to kPathRegex (:141) and ProcessRequest (:180). So the
    query is part of what the regexes of http_rest_api_util.cc match: in kModelStatusApiRegex
    `([^/:]+)` takes "M?x=1" as the model name (404 "Could not find any versions of model
    M?x=1"), while `(\d+)`, `(metadata)` and `:(predict)` do not fully match with a query
    after them (400 "Malformed request"). Only an absolute-form target loses its scheme and
    authority, as evhttp_uri_parse does.
    """
    if target.startswith("/"):
        return target
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
    rest = target[match.end() :] if match else target
    return rest if rest.startswith("/") else "/" + rest


def path_only(path: str) -> str:
    """evhttp_uri_get_path: `uri_path` without its "?query" and "#fragment".

    EvHTTPServer::DispatchEvRequest looks handlers registered for an exact path up by this
    (evhttp_server.cc:137-151), before any dispatcher, for every HTTP method.
    """
    return re.split(r"[?#]", path, maxsplit=1)[0]


# ---------------------------------------------------------------- metrics

# util.cc: "Scale of 10, power of 1.8 with bucket count 33 (~20 minutes)."
LATENCY_SCALE, LATENCY_GROWTH, LATENCY_BUCKETS = 10.0, 1.8, 33


def exponential_buckets(scale: float, growth_factor: float, bucket_count: int) -> list[float]:
    """monitoring::Buckets::Exponential: the limits, DBL_MAX included."""
    limits: list[float] = []
    bound = scale
    for _ in range(bucket_count):
        limits.append(bound)
        bound *= growth_factor
    return _with_dbl_max(limits)


def _with_dbl_max(limits: Iterable[float]) -> list[float]:
    result = list(limits)
    if not result or result[-1] != sys.float_info.max:
        result.append(sys.float_info.max)
    return result


class _Metric:
    kind = ""

    def __init__(self, registry: Registry, name: str, description: str, labels: tuple[str, ...]):
        self.name = name
        self.description = description
        self.label_names = labels
        self._lock = registry.lock

    def _key(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {labels}")
        return tuple(labels)


class Counter(_Metric):
    """monitoring::Counter<N>: int64 cells that only grow."""

    kind = "counter"

    def __init__(self, registry: Registry, name: str, description: str, labels: tuple[str, ...]):
        super().__init__(registry, name, description, labels)
        self.cells: dict[tuple[str, ...], int] = {}

    def increment_by(self, labels: tuple[str, ...], step: int = 1) -> None:
        if step < 0:
            raise ValueError("a counter never decreases")  # CounterCell::IncrementBy DCHECK
        key = self._key(labels)
        with self._lock:
            self.cells[key] = self.cells.get(key, 0) + step


class Gauge(_Metric):
    """monitoring::Gauge<int64_t, N>."""

    kind = "gauge"

    def __init__(self, registry: Registry, name: str, description: str, labels: tuple[str, ...]):
        super().__init__(registry, name, description, labels)
        self.cells: dict[tuple[str, ...], int] = {}

    def set(self, labels: tuple[str, ...], value: int) -> None:
        key = self._key(labels)
        with self._lock:
            self.cells[key] = value


class Sampler(_Metric):
    """monitoring::Sampler<N>: one histogram per label set, over fixed bucket limits."""

    kind = "histogram"

    def __init__(
        self,
        registry: Registry,
        name: str,
        description: str,
        labels: tuple[str, ...],
        bucket_limits: list[float],
    ):
        super().__init__(registry, name, description, labels)
        self.bucket_limits = _with_dbl_max(bucket_limits)
        self.cells: dict[tuple[str, ...], _Histogram] = {}

    def add(self, labels: tuple[str, ...], value: float) -> None:
        key = self._key(labels)
        with self._lock:
            cell = self.cells.get(key)
            if cell is None:
                cell = self.cells[key] = _Histogram(len(self.bucket_limits))
            index = bisect.bisect_right(self.bucket_limits, value)  # std::upper_bound
            cell.buckets[min(index, len(cell.buckets) - 1)] += 1
            cell.total += value


_M = TypeVar("_M", bound=_Metric)


class _Histogram:
    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.total = 0.0


class Registry:
    """monitoring::CollectionRegistry, one per server process, and PrometheusExporter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, description: str, *labels: str) -> Counter:
        return self._add(Counter(self, name, description, labels))

    def gauge(self, name: str, description: str, *labels: str) -> Gauge:
        return self._add(Gauge(self, name, description, labels))

    def sampler(
        self, name: str, description: str, labels: tuple[str, ...], bucket_limits: list[float]
    ) -> Sampler:
        return self._add(Sampler(self, name, description, labels, bucket_limits))

    def _add(self, metric: _M) -> _M:
        with self.lock:
            if metric.name in self._metrics:
                raise ValueError(f"Another metric with the same name already exists: {metric.name}")
            self._metrics[metric.name] = metric
        return metric

    def page(self) -> str:
        """PrometheusExporter::GeneratePage."""
        lines: list[str] = []
        with self.lock:
            for name in sorted(self._metrics):
                metric = self._metrics[name]
                prom_name = metric_name(name)
                lines.append(f"# TYPE {prom_name} {metric.kind}")
                if isinstance(metric, Sampler):
                    _histogram_lines(prom_name, metric, lines)
                elif isinstance(metric, Counter | Gauge):
                    for key in sorted(metric.cells):
                        labels = _labels(metric.label_names, key)
                        lines.append(f"{prom_name}{{{','.join(labels)}}} {metric.cells[key]:d}")
        return "\n".join(lines) + "\n"


def _histogram_lines(prom_name: str, metric: Sampler, lines: list[str]) -> None:
    last = len(metric.bucket_limits) - 1
    for key in sorted(metric.cells):
        cell = metric.cells[key]
        labels = _labels(metric.label_names, key)
        prefix = f"{prom_name}_bucket{{{','.join(labels)}{',' if labels else ''}"
        cumulative = 0
        for i, limit in enumerate(metric.bucket_limits):
            cumulative += cell.buckets[i]
            bound = six_digits(limit) if i < last else "+Inf"
            lines.append(f'{prefix}le="{bound}"}} {cumulative}')
        lines.append(f"{prom_name}_sum{{{','.join(labels)}}} {six_digits(cell.total)}")
        lines.append(f"{prom_name}_count{{{','.join(labels)}}} {cumulative}")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> list[str]:
    return [f'{label_name(n)}="{label_value(v)}"' for n, v in zip(names, values, strict=True)]


def metric_name(name: str) -> str:
    """GetPrometheusMetricName: valid format [a-zA-Z_:][a-zA-Z0-9_:]*."""
    new_name = re.sub(r"[^a-zA-Z0-9_]", ":", name)
    return f"_{new_name}" if re.match(r"[0-9]", new_name) else new_name


def label_name(name: str) -> str:
    """SanatizeLabelName: valid format [a-zA-Z_][a-zA-Z0-9_]*."""
    new_name = re.sub(r"[^a-zA-Z0-9]", "_", name)
    return f"_{new_name}" if re.match(r"[0-9]", new_name) else new_name


def label_value(value: str) -> str:
    """SanitizeLabelValue: only backslash and double quote are escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def six_digits(value: float) -> str:
    """absl::StrCat(double): numbers_internal::SixDigitsToBuffer, printf's "%g"."""
    return f"{value:g}"


class ServingMetrics(Registry):
    """The metrics of util.cc that the REST API records into, in a registry of their own."""

    def __init__(self) -> None:
        super().__init__()
        buckets = exponential_buckets(LATENCY_SCALE, LATENCY_GROWTH, LATENCY_BUCKETS)
        self.request_count = self.counter(
            "/tensorflow/serving/request_count",
            "The total number of requests.",
            "model_name",
            "status",
        )
        self.request_latency = self.sampler(
            "/tensorflow/serving/request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint"),
            buckets,
        )
        self.runtime_latency = self.sampler(
            "/tensorflow/serving/runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            buckets,
        )

    def record_request_count(self, model_name: str, status: str) -> None:
        self.request_count.increment_by((model_name, status))

    def record_request_latency(
        self, model_name: str, api: str, entrypoint: str, latency_usec: int
    ) -> None:
        self.request_latency.add((model_name, api, entrypoint), float(latency_usec))

    def record_runtime_latency(
        self, model_name: str, api: str, runtime: str, latency_usec: int
    ) -> None:
        self.runtime_latency.add((model_name, api, runtime), float(latency_usec))
