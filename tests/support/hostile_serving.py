"""A hostile or broken "TF Serving" on a pod's IP, in tests: the tenant picks the image, so
whatever answers on port 8501 is untrusted input for the operator."""

import contextlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

# b"[" * 100000 parses as nothing: Python's json gives up at its recursion limit.
NESTED_BRACKETS = b"[" * 100_000


def version_list(count: int) -> bytes:
    """A status answer listing `count` versions, as tightly as JSON allows (to fit many under
    the operator's size limit)."""
    entries = [{"version": n, "state": "END"} for n in range(1, count + 1)]
    return json.dumps({"model_version_status": entries}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    """What one path is answered. `drip`: seconds between bytes, of the body, or of everything
    from the status line on with `drip_head`. `silent`: read the request, never write a byte.
    `framing`: how the body's end is told (Content-Length, chunks, or closing the connection)."""

    body: bytes = b""
    status: int = 200
    drip: float = 0.0
    drip_head: bool = False
    silent: bool = False
    framing: Literal["length", "chunked", "close"] = "length"

    def wire(self) -> tuple[bytes, bytes]:
        """(status line and headers, the body as framed)."""
        framing = {
            "length": f"Content-Length: {len(self.body)}\r\n",
            "chunked": "Transfer-Encoding: chunked\r\n",
            "close": "Connection: close\r\n",
        }[self.framing]
        head = (
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n"
        ).encode()
        if self.framing != "chunked":
            return head, self.body
        chunks = [self.body[i : i + 4096] for i in range(0, len(self.body), 4096)]
        return head, b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


NOT_FOUND = Answer(b'{"error": "Servable not found"}', status=404)


class HostileServing:
    """A server on `ip`:8501. With `body` bytes, answers every GET with it, dripping `drip`
    seconds between bytes if set; with a mapping of paths to Answers, answers each path's GET
    and POST so and any other path 404. Every request is kept in `requests`."""

    def __init__(self, ip: str, body: bytes | Mapping[str, Answer], drip: float = 0.0) -> None:
        outer = self
        answers = body if isinstance(body, Mapping) else None
        every_get = Answer(body, drip=drip) if isinstance(body, bytes) else NOT_FOUND

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(b"")

            def do_POST(self) -> None:
                self.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def answer(self, request: bytes) -> None:
                outer.requests.append((self.command, self.path, request))
                if answers is None:
                    found = every_get if self.command == "GET" else NOT_FOUND
                else:
                    found = answers.get(self.path, NOT_FOUND)
                with contextlib.suppress(OSError):  # the client gave up: so do we
                    outer.send(self.wfile, found)

            def log_message(self, *_: Any) -> None:
                pass

        self.requests: list[tuple[str, str, bytes]] = []
        self.stopped = threading.Event()
        self.server = ThreadingHTTPServer((ip, 8501), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def send(self, out: Any, answer: Answer) -> None:
        if answer.silent:
            self.stopped.wait()
            return
        head, body = answer.wire()
        at_once, dripped = (b"", head + body) if answer.drip_head else (head, body)
        out.write(at_once)
        out.flush()
        if not answer.drip:
            out.write(dripped)
            return
        for i in range(len(dripped)):
            if self.stopped.is_set():
                return
            out.write(dripped[i : i + 1])
            out.flush()
            time.sleep(answer.drip)

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
