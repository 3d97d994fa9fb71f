"""A TCP relay to the apiserver that can freeze: its connections stay open but carry nothing
more in either direction, as through a network that went silent (a half-open connection)."""

import socket
import threading


class Relay:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            if self.frozen.is_set():  # accepted, and then nothing
                self.sockets.append(near)
                continue
            far = socket.create_connection(self.target)
            self.sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.frozen.is_set():
                    return  # dropped: a silent network delivers nothing, now or later
                sink.sendall(data)
        except OSError:
            pass
        if not self.frozen.is_set():
            for end in (source, sink):
                end.close()

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self.listener.close()
        for end in self.sockets:
            end.close()
