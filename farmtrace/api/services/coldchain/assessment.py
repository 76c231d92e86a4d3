"""A series judged against a rule: excursions, gaps, time in band and the cumulative limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from farmtrace.api.services.coldchain.excursions import (
    Excursion,
    Gap,
    Sample,
    Severity,
    compute_excursions,
    find_gaps,
)
from farmtrace.api.services.coldchain.rules import Rule

__all__ = ["Assessment", "CumulativeWindow", "assess", "max_in_window"]

_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class CumulativeWindow:
    """The window of ``rule.window_h`` hours holding the most time outside the band."""

    start_ms: int
    end_ms: int
    outside_ms: int

    @property
    def outside_min(self) -> float:
        return self.outside_ms / _MINUTE_MS


@dataclass(frozen=True, slots=True)
class Assessment:
    """What a series did under a rule (durations in ms; see :mod:`farmtrace.api.services.coldchain.excursions`).

    ``span_ms`` = last - first sample time; ``covered_ms`` = span minus gaps;
    ``in_band_ms + outside_ms == covered_ms``. ``worst_window`` is None for an empty series.
    """

    rule: Rule
    samples: tuple[Sample, ...]
    excursions: tuple[Excursion, ...]
    gaps: tuple[Gap, ...]
    span_ms: int
    covered_ms: int
    outside_ms: int
    worst_window: CumulativeWindow | None

    @property
    def in_band_ms(self) -> int:
        return self.covered_ms - self.outside_ms

    @property
    def in_band_fraction(self) -> float | None:
        """Share of the covered time in the band; None when no time is covered."""
        return None if self.covered_ms == 0 else self.in_band_ms / self.covered_ms

    @property
    def gap_ms(self) -> int:
        return self.span_ms - self.covered_ms

    @property
    def cumulative_breach(self) -> bool:
        """Whether some window held at least ``rule.cumulative_min`` minutes outside."""
        w = self.worst_window
        return w is not None and w.outside_min >= self.rule.cumulative_min

    def by_severity(self, severity: Severity) -> tuple[Excursion, ...]:
        return tuple(e for e in self.excursions if e.severity is severity)

    @property
    def breached(self) -> bool:
        """A consecutive or cumulative breach happened."""
        return self.cumulative_breach or bool(self.by_severity(Severity.BREACH))


def max_in_window(intervals: Sequence[tuple[int, int]], window_ms: int) -> CumulativeWindow | None:
    """The window of length ``window_ms`` overlapping the sorted, disjoint ``intervals`` most.

    The overlap, as a function of the window's start, is piecewise linear with breakpoints where
    the window's start meets an interval's start or the window's end meets an interval's end, so
    checking those placements finds the maximum. O(n²) worst case on n excursions, which are few.
    """
    if not intervals:
        return None
    starts = [a for a, _ in intervals] + [b - window_ms for _, b in intervals]
    best: CumulativeWindow | None = None
    for start in starts:
        end = start + window_ms
        total = sum(max(0, min(b, end) - max(a, start)) for a, b in intervals)
        if best is None or total > best.outside_ms:
            best = CumulativeWindow(start, end, total)
    return best


def assess(series: Sequence[Sample], rule: Rule, *, interval_ms: int | None = None) -> Assessment:
    """Judge ``series`` (strictly increasing times) against ``rule``.

    Spikes count toward the cumulative limit: many short door openings add up to real warming.
    """
    excursions = compute_excursions(series, rule, interval_ms=interval_ms)
    gaps = find_gaps(series, rule, interval_ms=interval_ms)
    span = series[-1].time_ms - series[0].time_ms if series else 0
    covered = span - sum(g.duration_ms for g in gaps)
    outside = sum(e.duration_ms for e in excursions)
    window = max_in_window(
        [(e.start_ms, e.end_ms) for e in excursions if e.duration_ms > 0],
        round(rule.window_h * _HOUR_MS),
    )
    if window is None and series:
        window = CumulativeWindow(
            series[0].time_ms, series[0].time_ms + round(rule.window_h * _HOUR_MS), 0
        )
    return Assessment(
        rule=rule,
        samples=tuple(series),
        excursions=tuple(excursions),
        gaps=tuple(gaps),
        span_ms=span,
        covered_ms=covered,
        outside_ms=outside,
        worst_window=window,
    )
