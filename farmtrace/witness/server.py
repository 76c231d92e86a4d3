"""The witness's HTTP interface (stdlib ``http.server``, one thread per connection, keep-alive).

* ``POST <prefix>/add-checkpoint``: the body must come with a ``Content-Length`` of at most
  :data:`MAX_BODY` bytes (``411`` without one, ``413`` above, before a byte of it is read);
  then :meth:`Witness.add_checkpoint` answers.
* ``GET <prefix>/<lowercase hex SHA-256 of the origin>/checkpoint``: the monitoring read.

Anything else is ``404`` (``405`` for another method on a known path). A database failure is
``503`` (the request was fine, the witness could not store it); bad input never gets a 5xx.
"""

from __future__ import annotations

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from farmtrace.store.errors import StoreError
from farmtrace.witness.core import Answer, Witness

__all__ = ["MAX_BODY", "WitnessServer"]

log = logging.getLogger("farmtrace.witness")

MAX_BODY = 16 * 1024
"""Largest request body read: a checkpoint with a few signatures and 63 hashes fits many times."""

_READ_TIMEOUT_S = 10.0
_MONITOR = re.compile(r"/([0-9a-f]{64})/checkpoint")


class WitnessServer:
    """Serves ``witness`` on ``host:port`` (port 0: any free port) under ``prefix``."""

    def __init__(self, witness: Witness, host: str, port: int, prefix: str = "") -> None:
        self.witness = witness
        self.prefix = prefix.rstrip("/")
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve on a background thread (tests, the demo)."""
        self._thread = threading.Thread(target=self.serve_forever, name="witness", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    server_ref: WitnessServer
    protocol_version = "HTTP/1.1"
    server_version = "farmtrace-witness"
    sys_version = ""
    timeout = _READ_TIMEOUT_S

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _path(self) -> str | None:
        prefix = self.server_ref.prefix
        path = self.path.split("?", 1)[0]
        if not path.startswith(prefix + "/"):
            return None
        return path[len(prefix) :]

    def do_POST(self) -> None:
        if self._path() != "/add-checkpoint":
            self._send(Answer(404, b"not found\n"))
            return
        if self.headers.get("Transfer-Encoding"):
            self._send(Answer(411, b"send the body with a Content-Length\n"), close=True)
            return
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.isdigit():
            self._send(Answer(411, b"a Content-Length is required\n"), close=True)
            return
        length = int(raw)
        if length > MAX_BODY:
            self._send(Answer(413, f"the body is over {MAX_BODY} bytes\n".encode()), close=True)
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self._send(Answer(400, b"the body ended before its Content-Length\n"), close=True)
            return
        try:
            answer = self.server_ref.witness.add_checkpoint(body)
        except StoreError as exc:
            log.error("cannot store the witness state: %s", exc)
            answer = Answer(503, b"the witness cannot store its state now; retry later\n")
        if answer.status != 200:
            why = answer.body[:200].decode(errors="replace").strip()
            log.info("add-checkpoint: %d %s", answer.status, why)
        self._send(answer)

    def do_GET(self) -> None:
        path = self._path()
        found = None if path is None else _MONITOR.fullmatch(path)
        if path == "/add-checkpoint":
            self._send(Answer(405, b"add-checkpoint takes a POST\n"))
            return
        if found is None:
            self._send(Answer(404, b"not found\n"))
            return
        try:
            answer = self.server_ref.witness.monitored(found.group(1))
        except StoreError as exc:
            log.error("cannot read the witness state: %s", exc)
            answer = Answer(503, b"the witness cannot read its state now; retry later\n")
        self._send(answer)

    def _send(self, answer: Answer, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer.body)
