"""I/O: the sidecar's state over HTTP, for the operator and the kubelet.

    GET /state  200 {"source": "s3://models/vgg16", "lastSync": "2025-01-31T12:00:00Z" | null,
                     "versions": [1, 2], "error": ""}
    GET /ready  200 once a first complete sync is done (the startup probe: TF Serving starts
                after it), 503 before

`versions` are the ones present in the local directory, `lastSync` the end of the last poll that
had no error, `error` the last poll's trouble in one line ("" when none). Answers are small and
bounded: the operator reads them as it reads TF Serving's.
"""

import json
import socket
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_ERROR = 1000  # characters
REQUEST_TIMEOUT = 5.0  # seconds a client may take to send its request


@dataclass(frozen=True)
class Snapshot:
    source: str
    last_sync: str | None = None
    versions: tuple[int, ...] = ()
    error: str = ""
    ready: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "lastSync": self.last_sync,
            "versions": list(self.versions),
            "error": self.error,
        }


@dataclass
class SyncState:
    """What the sync loop last found; read by the HTTP threads."""

    current: Snapshot
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, **changes: Any) -> None:
        with self.lock:
            if "error" in changes:
                changes["error"] = " ".join(changes["error"].split())[:MAX_ERROR]
            self.current = replace(self.current, **changes)

    def snapshot(self) -> Snapshot:
        with self.lock:
            return self.current


def serve(state: SyncState, listen: str) -> ThreadingHTTPServer:
    """Answer /state and /ready on `listen` (HOST:PORT; an IPv6 host with or without [ ])
    from a thread of its own, until the process ends."""
    host, port = address(listen)

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT

        def do_GET(self) -> None:
            now = state.snapshot()
            if self.path == "/state":
                self.answer(200, now.document())
            elif self.path == "/ready":
                ready = now.ready
                self.answer(200 if ready else 503, {"ready": ready, "error": now.error})
            else:
                self.answer(404, {"error": "GET /state or /ready"})

        def answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: probes every few seconds are not news."""

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="state", daemon=True).start()
    return server


def address(listen: str) -> tuple[str, int]:
    """HOST:PORT as (host, port); ValueError naming `listen` if it is not one."""
    host, _, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"--listen {listen!r}: not HOST:PORT")
    return host, int(port)
