"""``farmtrace bench api`` end to end at a small size (figures are reported, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts `farmtrace api` on a port


def test_bench_api_runs_and_reports(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "bench",
            "api",
            "--state",
            str(tmp_path),
            "--readings",
            "3000",
            "--block",
            "1000",
            "--devices",
            "10",
            "--seconds",
            "1",
            "--warmup",
            "0.5",
            "--concurrency",
            "4",
            "--workers",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: targets missed, which is not an error
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["readings_stored"] == 3000 and report["errors"] == {}
    assert report["requests"] > 0 and report["p99_ms"] >= report["p50_ms"] > 0
    assert (tmp_path / "bench.db").exists()
