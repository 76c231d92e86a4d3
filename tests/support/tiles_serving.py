"""For the tiles tests: a real ``farmtrace api`` process over a chain, and a proxy in front of it that can alter one
byte of one served path (the tamper tests: a server that lies about a tile)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def api_process(
    db_url: str, state: Path, workers: int = 1, rate: float | None = None
) -> Iterator[str]:
    """``farmtrace api`` on a free 127.0.0.1 port, until the block ends: ``workers`` processes,
    the default rate limit unless ``rate`` (requests per second and burst) is given."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "api",
            "--db",
            db_url,
            "--port",
            str(port),
            "--state",
            str(state),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **_rate_env(rate)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                urllib.request.urlopen(f"{base}/v1/chains", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "farmtrace api did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_S)
        if process.stderr is not None:
            process.stderr.close()


def _rate_env(rate: float | None) -> dict[str, str]:
    if rate is None:
        return {}
    return {"FARMTRACE_API_RATE_PER_S": str(rate), "FARMTRACE_API_RATE_BURST": str(int(rate))}


@contextmanager
def tampering_proxy(upstream: str, path_suffix: str, offset: int = 0) -> Iterator[str]:
    """An HTTP proxy to ``upstream`` that flips the bits of byte ``offset`` of the body of every
    200 answer whose path ends with ``path_suffix``; everything else passes unchanged."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                with urllib.request.urlopen(upstream + self.path, timeout=30) as answer:
                    status, headers, body = answer.status, answer.headers, answer.read()
            except urllib.error.HTTPError as exc:
                status, headers, body = exc.code, exc.headers, exc.read()
            if status == 200 and self.path.endswith(path_suffix):
                altered = bytearray(body)
                altered[offset] ^= 0xFF
                body = bytes(altered)
            self.send_response(status)
            for name in ("Content-Type", "Cache-Control", "Retry-After"):
                if headers.get(name):
                    self.send_header(name, headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
