"""``farmtrace bench api-flood --compare`` end to end at a small size (figures are reported,
never asserted: the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts `farmtrace api` twice


def test_bench_api_flood_runs_and_reports_both_servers(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "bench",
            "api-flood",
            "--compare",
            "--json",
            "--readings",
            "90",
            "--events",
            "2",
            "--clients",
            "2",
            "--seconds",
            "0.5",
            "--repeats",
            "1",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert set(result["servers"]) == {"cost-limited", "unlimited"}
    for found in result["servers"].values():
        [measured] = found["rounds"]
        assert measured["quiet"]["checkpoints"] > 0 and measured["flood"]["checkpoints"] > 0
        assert found["flood_answers"].get("200", 0) > 0, found["flood_answers"]
        assert found["quiet_checkpoint_errors"] == {}, found
        assert 0 < found["flood_p50_ms"]["median"] <= found["flood_p99_ms"]["max"]
