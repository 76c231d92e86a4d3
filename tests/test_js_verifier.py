"""The browser verifier (farmtrace/api/web/static/verify) through its own tests, ``node --test tests/js/``.

The node tests check the vendored RFC 9162 vectors (tests/vectors/rfc9162) and the C2SP note
vectors; here they also get the cross-implementation vectors of :mod:`support.tlog_cross`, made
fresh by the Python reference, so that the JS and Python verifiers are held to the same verdict
on every input.
Node 20 or later is needed (WebCrypto Ed25519): without it the test skips, or fails under CI=true.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.tlog_cross import write_vectors

REPO_ROOT = Path(__file__).resolve().parent.parent
JS_TESTS = REPO_ROOT / "tests" / "js"
NODE_MIN_MAJOR = 20


def require_node() -> str:
    """The path of a node >= 20; skip (or fail when CI=true) if there is none."""
    path = shutil.which("node")
    problem = None
    if path is None:
        problem = "node is not installed (node 20 or later runs the JS verifier's tests)"
    else:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        match = re.fullmatch(r"v(\d+)\..*", version)
        if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
            problem = f"node {version} is too old: WebCrypto Ed25519 needs node {NODE_MIN_MAJOR}"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert path is not None
    return path


def test_cross_vectors_hold_every_verdict(tmp_path: Path) -> None:
    """The vectors exercise every outcome, so agreement on them means something."""
    cases = write_vectors(tmp_path / "cross.json")["cases"]
    verdicts = collections.Counter(
        (c["kind"], c["want"] if isinstance(c["want"], bool) else c["want"].get("error", "ok"))
        for c in cases
    )
    for kind in ("vkey", "note", "checkpoint", "tlogProof"):
        assert verdicts[(kind, "ok")] >= 4, kind
    for kind in ("inclusion", "consistency"):
        assert verdicts[(kind, True)] >= 100
        assert verdicts[(kind, False)] >= 100
    note_errors = ["MalformedNote", "InvalidNoteSignature", "UnverifiedNote"]
    expected_errors = {
        "vkey": ["InvalidKey"],
        "note": note_errors,
        "checkpoint": [*note_errors, "MalformedCheckpoint"],
        "tlogProof": [*note_errors, "MalformedCheckpoint", "MalformedProof", "ProofMismatch"],
    }
    for kind, errors in expected_errors.items():
        for error in errors:
            assert verdicts[(kind, error)] >= 1, f"no {kind} case fails with {error}"


DRIVEN_ELSEWHERE = frozenset(
    {
        "page_bundle.test.mjs",
        "declaration_cross.test.mjs",
        "series.test.mjs",
        # Driven with cases the API serves: tests/api/test_campaign_pages_js.py.
        "campaign_coupon.test.mjs",
        # Driven with Python's statement vectors: tests/commerce/test_listing_statement.py.
        "market_listing.test.mjs",
    }
)


@pytest.mark.slow
def test_node_tests_pass(tmp_path: Path) -> None:
    """``node --test tests/js/`` passes, cross-implementation vectors included."""
    node = require_node()
    vectors = tmp_path / "cross.json"
    write_vectors(vectors)
    # page_bundle.test.mjs needs bundles served by the API; tests/api/test_page_bundle_js.py
    # runs it with them (declaration_cross.test.mjs: tests/api/test_lot_declarations_js.py;
    # series.test.mjs: tests/api/test_series_js.py),
    # so here it would only count as a skip.
    files = [str(p) for p in sorted(JS_TESTS.glob("*.test.mjs")) if p.name not in DRIVEN_ELSEWHERE]
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=REPO_ROOT,
        env={**os.environ, "FARMTRACE_CROSS_VECTORS": str(vectors)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    summary = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", output, re.M))
    failures = "\n".join(re.findall(r"^not ok .*$", output, re.M)) or output[-4000:]
    assert result.returncode == 0, f"node --test failed:\n{failures}\n\n{output[-4000:]}"
    assert summary.get("fail") == "0", summary
    assert summary.get("skipped") == "0", f"some node tests were skipped: {summary}"
    assert int(summary.get("pass", "0")) >= 300, summary
    assert "JS agrees with the Python reference on every tlogProof case" in output
