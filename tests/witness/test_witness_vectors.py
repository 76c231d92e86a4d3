"""tests/vectors/witness.json holds today's Python verdicts (regenerated and compared), and the
browser verifier (cosignature.js, policy.js) reaches the same verdict on every case
(tests/js/witness.test.mjs under node)."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from make_witness_vectors import OUT, render
from test_js_verifier import REPO_ROOT, require_node


def test_stored_vectors_are_the_python_verdicts() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), (
        "tests/vectors/witness.json is stale: run .venv/bin/python tests/witness/make_witness_vectors.py"
    )


def test_vectors_cover_every_verdict() -> None:
    data = json.loads(OUT.read_text(encoding="utf-8"))
    seen = collections.Counter(
        c["want"]["error"] if isinstance(c["want"], dict) and "error" in c["want"] else "ok"
        for kind in ("cosignatures", "vkeys", "policies")
        for c in data[kind]
    )
    for verdict in (
        "ok",
        "InvalidKey",
        "MalformedNote",
        "InvalidNoteSignature",
        "UnverifiedNote",
        "MalformedCheckpoint",
        "MalformedPolicy",
        "QuorumNotMet",
    ):
        assert seen[verdict] >= 1, verdict


@pytest.mark.slow
def test_js_agrees_on_every_witness_vector(tmp_path: Path) -> None:
    node = require_node()
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/witness.test.mjs"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", output, re.M))
    assert summary.get("fail") == "0" and summary.get("skipped") == "0", summary
    assert int(summary.get("pass", "0")) >= 3, summary
