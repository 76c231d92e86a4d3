"""``farmtrace bench all``: the report's plots (SVG written as text) and its assembly from the
runs' JSON. No timing is asserted: the figures are whatever the runs printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from farmtrace.bench.plots import Series, line_chart
from farmtrace.bench.suite import Step, api_grid, write_report

SVG = "{http://www.w3.org/2000/svg}"


def test_a_chart_is_an_accessible_svg_with_every_point() -> None:
    svg = line_chart(
        "Proofs/s <against> size",
        "readings stored",
        "proofs/s",
        [Series("cold", [(1000, 80.0), (10_000, 60.0)]), Series("warm", [(1000, 300.0)])],
        subtitle="blocks of 20-100",
    )
    root = ElementTree.fromstring(svg)  # well-formed, the title's "<" escaped
    assert root.get("role") == "img"
    assert root.findtext(f"{SVG}title") == "Proofs/s <against> size (blocks of 20-100)"
    desc = root.findtext(f"{SVG}desc") or ""
    assert "cold: 1k: 80; 10k: 60." in desc and "warm: 1k: 300." in desc
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}path")) == 2  # the axes and the one line of two points


def test_a_log_axis_leaves_out_non_positive_x_and_an_empty_chart_says_so() -> None:
    svg = line_chart("t", "x", "y", [Series("s", [(0, 1.0), (10, 2.0)])])
    assert len(ElementTree.fromstring(svg).findall(f"{SVG}circle")) == 1
    assert "no data" in line_chart("t", "x", "y", [Series("s", [])])


def test_the_api_grid_tries_every_size_with_realistic_blocks_then_every_block_size() -> None:
    assert api_grid((1000, 5000), ((20, 100), (1000, 1000))) == [
        (1000, (20, 100)),
        (5000, (20, 100)),
        (5000, (1000, 1000)),
    ]


def _api_figures(stored: int, mean: float, rate: float) -> dict[str, object]:
    figure = {"proofs_per_s": rate, "p50_ms": 2.0, "p99_ms": 9.0, "errors": {}, "pass": False}
    limited = {**figure, "rate_limited_429": 12, "rate_per_s": 200.0, "rate_burst": 400}
    return {
        **figure,
        "readings_stored": stored,
        "blocks_stored": int(stored / mean),
        "block_size": {"min": 20, "max": 100, "mean": mean},
        "cold": figure,
        "warm": {**figure, "proofs_per_s": rate * 2},
        "rate_limited": limited,
    }


def test_the_report_tabulates_every_run_and_plots_the_grid(tmp_path: Path) -> None:
    steps = [
        Step("ingest", ["python", "-m", "farmtrace", "bench", "ingest"], failure="left out: x"),
        Step("api-1000-20-100", ["python", "-m", "farmtrace", "bench", "api"],
             _api_figures(1000, 60.0, 100.0), extra={"size": 1000, "block": (20, 100)}),
        Step("api-5000-20-100", ["python", "-m", "farmtrace", "bench", "api"],
             _api_figures(5000, 61.0, 90.0), extra={"size": 5000, "block": (20, 100)}),
        Step("api-5000-1000", ["python", "-m", "farmtrace", "bench", "api"],
             _api_figures(5000, 1000.0, 150.0), extra={"size": 5000, "block": (1000, 1000)}),
    ]  # fmt: skip
    write_report(tmp_path, steps)
    report = (tmp_path / "report.md").read_text()
    assert "`farmtrace bench ingest`: no figures (left out: x)." in report
    rows = [line for line in report.splitlines() if re.match(r"\| [\d,]+ \|", line)]
    assert len(rows) == 3
    # stored, blocks (mean), cold rate and p99, warm rate and p99, rate-limited rate (429s)
    assert rows[1].startswith("| 5,000 | 81 (61.0) | 90 | 9.0 | 180 | 9.0 | 90 (12) |")
    for name in ("rate-vs-stored", "p99-vs-stored", "rate-vs-block", "p99-vs-block"):
        svg = (tmp_path / f"api-{name}.svg").read_text()
        assert f"](api-{name}.svg)" in report
        circles = ElementTree.fromstring(svg).findall(f"{SVG}circle")
        # Two points a figure (two stored sizes with realistic blocks, or two block sizes at
        # 5,000), three figures: cold, warm, rate-limited.
        assert len(circles) == 6, name


@pytest.mark.integration
@pytest.mark.slow
def test_bench_all_runs_small_and_writes_the_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "all", "--out", str(tmp_path),
         "--sizes", "300,600", "--blocks", "20-100,200", "--seconds", "0.5",
         "--concurrency", "2", "--skip-core", "--skip-ingest"],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = sorted(p.name for p in tmp_path.glob("api-*.json"))
    assert runs == ["api-300-20-100.json", "api-600-20-100.json", "api-600-200.json"]
    stored = [json.loads((tmp_path / r).read_text())["readings_stored"] for r in runs]
    assert stored == [300, 600, 600]
    assert len(list(tmp_path.glob("*.svg"))) == 4
    assert "bench api --state" in (tmp_path / "report.md").read_text()
