"""A hostile or broken "TF Serving" on a pod's IP, in tests: the tenant picks the image, so
whatever answers on port 8501 is untrusted input for the operator."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HostileServing:
    """Answers every GET with `body` (bytes), dripping `drip` seconds between bytes if set."""

    def __init__(self, ip: str, body: bytes, drip: float = 0.0) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    if outer.stopped.is_set():
                        return
                    self.wfile.write(body[i : i + 1] if drip else body[i:])
                    self.wfile.flush()
                    if not drip:
                        return
                    time.sleep(drip)

            def log_message(self, *_: Any) -> None:
                pass

        self.stopped = threading.Event()
        self.server = ThreadingHTTPServer((ip, 8501), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
