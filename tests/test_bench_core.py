"""``farmtrace bench core`` runs end to end on a small input and reports every figure.

No wall-clock thresholds here: the targets are judged by the benchmark itself on full-size runs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from farmtrace.bench.core import blocks_per_leaf

ENTRIES = 2000
ENTRY_SIZE = 120
SIGNATURES = 300
BENCH = [sys.executable, "-m", "farmtrace", "bench", "core"]
REPEATS = 2
QUICK = ["--sha256-seconds=0.06", f"--repeats={REPEATS}"]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    completed = subprocess.run(
        [*BENCH, f"--entries={ENTRIES}", "--json", *QUICK, f"--signatures={SIGNATURES}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures: dict[str, Any] = json.loads(completed.stdout)
    return figures


def _rate(value: object) -> float:
    assert isinstance(value, float | int) and math.isfinite(value) and value > 0, value
    return float(value)


@pytest.mark.slow
def test_every_figure_is_present_and_positive(report: dict[str, Any]) -> None:
    assert report["config"]["entries"] == ENTRIES
    assert report["config"]["entry_size"] == ENTRY_SIZE
    assert report["threads"] >= 1
    assert 0.0 <= report["others_cpu_share"] <= 1.0
    assert all(isinstance(w, str) for w in report["warnings"])
    for key in ("rust_blocks_per_s", "hashlib_blocks_per_s", "ceiling_leaves_per_s"):
        _rate(report["sha256"][key])
    for api in ("fast_path", "list_api"):
        for key in ("one_thread", "all_threads", "scaling"):
            _rate(report["tree_build"][api][key])
        _rate(report["efficiency"][api])
    _rate(report["python"]["reference_leaves_per_s"])
    assert report["python"]["entries"] == ENTRIES
    for key in ("rust_one_thread", "rust_all_threads", "cryptography_one_at_a_time"):
        _rate(report["ed25519"][key])
    assert report["ed25519"]["signatures"] == SIGNATURES
    for key in ("vs_reference_one_thread", "vs_reference_all_threads", "ed25519_all_threads"):
        _rate(report["speedups"][key])


def _spreads(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every timed figure's spread, by a dotted name."""
    found = {}
    for where, section in (
        ("sha256", report["sha256"]),
        ("fast_path", report["tree_build"]["fast_path"]),
        ("list_api", report["tree_build"]["list_api"]),
        ("python", report["python"]),
        ("ed25519", report["ed25519"]),
    ):
        for name, spread in section["spread"].items():
            if spread is not None:
                found[f"{where}.{name}"] = {**spread, "figure": section[name]}
    return found


@pytest.mark.slow
def test_every_figure_is_the_median_of_its_runs_with_its_spread(report: dict[str, Any]) -> None:
    spreads = _spreads(report)
    assert len(spreads) >= 10
    for spread in spreads.values():
        assert spread["min"] <= spread["median"] <= spread["max"]
        assert spread["figure"] == spread["median"]


@pytest.mark.slow
def test_both_sides_of_every_comparison_get_the_same_runs(report: dict[str, Any]) -> None:
    build = report["tree_build"]["fast_path"]["spread"]
    python, ed25519 = report["python"]["spread"], report["ed25519"]["spread"]
    assert build["one_thread"]["runs"] == build["all_threads"]["runs"] == REPEATS
    assert python["reference_leaves_per_s"]["runs"] == REPEATS
    if python["pymerkle_leaves_per_s"] is not None:
        assert python["pymerkle_leaves_per_s"]["runs"] == REPEATS
    assert ed25519["rust_one_thread"]["runs"] == REPEATS
    assert ed25519["cryptography_one_at_a_time"]["runs"] == REPEATS
    # The ceiling: as many slices before the builds as after them.
    assert report["sha256"]["spread"]["rust_blocks_per_s"]["runs"] == 2 * REPEATS


@pytest.mark.slow
def test_speedup_targets_are_per_core(report: dict[str, Any]) -> None:
    up = report["speedups"]
    judged = {t["name"]: t["figure"] for t in report["targets"]}
    assert judged["speedup vs Python reference, per core"] == up["vs_reference_one_thread"]
    assert judged["Ed25519 bulk vs cryptography, per core"] == up["ed25519_one_thread"]
    ed = report["ed25519"]
    assert up["ed25519_one_thread"] == pytest.approx(
        ed["rust_one_thread"] / ed["cryptography_one_at_a_time"]
    )


@pytest.mark.slow
def test_pymerkle_is_measured_when_installed(report: dict[str, Any]) -> None:
    pytest.importorskip("pymerkle")
    assert report["python"]["pymerkle_version"].startswith("7.")
    _rate(report["python"]["pymerkle_leaves_per_s"])
    _rate(report["speedups"]["vs_pymerkle_all_threads"])


@pytest.mark.slow
def test_derived_figures_follow_from_the_measured_ones(report: dict[str, Any]) -> None:
    sha = report["sha256"]
    assert sha["buffer_size"] == 8192
    assert sha["blocks_per_leaf"] == pytest.approx(3 + 2 * (ENTRIES - 1) / ENTRIES)
    assert sha["ceiling_leaves_per_s"] == pytest.approx(
        sha["spread"]["rust_blocks_per_s"]["median"] / sha["blocks_per_leaf"]
    )
    fast = report["tree_build"]["fast_path"]
    assert report["efficiency"]["fast_path"] == pytest.approx(
        fast["one_thread"] / sha["ceiling_leaves_per_s"]
    )
    assert fast["scaling"] == pytest.approx(fast["all_threads"] / fast["one_thread"])


@pytest.mark.slow
def test_memory_is_measured_against_the_input(report: dict[str, Any]) -> None:
    memory = report["memory"]
    assert memory["entries"] == ENTRIES
    assert memory["input_bytes"] == ENTRIES * ENTRY_SIZE + (ENTRIES + 1) * 8
    assert 0 < memory["baseline_rss"] <= memory["input_rss"] <= memory["peak_rss"]
    assert memory["limit"] == memory["input_bytes"] + 64 * 1024 * 1024


@pytest.mark.slow
def test_every_target_is_judged(report: dict[str, Any]) -> None:
    names = [t["name"] for t in report["targets"]]
    assert len(names) == 7
    assert any("efficiency" in n and "fast path" in n for n in names)
    assert any("efficiency" in n and "list API" in n for n in names)
    assert any("scaling" in n for n in names)
    assert any("Python reference" in n for n in names)
    assert any("pymerkle" in n and "per core" in n for n in names)
    assert any("Ed25519" in n for n in names)
    assert any("memory" in n for n in names)
    for target in report["targets"]:
        assert isinstance(target["passed"], bool)
        bound_holds = (
            target["figure"] <= target["threshold"]
            if target["at_most"]
            else target["figure"] >= target["threshold"]
        )
        assert target["passed"] is bound_holds


@pytest.mark.slow
def test_text_output_marks_each_target() -> None:
    completed = subprocess.run(
        [*BENCH, "--entries=300", *QUICK, "--signatures=50"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    target_lines = [line for line in completed.stdout.splitlines() if "(target" in line]
    assert len(target_lines) == 7
    assert all(line.split()[0] in {"PASS", "FAIL"} for line in target_lines)


@pytest.mark.parametrize(
    ("entry_size", "leaves", "expected"),
    [(120, 1, 3.0), (120, 2, 4.0), (54, 1, 1.0), (55, 1, 2.0), (0, 4, 2.5)],
)
def test_blocks_per_leaf(entry_size: int, leaves: int, expected: float) -> None:
    assert blocks_per_leaf(entry_size, leaves) == pytest.approx(expected)
