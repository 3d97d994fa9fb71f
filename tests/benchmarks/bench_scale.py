"""Benchmark (a script, not a test; `make bench`): the operator at scale on the local control plane.

    .venv/bin/python tests/benchmarks/bench_scale.py [--n 500] [--idle 60] [--out bench.json]

It starts a control plane of its own (.bench-cluster, its own ports, an audit log of the
operator's ServiceAccount), runs the operator as that ServiceAccount with the production
settings, and prints one table (and writes it as JSON):

- burst: N TFModels created at once (8 client threads) until each has its ConfigMap, Service
  and Deployment and a status for its generation, against a bare client applying the same
  children server-side with 8 threads in the same run (the ratio is the figure);
- API requests per TFModel by verb from the burst until the operator stopped writing (the
  apiserver's audit log of the operator's user; watches counted apart);
- idle: writes, reads/s and CPU of the operator and of the apiserver with the operator, and the
  apiserver's CPU without it;
- operator RSS with 0, N and 2N TFModels; restart with N TFModels until each was reconciled
  once (and its writes); SIGTERM time with 2N; spec -> ConfigMap latency of a label move, with
  the serving pods' UIDs unchanged.

kwok pods run no TF Serving: the benchmark answers TF Serving's status API on every pod IP
itself (versions 1 and 2 AVAILABLE, labels as the last models.config set them), so that
TFModels settle as a healthy cluster's would. Timings are wall clock on this machine; the
ratios against the bare client are what carries over to other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "operator"), str(REPO / "tests")]

from kubernetes import client, config  # noqa: E402

from support.operator import install, kubectl, service_account_kubeconfig  # noqa: E402
from support.tfmodels import tfmodel  # noqa: E402
from tfmodel_operator.controller import spec  # noqa: E402
from tfmodel_operator.controller.decision import decide  # noqa: E402
from tfmodel_operator.controller.decision.observed import Observed  # noqa: E402

RUN = REPO / ".bench-cluster"
PORTS = {"ETCD_PORT": "33790", "ETCD_PEER_PORT": "33800", "API_PORT": "26443",
         "KCM_PORT": "20357", "SCHED_PORT": "20359"}  # fmt: skip
METRICS_PORT = 18081
OPERATOR_USER = "system:serviceaccount:tfmodel-system:tfmodel-operator"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
THREADS = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")
AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    users: ["{OPERATOR_USER}"]
  - level: None
"""


# --- the cluster and the processes -----------------------------------------------------------


def start_cluster() -> Path:
    subprocess.run([REPO / "tests/cluster/down.sh", RUN], check=False, capture_output=True)
    RUN.mkdir(exist_ok=True)
    (RUN / "audit-policy.yaml").write_text(AUDIT_POLICY)
    extra = (f"--audit-policy-file={RUN}/audit-policy.yaml --audit-log-path={RUN}/audit.log "
             "--audit-log-format=json --audit-log-maxsize=0")  # fmt: skip
    env = {**os.environ, **PORTS, "APISERVER_EXTRA_ARGS": extra}
    subprocess.run([REPO / "tests/cluster/up.sh", RUN], check=True, env=env)
    return RUN / "kubeconfig"


def pid_of(component: str) -> int:
    for line in (RUN / "pids").read_text().splitlines():
        pid, name = line.split()
        if name == component:
            return int(pid)
    raise LookupError(component)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


RUNNING: list[Operator] = []  # operators this benchmark started and has not stopped yet


class Operator:
    """`tfmodel run` as the operator's ServiceAccount; stopped by `stop`, or at exit."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        tfmodel_bin = Path(sys.executable).parent / "tfmodel"
        self.log = log.open("ab")
        start = self.log.tell()  # the log is appended to: look only at what this process writes
        self.process = subprocess.Popen(
            [tfmodel_bin, "run", "--all-namespaces", f"--metrics-port={METRICS_PORT}"],
            env=env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        RUNNING.append(self)

        def started() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited at start; see {log}")
            return "Started tfmodel-operator" in log.read_bytes()[start:].decode(errors="replace")

        wait(started, "the operator to start", 60)

    def stop(self) -> float:
        """SIGTERM; seconds until it exited."""
        RUNNING.remove(self)
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        return time.monotonic() - started


def scrape() -> dict[str, float]:
    """The operator's metrics, summed per family name."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).read()
    totals: dict[str, float] = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def wait(check: Any, what: str, timeout: float, every: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # the world is half-made; ask again
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- the audit log: the operator's requests --------------------------------------------------


class Audit:
    def __init__(self) -> None:
        self.path = RUN / "audit.log"

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, offset: int) -> list[dict[str, Any]]:
        with self.path.open("rb") as log:
            log.seek(offset)
            return [json.loads(line) for line in log if line.strip()]

    def last_write(self, offset: int) -> float:
        times = [e["requestReceivedTimestamp"] for e in self.since(offset) if e["verb"] in WRITES]
        return max((_epoch(t) for t in times), default=0.0)


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def by_verb(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event["verb"]] = counts.get(event["verb"], 0) + 1
    return dict(sorted(counts.items()))


