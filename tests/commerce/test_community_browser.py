"""The community verifier in a real browser: headless Chromium runs
``tests/js/community_cases.mjs`` (``verify/community.js``, ``page/community_bundle.js``) over the
cases of ``test_community_js.py`` (vector entries, byte flips, exact-byte bodies, rules
documents, mints, the rounding rule, histories plain, refused and edited, and real statement
bundles plain and tampered), served as plain ES modules over HTTP on 127.0.0.1, and POSTs its
verdicts back; each must be the Python reference's. This proves the modules load in a browser
without a build step and that Chromium's WebCrypto (Ed25519, SHA-256) and BigInt give the
reference's verdicts. Without Chromium the test skips, or fails under CI=true.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from support.chromium import require_chromium
from support.community_chain import Anchored
from test_commerce_browser import RESULT_TIMEOUT_S, _handler, _Harness
from test_community_js import (
    Case,
    _all_cases,
    bundle_cases,
    chains,  # noqa: F401 - the module-scoped chains fixture
    python_bundle,
    python_verdict,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_chromium_reaches_the_python_verdict_on_every_community_case(
    chains: dict[str, Anchored],  # noqa: F811
    tmp_path: Path,
) -> None:
    chromium = require_chromium()
    cases: list[Case] = _all_cases()
    named = [c for name, c in bundle_cases(chains) if name != "not JSON"]
    cases += named
    harness = _Harness(json.dumps({"cases": cases}).encode())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(harness))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tests/js/community_browser.html"
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
        server.shutdown()
        server.server_close()
        thread.join()
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
            got = {k: v for k, v in js.items() if k in want}
            if want["ok"]:
                got["summary"] = {k: v for k, v in js["summary"].items() if k in want["summary"]}
            js = got
        else:
            want = python_verdict(case)
        if js != want:
            mismatches.append((case["kind"], json.dumps(case)[:200], js, want))
    assert mismatches == [], mismatches[:3]
