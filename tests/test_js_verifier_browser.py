"""The browser verifier in a real browser: headless Chromium runs the cross-implementation check.

The same code as ``tests/js/cross.test.mjs`` (``tests/js/cross_cases.mjs``) runs in Debian's
Chromium against ``farmtrace/api/web/static/verify`` served over HTTP on 127.0.0.1, with the vectors of
:mod:`support.tlog_cross`; the page POSTs its verdicts back. This proves the modules load as
plain ES modules (no build step) and that the browser's WebCrypto Ed25519 and SHA-256 give the
Python reference's verdict on every case. Without Chromium the test skips, or fails under
CI=true.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.chromium import require_chromium
from support.tlog_cross import write_vectors

REPO_ROOT = Path(__file__).resolve().parent.parent
VERIFY_DIR = REPO_ROOT / "farmtrace" / "api" / "web" / "static" / "verify"
JS_DIR = REPO_ROOT / "tests" / "js"
RESULT_TIMEOUT_S = 180

pytestmark = pytest.mark.integration


class _Harness:
    """What the page server hands out, and the result the page sends back."""

    def __init__(self, vectors: Path) -> None:
        self.files = {
            "/harness.html": (JS_DIR / "browser.html", "text/html; charset=utf-8"),
            "/js/cross_cases.mjs": (JS_DIR / "cross_cases.mjs", "text/javascript"),
            "/cross.json": (vectors, "application/json"),
        }
        for module in VERIFY_DIR.glob("*.js"):
            self.files[f"/verify/{module.name}"] = (module, "text/javascript")
        self.result: dict[str, Any] | None = None
        self.received = threading.Event()


def _handler(harness: _Harness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            entry = harness.files.get(self.path)
            if entry is None:
                self.send_error(404)
                return
            body = entry[0].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", entry[1])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/result":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            harness.result = json.loads(self.rfile.read(length))
            self.send_response(204)
            self.end_headers()
            harness.received.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output to failures

    return Handler


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[_Harness, str]]:
    """The harness and its URL, served on a free 127.0.0.1 port until the test ends."""
    vectors = tmp_path / "cross.json"
    write_vectors(vectors)
    harness = _Harness(vectors)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(harness))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield harness, f"http://127.0.0.1:{server.server_address[1]}/harness.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_chromium_reaches_the_python_verdict_on_every_case(
    served: tuple[_Harness, str], tmp_path: Path
) -> None:
    chromium = require_chromium()
    harness, url = served
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-sync",
            "--no-pings",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        received = harness.received.wait(RESULT_TIMEOUT_S)
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        try:
            _, stderr = browser.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            _, stderr = browser.communicate()
    log = stderr.decode(errors="replace")[-3000:]
    assert received, f"the page sent no result within {RESULT_TIMEOUT_S} s; chromium said:\n{log}"
    result = harness.result
    assert result is not None
    assert "error" not in result, result["error"]
    assert result["secureContext"] is True
    assert "Chrome/" in result["userAgent"]
    for kind, outcome in result["kinds"].items():
        assert outcome["count"] > 0, kind
        assert outcome["mismatches"] == [], f"{kind}: {outcome['mismatches'][:10]}"
    assert set(result["kinds"]) == {
        "vkey",
        "note",
        "checkpoint",
        "tlogProof",
        "inclusion",
        "consistency",
    }