# --- TF Serving's status API on every pod IP -----------------------------------------------


class StatusResponder:
    """Versions 1 and 2 AVAILABLE; a label resolves to what `labels` says (the benchmark updates
    it when it sees a new models.config, as TF Serving would after its poll). Each version has
    one signature (x float [-1, 2] -> y) and answers a predict with zeros, so a label move
    passes the promotion checks at the cost of their requests."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, int]] = {}  # model -> label -> version
        self.bound: set[str] = set()
        self.silent = False  # accept, read, never answer (a wedged TF Serving)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def bind(self, ips: set[str]) -> None:
        for ip in sorted(ips - self.bound):
            future = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(self.answer, ip, 8501), self.loop
            )
            future.result(timeout=5)
            self.bound.add(ip)

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in request.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                if length:
                    await reader.readexactly(length)
                path = request.split(b" ", 2)[1].decode()
                while self.silent:
                    await asyncio.sleep(1)
                status, body = self.route(path)
                payload = json.dumps(body).encode()
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def route(self, path: str) -> tuple[str, Any]:
        parts = path.strip("/").split("/")
        model = parts[2] if len(parts) > 2 else ""
        if len(parts) == 3:
            versions = [{"version": str(v), "state": "AVAILABLE",
                         "status": {"error_code": "OK", "error_message": ""}} for v in (2, 1)]  # fmt: skip
            return "200 OK", {"model_version_status": versions}
        if len(parts) == 6 and parts[3] == "labels":
            version = self.labels.get(model, {}).get(parts[4])
            if version is None:
                return "400 Bad Request", {"error": "Unrecognized servable version label"}
            return "200 OK", {"model_spec": {"name": model, "version": str(version)}}
        if len(parts) == 6 and parts[3] == "versions" and parts[5] == "metadata":
            return "200 OK", {"model_spec": {"name": model, "signature_name": "", "version": parts[4]},
                              "metadata": {"signature_def": {"signature_def": SIGNATURES}}}  # fmt: skip
        if len(parts) == 5 and parts[3] == "versions" and parts[4].endswith(":predict"):
            return "200 OK", {"outputs": [[0.0, 0.0]]}
        return "404 Not Found", {"error": "not found"}


PAIR = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "2", "name": ""}], "unknown_rank": False}}  # fmt: skip
SIGNATURES = {"serving_default": {"inputs": {"x": {**PAIR, "name": "x:0"}}, "outputs": {"y": {**PAIR, "name": "y:0"}},
                                  "method_name": "tensorflow/serving/predict", "defaults": {}}}  # fmt: skip


# --- the benchmark -----------------------------------------------------------------------------


class Bench:
    def __init__(self, kubeconfig: Path, n: int, idle: float, replicas: int = 1) -> None:
        self.kubeconfig, self.n, self.idle, self.replicas = kubeconfig, n, idle, replicas
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.audit = Audit()
        self.responder = StatusResponder()
        self.results: dict[str, Any] = {"n": n, "machine": machine()}
        self.operator_log = RUN / "operator.log"

    def prepare(self) -> None:
        nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": f"bench-node-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": f"bench-node-{i}"}},
            "status": {"allocatable": {"cpu": "256", "memory": "1Ti", "pods": "1000"},
                       "capacity": {"cpu": "256", "memory": "1Ti", "pods": "1000"}}}
            for i in range(3)]  # fmt: skip
        kubectl(
            self.kubeconfig,
            "create",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}),
        )
        install(self.kubeconfig)
        for namespace in ("bench", "bare"):
            self.namespace_with_models(namespace)
        self.as_operator = service_account_kubeconfig(self.kubeconfig, RUN / "operator.kubeconfig")

    def namespace_with_models(self, name: str) -> None:
        self.core.create_namespace({"metadata": {"name": name}})
        self.core.create_persistent_volume({"metadata": {"name": f"{name}-models"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
            "hostPath": {"path": str(RUN / "models")}, "claimRef": {"namespace": name, "name": "models"}}})  # fmt: skip
        self.core.create_namespaced_persistent_volume_claim(name, {"metadata": {"name": "models"}, "spec": {
            "accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}})  # fmt: skip
        wait(
            lambda: self.core.read_namespaced_service_account("default", name),
            "a ServiceAccount",
            30,
        )

    def body(self, i: int) -> dict[str, Any]:
        return tfmodel(f"m{i:05d}", replicas=self.replicas, versionLabels={"stable": 1},
                       resources={"requests": {"cpu": "10m", "memory": "16Mi"}})  # fmt: skip

    # -- the bare client: the same children, server-side applied, 8 threads
    def bare_client(self) -> float:
        manifests = []
        for i in range(self.n):
            meta = {"name": f"m{i:05d}", "namespace": "bare", "uid": f"bare-{i}", "generation": 1}
            body = {**self.body(i), "metadata": meta}
            outcome = decide.decide(Observed(tfmodel=body), spec.parse(body), now())
            for manifest in outcome.manifests:
                manifest["metadata"].pop("ownerReferences")  # no owner: the GC would collect them
                manifests.append(manifest)
        verbs = {"ConfigMap": self.core.patch_namespaced_config_map,
                 "Service": self.core.patch_namespaced_service,
                 "Deployment": self.apps.patch_namespaced_deployment}  # fmt: skip

        def apply(manifest: dict[str, Any]) -> None:
            meta = manifest["metadata"]
            verbs[manifest["kind"]](meta["name"], "bare", manifest, field_manager="bare", force=True,
                                    _content_type="application/apply-patch+yaml", _preload_content=False)  # fmt: skip

        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(apply, manifests))
        elapsed = time.monotonic() - started
        self.core.delete_namespace("bare")

        def gone() -> bool:
            try:
                self.core.read_namespace("bare")
            except client.ApiException as err:
                return err.status == 404
            return False

        wait(gone, "the bare namespace to be deleted", 600, 1)
        return elapsed

    # -- the operator's burst
    def burst(self, first: int, count: int) -> float:
        started = time.monotonic()

        def create(i: int) -> None:
            self.responder.labels[f"m{i:05d}"] = {"stable": 1}
            self.custom.create_namespaced_custom_object(
                "serving.tfmodel.io", "v1alpha1", "bench", "tfmodels", self.body(i)
            )

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(create, range(first, first + count)))
        total = first + count
        wait(
            lambda: self.all_applied(total), f"{total} TFModels with children and status", 900, 0.5
        )
        return time.monotonic() - started

    def all_applied(self, total: int) -> bool:
        self.bind_pods()
        deployments = self.apps.list_namespaced_deployment(
            "bench", resource_version="0", _preload_content=False
        )
        if len(json.loads(deployments.data)["items"]) < total:
            return False
        items = self.tfmodels()
        return len(items) == total and all(
            t.get("status", {}).get("observedGeneration") == t["metadata"]["generation"]
            for t in items
        )

    def tfmodels(self) -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(
            "serving.tfmodel.io", "v1alpha1", "bench", "tfmodels", resource_version="0"
        )
        return listed["items"]  # type: ignore[no-any-return]

    def bind_pods(self) -> None:
        pods = self.core.list_namespaced_pod("bench", resource_version="0", _preload_content=False)
        ips = {
            p["status"]["podIP"]
            for p in json.loads(pods.data)["items"]
            if p.get("status", {}).get("podIP")
        }
        self.responder.bind(ips)

    def settle(self, offset: int, quiet: float = 8.0) -> float:
        """Wait until every TFModel is Ready and the operator wrote nothing for `quiet` s."""
        started, started_at = time.monotonic(), time.time()
        timeout = max(300.0, self.n * 0.2)

        def settled() -> bool:
            self.bind_pods()
            ready = all(
                any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in t.get("status", {}).get("conditions", [])
                )
                for t in self.tfmodels()
            )
            return ready and time.time() - max(self.audit.last_write(offset), started_at) > quiet

        wait(settled, "every TFModel Ready and the operator quiet", timeout, 1.0)
        return time.monotonic() - started

    def idle_window(self, operator: Operator | None) -> dict[str, float]:
        api_pid = pid_of("kube-apiserver")
        offset = self.audit.mark()
        api_before = cpu_seconds(api_pid)
        op_before = cpu_seconds(operator.process.pid) if operator else 0.0
        time.sleep(self.idle)
        result = {"apiserver_cpu_pct": 100 * (cpu_seconds(api_pid) - api_before) / self.idle}
        if operator:
            events = [e for e in self.audit.since(offset) if e["verb"] != "watch"]
            result.update(
                writes=sum(e["verb"] in WRITES for e in events),
                reads_per_s=sum(e["verb"] in ("get", "list") for e in events) / self.idle,
                operator_cpu_pct=100 * (cpu_seconds(operator.process.pid) - op_before) / self.idle,
            )
        return result

    def label_moves(self, count: int = 5) -> dict[str, Any]:
        latencies = []
        for i in range(count):
            name = f"m{i:05d}"
            selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=server"
            pods_before = {
                p.metadata.uid
                for p in self.core.list_namespaced_pod("bench", label_selector=selector).items
            }
            started = time.monotonic()
            self.custom.patch_namespaced_custom_object(
                "serving.tfmodel.io",
                "v1alpha1",
                "bench",
                "tfmodels",
                name,
                {"spec": {"versionLabels": {"stable": 2}}},
            )

            def moved(cm: str = f"{name}-models-config") -> bool:
                return (
                    "value: 2"
                    in self.core.read_namespaced_config_map(cm, "bench").data["models.config"]
                )

            wait(moved, f"stable=2 in {name}'s models.config", 60, 0.01)
            latencies.append(time.monotonic() - started)
            self.responder.labels[name] = {"stable": 2}
            pods_after = {
                p.metadata.uid
                for p in self.core.list_namespaced_pod("bench", label_selector=selector).items
            }
            assert pods_after == pods_before, "a label move restarted pods"
        return {"median_s": statistics.median(latencies), "max_s": max(latencies),
                "moves": count, "pods_restarted": 0}  # fmt: skip

    def resizes(self, count: int = 10) -> dict[str, Any]:
        """`/scale` writes (as kubectl scale and the HPA make them) -> the Deployment's size."""
        latencies = []
        for i in range(count):
            name = f"m{i:05d}"
            size = self.replicas + 1 + i % 2  # up by one or two
            started = time.monotonic()
            self.custom.patch_namespaced_custom_object_scale(
                "serving.tfmodel.io", "v1alpha1", "bench", "tfmodels", name,
                {"spec": {"replicas": size}},
            )  # fmt: skip

            def resized(name: str = name, size: int = size) -> bool:
                return bool(
                    self.apps.read_namespaced_deployment(name, "bench").spec.replicas == size
                )

            wait(resized, f"{name}'s Deployment at {size} replicas", 60, 0.01)
            latencies.append(time.monotonic() - started)
            self.custom.patch_namespaced_custom_object_scale(
                "serving.tfmodel.io", "v1alpha1", "bench", "tfmodels", name,
                {"spec": {"replicas": self.replicas}},
            )  # fmt: skip
        return {"median_s": statistics.median(latencies), "max_s": max(latencies), "resizes": count}

    def run(self) -> dict[str, Any]:
        r = self.results
        self.prepare()
        r["bare_client_s"] = self.bare_client()
        operator = Operator(self.as_operator, self.operator_log)
        time.sleep(5)
        r["rss_mb"] = {"0": rss_mb(operator.process.pid)}

        offset = self.audit.mark()
        r["burst_s"] = self.burst(0, self.n)
        r["burst_ratio"] = r["burst_s"] / r["bare_client_s"]
        self.settle(offset)
        events = self.audit.since(offset)
        requests = by_verb([e for e in events if e["verb"] != "watch"])
        r["requests_per_tfmodel"] = {verb: count / self.n for verb, count in requests.items()}
        r["requests_per_tfmodel"]["total"] = sum(requests.values()) / self.n
        r["rss_mb"]["N"] = rss_mb(operator.process.pid)

        r["idle_with_operator"] = self.idle_window(operator)
        if self.replicas:  # label moves and TF Serving's answers need pods
            offset = self.audit.mark()
            r["label_move"] = self.label_moves()
            self.settle(offset)  # the moved labels' statuses are written before the operator stops
            # Every pod's TF Serving stops answering (accepts, never writes): after a minute of
            # backing off, what does the idle operator cost?
            self.responder.silent = True
            time.sleep(60)
            r["idle_silent_pods"] = self.idle_window(operator)
            self.responder.silent = False
            self.settle(self.audit.mark())
        offset = self.audit.mark()
        r["resize"] = self.resizes()
        self.settle(offset)

        r["sigterm_s_at_N"] = operator.stop()
        r["idle_without_operator"] = self.idle_window(None)

        offset = self.audit.mark()
        started = time.monotonic()
        operator = Operator(self.as_operator, self.operator_log)
        wait(
            lambda: scrape().get("tfmodel_tfmodels", 0) >= self.n,
            "every TFModel reconciled after a restart",
            max(300.0, self.n * 0.1),
            0.1,
        )
        r["restart_s"] = time.monotonic() - started
        time.sleep(5)
        restart = [e for e in self.audit.since(offset) if e["verb"] != "watch"]
        r["restart_requests"] = by_verb(restart)
        r["restart_writes"] = sum(e["verb"] in WRITES for e in restart)

        offset = self.audit.mark()
        r["burst2_s"] = self.burst(self.n, self.n)
        self.settle(offset)
        r["rss_mb"]["2N"] = rss_mb(operator.process.pid)
        r["sigterm_s_at_2N"] = operator.stop()
        return r


