"""``farmtrace bench page``: the report's structure (never a timing): every figure of both
answers with its median, range and CPU, the load average, and answers that differ named."""

from __future__ import annotations

from typing import Any

from farmtrace.bench.page import KINDS, _agreement, comparable, render_text


def _figures(digest: str) -> dict[str, Any]:
    one = {"median_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0, "cpu_median_ms": 1.5, "repeats": 5}
    return {**{kind: dict(one) for kind in KINDS}, "bytes": 100, "digests": [digest]}


def _report(other_bundle: str) -> dict[str, Any]:
    results = {
        "this": {"LOT-1": {"page": _figures("p"), "bundle": _figures("b")}},
        "checkout": {"LOT-1": {"page": _figures("p"), "bundle": _figures(other_bundle)}},
    }
    return {
        "repeats": 5,
        "sides": {"this": "/here", "checkout": "/there"},
        "load_average_before": [1.0, 2.0, 3.0],
        "load_average_after": [1.5, 2.0, 3.0],
        "cpus": 2,
        "results": results,
        "same_bytes": _agreement(results),
    }


def test_the_report_prints_every_figure_with_its_spread_and_the_load() -> None:
    text = render_text(_report("b"))
    assert "load average 1.0 2.0 3.0 before, 1.5 2.0 3.0 after; 2 CPUs" in text
    assert text.count("2.00 (1.0-3.0) cpu 1.50") == 4 * len(KINDS)  # 2 sides x 2 answers
    assert "same bytes" in text and "2 of 2" in text and "differs" not in text


def test_answers_that_differ_between_sides_are_named() -> None:
    report = _report("other")
    assert report["same_bytes"] == {"page LOT-1": True, "bundle LOT-1": False}
    assert "  differs: bundle LOT-1" in render_text(report)


def test_only_the_moment_made_is_blanked() -> None:
    made = b'<p>Page made 2026-12-07 12:40 UTC</p>{"at": "2026-12-07T12:40:00Z", "n": 1}'
    later = b'<p>Page made 2026-12-07 12:41 UTC</p>{"at": "2026-12-07T12:41:07Z", "n": 1}'
    assert comparable(made) == comparable(later)
    assert comparable(made) != comparable(made.replace(b'"n": 1', b'"n": 2'))
