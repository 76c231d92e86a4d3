"""``farmtrace bench coupons`` end to end, tiny: coupons stored through the campaign service,
``farmtrace api --workers 2`` and client threads posting pre-signed transfers, then Mosquitto
and a gateway sealing transfers and confirmations. Every transfer is accepted (no 409 when no
two clients share a coupon) and every entry posted is anchored; the figures are reported,
never judged (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mosquitto import require_mosquitto

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_run_accepts_every_transfer_and_anchors_every_entry(tmp_path: Path) -> None:
    require_mosquitto()
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "coupons", "--coupons", "120",
         "--per-pledge", "10", "--workers", "2", "--clients", "3", "--transfers", "12",
         "--repeats", "2", "--anchored", "3", "--confirmations", "2", "--batch-age", "0.2",
         "--dir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=400, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["database"] == "SQLite" and result["coupons"] == 120
    assert result["workers"] == 2 and result["clients"] == 3
    assert result["conflicts_409"] == 0 and result["other_answers"] == 0
    assert [r["accepted"] for r in result["runs"]] == [12, 12]
    for run in result["runs"]:
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
        assert run["api_cpu_s"] >= 0 and run["first_refusal"] is None
    summary = result["summary"]
    assert summary["transfers_per_s"]["min"] <= summary["transfers_per_s"]["max"]
    anchoring = result["anchoring"]
    assert anchoring["posted"] == 2 * 3 + 2 and anchoring["not_anchored"] == 0
    assert anchoring["proofs_refused"] == 0 and anchoring["gateway_blocks"] >= 1
    assert anchoring["confirmations"]["anchored"] == 2
    assert len(anchoring["transfer_rounds"]) == 2
    assert anchoring["p99_ms"]["median"] <= anchoring["max_ms"]["max"]


def test_bad_arguments_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "coupons", "--clients", "0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and "counts >= 1" in done.stderr
