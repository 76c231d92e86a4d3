"""``farmtrace bench anchoring`` end to end, tiny: Mosquitto, the API and a gateway started by
the bench; every event posted is anchored and its proof served, with and without sensor
traffic. Latencies are reported, never asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mosquitto import require_mosquitto

from farmtrace.bench.anchoring import Round

ROOT = Path(__file__).resolve().parents[1]


def test_round_quantiles_are_nearest_rank() -> None:
    found = Round(latencies=[0.4, 0.1, 0.3, 0.2], posted=5, not_anchored=1)
    assert (found.quantile(0.5), found.quantile(0.99), found.quantile(1.0)) == (0.2, 0.4, 0.4)
    assert found.as_dict()["p50_ms"] == 200.0 and found.as_dict()["anchored"] == 4
    assert Round().quantile(0.99) is None


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_run_anchors_every_event_with_and_without_readings(tmp_path: Path) -> None:
    require_mosquitto()
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "anchoring", "--events", "4",
         "--repeats", "2", "--interval", "0.02", "--batch-age", "0.2",
         "--readings-per-s", "0", "20", "--dir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=280, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["batch_age_s"] == 0.2 and result["database"] == "SQLite"
    idle, busy = result["levels"]
    assert idle["readings_per_s"] == 0 and idle["readings_sent"] == 0
    assert busy["readings_per_s"] == 20 and busy["readings_sent"] > 0
    for level in (idle, busy):
        assert level["posted"] == 8 and level["not_anchored"] == 0
        assert level["proofs_served"] == 8 and level["proofs_refused"] == {}
        assert level["api_unavailable_retried"] >= 0  # reported, not judged
        assert len(level["rounds"]) == 2
        assert 0 < level["p50_ms"]["median"] <= level["p99_ms"]["median"]
        assert level["p99_ms"]["median"] <= level["max_ms"]["max"]
    assert result["gateway_blocks"] >= 1 and result["gateway_readings_accepted"] > 0
