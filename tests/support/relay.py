"""A TCP relay on 127.0.0.1 that a test can cut and restore: a network cut between clients
(the simulator) and a server (Mosquitto) while others stay connected to the server directly.

:meth:`TcpRelay.sever` closes every relayed connection (both sides, at once) and stops
listening, so reconnection attempts are refused, as when a farm's uplink goes down;
:meth:`TcpRelay.restore` listens again on the same port. Bytes are relayed unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["TcpRelay"]

_ACCEPT_POLL_S = 0.1


class TcpRelay:
    """Relays ``127.0.0.1:port`` to ``upstream_host:upstream_port``; ``port`` is chosen free."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.connections = 0
        self.severed = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> TcpRelay:
        """Listen (again) on ``port`` (a free one the first time) and relay what connects."""
        if self._listener is not None:
            raise RuntimeError("the relay is already listening")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(_ACCEPT_POLL_S)
        self.port = listener.getsockname()[1]
        self._stop.clear()
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()
        return self

    def sever(self) -> int:
        """Stop listening and close every relayed connection; return how many were open."""
        self._stop.set()
        if self._accepting is not None:
            self._accepting.join(5)
        if self._listener is not None:
            self._listener.close()
        self._listener = self._accepting = None
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            _close(sock)
        self.severed += len(open_sockets) // 2
        return len(open_sockets) // 2

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.sever()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
                self.connections += 1
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # closed by sever() or by the other side
        finally:
            with self._lock:
                self._sockets -= {source, target}
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
