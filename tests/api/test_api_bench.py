"""``farmtrace bench api`` end to end at a small size (figures are reported, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from farmtrace.bench.api_load import block_sizes, database_path, parse_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts `farmtrace api` on a port


def _bench(state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "api", "--state", str(state),
         "--readings", "3000", "--devices", "10", "--seconds", "1", "--warmup", "0.5",
         "--concurrency", "4", "--workers", "1", "--json", *extra],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def _figure_is_whole(figure: dict[str, object]) -> None:
    assert isinstance(figure["requests"], int) and figure["requests"] > 0
    p50, p99 = figure["p50_ms"], figure["p99_ms"]
    assert isinstance(p50, float | int) and isinstance(p99, float | int) and p99 >= p50 > 0
    assert isinstance(figure["pass"], bool)


def test_bench_api_counts_what_is_stored_and_reports_cold_warm_and_rate_limited(
    tmp_path: Path,
) -> None:
    done = _bench(tmp_path)
    assert done.returncode in (0, 1), done.stderr  # 1: targets missed, which is not an error
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # Counted in the store: realistic blocks of 20-100 readings by default.
    assert report["readings_stored"] == 3000 and report["readings_requested"] == 3000
    assert report["block_size"]["min"] == 20 and report["block_size"]["max"] == 100
    assert report["blocks_stored"] == len(block_sizes(3000, (20, 100)))
    assert 20 <= report["block_size"]["mean"] <= 100
    for name in ("cold", "warm", "rate_limited"):
        _figure_is_whole(report[name])
    assert report["cache"] == "cold" and report["p99_ms"] == report["cold"]["p99_ms"]
    assert report["cold"]["errors"] == {} and report["warm"]["errors"] == {}
    limited = report["rate_limited"]
    assert set(limited["errors"]) <= {"429"} and limited["rate_per_s"] > 0
    assert limited["rate_limited_429"] == limited["errors"].get("429", 0)
    assert database_path(tmp_path, (20, 100)).exists()
    # A second run with more readings asked for tops the same database up.
    again = _bench(tmp_path, "--readings", "3500", "--skip-rate-limited")
    assert again.returncode in (0, 1), again.stderr
    second = json.loads(again.stdout.strip().splitlines()[-1])
    assert second["readings_stored"] == 3500 and second["rate_limited"] is None


def test_block_sizes_cover_the_total_in_range() -> None:
    sizes = block_sizes(10_000, (20, 100), seed=3)
    assert sum(sizes) == 10_000 and all(1 <= s <= 100 for s in sizes)
    assert all(s >= 20 for s in sizes[:-1])
    assert sizes == block_sizes(10_000, (20, 100), seed=3)
    assert parse_block("1000") == (1000, 1000) and parse_block("20-100") == (20, 100)
