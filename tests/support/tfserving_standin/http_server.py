"""The HTTP transport: a threading HTTP/1.1 server that hands each request to a callable.

`HttpServer` binds at construction but listens only on ``server_activate()`` (TF Serving's port
refuses connections until the initial models are loaded) and can cut its live keep-alive
connections when stopped; its handler reads the body (Content-Length or chunked) and passes
``(method, request target, body)`` to the ``respond`` callable it was given, which returns the
HTTP status and the JSON body. `uri_path` is the path as TF Serving's evhttp layer hands it to
the REST handler, query string included. Nothing here knows about models.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpServer(ThreadingHTTPServer):
    """Binds at construction but listens only on server_activate(); can drop live connections."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], respond: Callable[[str, str, bytes], tuple[int, bytes]]
    ) -> None:
        super().__init__(address, _Handler, bind_and_activate=False)
        self.respond = respond  # (method, request target, body) -> (HTTP status, body)
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
        status, payload = self.server.respond(method, self.path, self._read_body())
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
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
