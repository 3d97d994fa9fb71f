"""I/O: one HTTP request to an untrusted server (a tenant's TF Serving, a model-sync sidecar),
bounded as a whole: one deadline covers connecting, the status line, the headers and every byte
of the body, whatever the server does, and the body has a size limit.

A socket timeout bounds only each wait for a byte, and http.client reads the status line and
headers in loops of its own: a watchdog shuts the socket down at the deadline. Used by the
operator (controller/tfserving.py) and the model-sync sidecar (storage/serving.py).
"""

import contextlib
import http.client
import socket
import threading
import time
from types import TracebackType
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 1.0  # seconds, within the deadline: a server that is gone costs no more
MAX_BODY = 1 << 20
READ_SIZE = 8192


class NoAnswer(Exception):
    """Nothing, or not all of the answer, before the deadline."""


class CannotConnect(Exception):
    """The pod refused the connection (or has no route)."""


def exchange(url: str, deadline: float, payload: bytes | None) -> tuple[int, bytes]:
    """(status, body) of one request, from connect to the body's last byte before `deadline`.

    A socket timeout bounds only each wait for a byte, and http.client reads the status line
    and headers in loops of its own: the watchdog bounds the whole."""
    parts = urlsplit(url)
    connect_timeout = min(CONNECT_TIMEOUT, time_left(deadline))
    connection = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=connect_timeout
    )
    try:
        connection.connect()
    except TimeoutError as err:
        raise NoAnswer("no connection") from err
    except OSError as err:
        raise CannotConnect(str(err)) from err
    with contextlib.closing(connection), Watchdog(connection.sock, deadline) as watchdog:
        try:
            answer = converse(connection, parts.path, payload, deadline)
        except (OSError, http.client.HTTPException) as err:
            if watchdog.cut_off or isinstance(err, TimeoutError):
                raise NoAnswer("the answer stopped") from err
            raise
        if watchdog.cut_off:  # a body of no stated length ends where it was cut off
            raise NoAnswer("the answer was cut off")
        return answer


def converse(
    connection: http.client.HTTPConnection, path: str, payload: bytes | None, deadline: float
) -> tuple[int, bytes]:
    """(status, body) of one request on a connected `connection`, at most MAX_BODY bytes."""
    sock = connection.sock  # kept: http.client drops it from `connection` if the pod will close
    sock.settimeout(time_left(deadline))
    if payload is None:
        connection.request("GET", path)
    else:
        connection.request("POST", path, payload, {"Content-Type": "application/json"})
    with connection.getresponse() as response:
        body = bytearray()
        # read1 returns whatever has arrived: the size limit holds however the pod splits it.
        while not response.isclosed():  # open, the socket is too (it closes with the body)
            sock.settimeout(time_left(deadline))
            chunk = response.read1(READ_SIZE)
            if not chunk:
                break
            body += chunk
            if len(body) > MAX_BODY:
                raise ValueError(f"answer larger than {MAX_BODY} bytes")
        return response.status, bytes(body)


def time_left(deadline: float) -> float:
    """Seconds until `deadline`; none left is as late as no answer at all."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise NoAnswer("the deadline passed")
    return left


class Watchdog:
    """Cuts a connection off at `deadline`: shutting its socket down makes a read blocked in
    http.client return at once. It shuts down its own duplicate of the socket, which nothing
    else closes, so it can never hit a descriptor reused since by another connection."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock.dup()
        self.lock = threading.Lock()
        self.cut_off = False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.cut)
        self.timer.daemon = True

    def cut(self) -> None:
        with self.lock:
            if self.sock.fileno() != -1:  # not closed by __exit__ already
                self.cut_off = True
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "Watchdog":
        self.timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.timer.cancel()
        with self.lock:
            self.sock.close()
