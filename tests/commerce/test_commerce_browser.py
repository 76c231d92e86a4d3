"""The commerce verifier in a real browser: headless Chromium runs ``tests/js/commerce_cases.mjs``
(``verify/commerce.js``, ``page/commerce_bundle.js``) over the cases of
``test_commerce_js.py`` (vectors, byte flips, JSON edge cases, addresses, histories, real
bundles plain and tampered), served as plain ES modules over HTTP on 127.0.0.1, and POSTs its
verdicts back; each must be the Python reference's. This proves the modules load in a browser
without a build step and that Chromium's WebCrypto (Ed25519, SHA-256) gives the reference's
verdicts. Without Chromium the test skips, or fails under CI=true.
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
from support.commerce_chain import Anchored
from test_commerce_js import (
    BUNDLE_TAMPERS,
    MORE_TAMPERS,
    REPO_ROOT,
    Case,
    _vector_payloads,
    address_cases,
    byte_flips,
    campaign_body_cases,
    decode_case,
    funded,  # noqa: F401 - the module-scoped chain fixture
    python_bundle,
    python_verdict,
    random_edits,
    raw_json_cases,
    scenario_histories,
    statement_cases,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESULT_TIMEOUT_S = 300
SERVED = ("farmtrace/api/web/static/", "tests/js/")


class _Harness:
    def __init__(self, cases: bytes) -> None:
        self.cases = cases
        self.result: dict[str, Any] | None = None
        self.received = threading.Event()


def _handler(harness: _Harness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/cases.json":
                self._send(harness.cases, "application/json")
                return
            relative = self.path.lstrip("/")
            path = (REPO_ROOT / relative).resolve()
            allowed = any(path.is_relative_to(REPO_ROOT / top) for top in SERVED)
            if not allowed or not path.is_file():
                self.send_error(404)
                return
            kind = "text/html; charset=utf-8" if path.suffix == ".html" else "text/javascript"
            self._send(path.read_bytes(), kind)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
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
def page(funded: Anchored) -> Iterator[tuple[_Harness, str, list[Case]]]:  # noqa: F811
    farm = funded.history.farm
    cases: list[Case] = [decode_case(p) for p in _vector_payloads()]
    for group in (byte_flips, raw_json_cases, address_cases, statement_cases, campaign_body_cases,
                  scenario_histories, random_edits):  # fmt: skip
        cases += group()
    for coupon in (None, farm.coupon(1), farm.coupon(3)):
        plain = funded.bundle(coupon)
        cases.append({"kind": "bundle", "bundle": plain, "vkey": funded.vkey})
        for _name, tamper, *_ in [*BUNDLE_TAMPERS, *MORE_TAMPERS]:
            changed = json.loads(json.dumps(plain))
            tamper(changed, funded)
            cases.append({"kind": "bundle", "bundle": changed, "vkey": funded.vkey})
    harness = _Harness(json.dumps({"cases": cases}).encode())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(harness))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tests/js/commerce_browser.html"
        yield harness, url, cases
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_chromium_reaches_the_python_verdict_on_every_commerce_case(
    page: tuple[_Harness, str, list[Case]], tmp_path: Path
) -> None:
    chromium = require_chromium()
    harness, url, cases = page
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
    verdicts = result["verdicts"]
    assert len(verdicts) == len(cases)
    mismatches = []
    for case, js in zip(cases, verdicts, strict=True):
        if case["kind"] == "bundle":
            want = python_bundle(case["bundle"], case["vkey"])
            js = {k: v for k, v in js.items() if k in want}
        else:
            want = python_verdict(case)
        if js != want:
            mismatches.append((case.get("payload_hex", case["kind"])[:80], js, want))
    assert mismatches == [], mismatches[:5]
