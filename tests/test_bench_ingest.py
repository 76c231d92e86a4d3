"""``farmtrace bench ingest`` end to end, small: real Mosquitto (started by the bench), real
gateway, the JSON report holds every figure and the reconciliation is exact. No timing is
asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mosquitto import require_mosquitto

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def test_small_run_reports_every_figure_and_reconciles(tmp_path: Path) -> None:
    require_mosquitto()
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "ingest", "--devices", "20",
         "--seconds", "1", "--rate", "2000", "--batch-size", "500", "--batch-age", "0.2",
         "--repeat", "2", "--keep", str(tmp_path / "kept"), "--json"],
        capture_output=True, text=True, timeout=280, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["messages"] == 2000 and report["per_device"] == 100
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert len(report["rounds"]) == 2
    for round_ in report["rounds"]:
        assert round_["reconcile"] == {"stored": 2000, "distinct": 2000, "devices_complete": 20}
        assert round_["bare"]["drain"]["distinct"] == 2000
        # The bare drain is the subscriber's capacity: its stream is published unpaced.
        assert round_["bare"]["paced"] is False
        assert round_["bare"]["publish"]["messages"] == 2000
        gateway = round_["gateway"]["report"]
        assert gateway["accepted"] == 2000 and gateway["rejected"] == {}
        assert round_["gateway"]["accepted_per_s"] > 0
        # CPU: the start-up is part of the process's, and the broker's is measured beside it.
        assert 0 < gateway["startup_cpu_seconds"] <= gateway["cpu_seconds"]
        assert round_["broker_cpu_seconds"] >= 0
        assert gateway["receive_to_commit_s"]["p99"] is not None
        # Latency from the publisher's timestamp, broker backlog included.
        from_publish = round_["gateway"]["publish_to_commit_s"]
        assert set(from_publish) == {"p50", "p90", "p99", "max"}
        assert from_publish["p50"] <= from_publish["p99"] <= from_publish["max"]
        assert round_["gateway"]["publish_to_receive_s"]["max"] <= from_publish["max"]
    spread = report["spread"]
    for name in ("gateway_per_s", "bare_per_s", "gateway_over_bare", "publish_to_commit_p99_s"):
        assert spread[name]["min"] <= spread[name]["median"] <= spread[name]["max"]
    names = [t["name"] for t in report["targets"]]
    assert names == [
        "gateway accepted readings/s",
        "gateway (offered 2,000/s) / bare drain at capacity",
        "p99 publish-to-commit",
        "readings lost",
        "readings duplicated",
        "bare drain: lost",
    ]
    assert all(t["passed"] for t in report["targets"] if t["name"].startswith("readings"))
    assert (tmp_path / "kept" / "gateway-report-2.json").exists()
