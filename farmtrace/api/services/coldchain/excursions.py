"""Excursions: maximal stretches of a sampled series outside a rule's band.

Time model (so that durations add up): each sample's value holds from its own time until the
next sample's time (step hold). An interval longer than the gap threshold (``rule.gap_factor``
times the series' usual interval, by default the median spacing) is *no data*: it is neither in
range nor outside, and it ends any excursion running into it. The last sample holds for no time.
Hence, over a series, ``in-band time + sum of excursion durations + sum of gap durations ==
last time - first time`` exactly, in milliseconds.

An excursion runs from its first outside sample to the first sample back in the band (its
``end_ms``), or to the start of a gap, or to the last sample (``returned`` is then False). A
change of side (above ``high`` straight to below ``low``) starts a new excursion.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from farmtrace.api.services.coldchain.errors import ColdChainError
from farmtrace.api.services.coldchain.rules import Rule

__all__ = [
    "Excursion",
    "Gap",
    "Sample",
    "Severity",
    "compute_excursions",
    "find_gaps",
    "gap_threshold_ms",
]

_MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Sample:
    """One timestamped value: UTC milliseconds since the epoch and the measured value."""

    time_ms: int
    value: float


class Severity(StrEnum):
    """How an excursion counts under its rule."""

    SPIKE = "spike"
    """Shorter than the grace period and back in the band: shown, never a breach."""
    EXCURSION = "excursion"
    """Outside longer than the grace (or not back), shorter than the consecutive limit."""
    BREACH = "breach"
    """Outside for at least the rule's consecutive limit."""


@dataclass(frozen=True, slots=True)
class Gap:
    """An interval with no data: two consecutive samples further apart than the threshold."""

    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Excursion:
    """A maximal stretch outside ``rule``'s band on one side (see the module docstring).

    ``peak`` is the most extreme value reached (highest above ``high``, lowest below ``low``);
    ``samples`` how many outside samples it spans; ``returned`` whether the series came back into
    the band (False when it ended outside or ran into a gap).
    """

    rule: Rule
    direction: str
    start_ms: int
    end_ms: int
    peak: float
    samples: int
    returned: bool

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def duration_min(self) -> float:
        return self.duration_ms / _MINUTE_MS

    @property
    def severity(self) -> Severity:
        if self.duration_min >= self.rule.consecutive_min:
            return Severity.BREACH
        if self.returned and self.duration_min < self.rule.grace_min:
            return Severity.SPIKE
        return Severity.EXCURSION

    @property
    def limit(self) -> float:
        """The limit that was crossed."""
        limit = self.rule.high if self.direction == "high" else self.rule.low
        assert limit is not None  # an excursion only exists on a side that has a limit
        return limit


def _check_series(series: Sequence[Sample]) -> None:
    previous: int | None = None
    for i, sample in enumerate(series):
        if not math.isfinite(sample.value):
            raise ColdChainError(f"sample {i} at {sample.time_ms} ms has value {sample.value}")
        if previous is not None and sample.time_ms <= previous:
            raise ColdChainError(
                f"sample {i} at {sample.time_ms} ms is not after the one before "
                f"({previous} ms): sort the series and drop repeated times first"
            )
        previous = sample.time_ms


def gap_threshold_ms(series: Sequence[Sample], rule: Rule, interval_ms: int | None = None) -> int:
    """The longest spacing that is still data: ``gap_factor`` times the interval.

    The interval is ``interval_ms`` if given, else the median spacing of the series (robust to
    the gaps themselves). A series of fewer than two samples has no spacing: 0.
    """
    if interval_ms is not None:
        if interval_ms <= 0:
            raise ColdChainError(f"interval_ms {interval_ms} must be positive")
        return math.floor(interval_ms * rule.gap_factor)
    steps = sorted(b.time_ms - a.time_ms for a, b in itertools.pairwise(series))
    if not steps:
        return 0
    return math.floor(steps[len(steps) // 2] * rule.gap_factor)


def find_gaps(series: Sequence[Sample], rule: Rule, *, interval_ms: int | None = None) -> list[Gap]:
    """Intervals between consecutive samples longer than :func:`gap_threshold_ms`."""
    _check_series(series)
    threshold = gap_threshold_ms(series, rule, interval_ms)
    return [
        Gap(a.time_ms, b.time_ms)
        for a, b in itertools.pairwise(series)
        if b.time_ms - a.time_ms > threshold
    ]


def compute_excursions(
    series: Sequence[Sample], rule: Rule, *, interval_ms: int | None = None
) -> list[Excursion]:
    """Every excursion of ``series`` (sorted by strictly increasing time) outside ``rule``.

    Raises :class:`ColdChainError` for unsorted or repeated times and non-finite values.
    """
    _check_series(series)
    threshold = gap_threshold_ms(series, rule, interval_ms)
    found: list[Excursion] = []
    run: list[Sample] = []
    side = "in"

    def close(end_ms: int, returned: bool) -> None:
        values = [s.value for s in run]
        peak = max(values) if side == "high" else min(values)
        found.append(Excursion(rule, side, run[0].time_ms, end_ms, peak, len(run), returned))

    for i, sample in enumerate(series):
        here = rule.direction(sample.value)
        if run and here != side:
            close(sample.time_ms, returned=here == "in")
            run = []
        if here != "in":
            run.append(sample)
            side = here
        nxt = series[i + 1] if i + 1 < len(series) else None
        if run and (nxt is None or nxt.time_ms - sample.time_ms > threshold):
            # The series ends, or no data follows: the excursion ends here, not returned.
            close(sample.time_ms, returned=False)
            run = []
    return found