def now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")  # fmt: skip
    return f"{os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB"


def table(r: dict[str, Any]) -> str:
    n = r["n"]
    per = r["requests_per_tfmodel"]
    idle, alone = r["idle_with_operator"], r["idle_without_operator"]
    verbs = ", ".join(f"{v} {c:.1f}" for v, c in per.items() if v != "total")
    rows = [
        ("burst: N TFModels, all children applied", f"{r['burst_s']:.1f} s = {r['burst_ratio']:.2f}x a bare SSA client ({r['bare_client_s']:.1f} s, {THREADS} threads)"),
        ("API requests per TFModel until settled", f"{per['total']:.1f} ({verbs})"),
        ("idle: operator writes / reads", f"{idle['writes']} writes, {idle['reads_per_s']:.2f} reads/s"),
        ("idle: CPU", f"operator {idle['operator_cpu_pct']:.1f} % of a core; apiserver {idle['apiserver_cpu_pct']:.1f} % ({alone['apiserver_cpu_pct']:.1f} % without the operator)"),
        *([("idle, no pod answers (after 60 s)", f"operator {r['idle_silent_pods']['operator_cpu_pct']:.1f} % of a core, {r['idle_silent_pods']['writes']} writes")] if "idle_silent_pods" in r else []),
        ("operator RSS at 0 / N / 2N", f"{r['rss_mb']['0']:.0f} / {r['rss_mb']['N']:.0f} / {r['rss_mb']['2N']:.0f} MB"),
        ("restart with N TFModels", f"{r['restart_s']:.1f} s until each was reconciled, {r['restart_writes']} writes"),
        ("SIGTERM with N / 2N TFModels", f"{r['sigterm_s_at_N']:.2f} s / {r['sigterm_s_at_2N']:.2f} s"),
        ("/scale -> Deployment size", f"median {r['resize']['median_s']:.2f} s (max {r['resize']['max_s']:.2f} s), {r['resize']['resizes']} resizes"),
        *([("spec -> ConfigMap, label move", f"median {r['label_move']['median_s']:.2f} s (max {r['label_move']['max_s']:.2f} s), pods restarted: 0")] if "label_move" in r else []),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    lines = [
        f"tfmodel-operator scale benchmark, N={n}, idle window {r.get('idle_s', 0):.0f} s, {r['machine']}",
        "",
    ]
    lines += [f"| {'figure'.ljust(width)} | value |", f"| {'-' * width} | --- |"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("N", "500")))
    parser.add_argument("--idle", type=float, default=float(os.environ.get("IDLE", "60")))
    parser.add_argument(
        "--replicas",
        type=int,
        default=int(os.environ.get("REPLICAS", "1")),
        help="serving pods per TFModel (0: no pods, no label moves)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench-results.json")
    args = parser.parse_args()
    kubeconfig = start_cluster()
    try:
        results = Bench(kubeconfig, args.n, args.idle, args.replicas).run()
        results["idle_s"] = args.idle
    finally:  # a failed run leaves no operator and no cluster behind
        for operator in list(RUNNING):
            operator.stop()
        subprocess.run([REPO / "tests/cluster/down.sh", RUN], check=False)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\n(written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
