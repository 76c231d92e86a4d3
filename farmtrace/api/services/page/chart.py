"""Server-rendered SVG charts of a measurement over time, readable on a phone.

The chart shows the allowed band shaded, the series as a line (broken at gaps, which are
hatched and labelled), excursions as red spans with the line drawn red over them and the peak
marked, spikes within grace as amber ticks, and axes labelled with units and local times.
Output is a complete ``<svg>`` element with ``role="img"``, a ``<title>`` and a ``<desc>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape

from farmtrace.api.services.coldchain import Sample, Severity
from farmtrace.api.services.coldchain.summary import unit_symbol
from farmtrace.api.services.page.i18n import t
from farmtrace.api.services.page.model import ConditionView, Lang
from farmtrace.api.services.page.timefmt import format_date, from_ms

__all__ = ["render_chart", "unit_label"]

WIDTH, HEIGHT = 360, 216
LEFT, RIGHT, TOP, BOTTOM = 42, 10, 22, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
_MAX_POINTS = 2 * PLOT_W
_HOUR = 3_600_000
_STEPS_MS = (
    [s * 1000 for s in (5, 10, 15, 30)]
    + [m * 60_000 for m in (1, 2, 5, 10, 15, 30)]
    + [h * _HOUR for h in (1, 2, 3, 4, 6, 12, 24, 48, 72, 168)]
)


@dataclass(frozen=True, slots=True)
class _Scale:
    t0: int
    t1: int
    v0: float
    v1: float

    def x(self, t: int) -> float:
        span = max(1, self.t1 - self.t0)
        return LEFT + (t - self.t0) / span * PLOT_W

    def y(self, v: float) -> float:
        return TOP + (self.v1 - v) / (self.v1 - self.v0) * PLOT_H


def _f(value: float) -> str:
    return f"{value:.1f}"


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def unit_label(measurement: str, unit: str) -> str:
    """The unit as people read it: ``%RH`` for relative humidity, else the code's symbol."""
    if measurement == "RelativeHumidity" and unit == "P1":
        return "%RH"
    return unit_symbol(unit)


def _value_range(views: Sequence[ConditionView]) -> tuple[float, float]:
    view = views[0]
    values = [s.value for v in views for s in v.samples]
    rule = view.rule
    if rule is not None:
        values += [v for v in (rule.low, rule.high) if v is not None]
    lo, hi = min(values), max(values)
    if hi - lo < 1:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.08
    step = _nice_step(hi - lo + 2 * pad)
    low, high = math.floor((lo - pad) / step) * step, math.ceil((hi + pad) / step) * step
    if view.unit == "P1" and hi <= 100:
        high = min(high, 100.0)  # relative humidity cannot exceed 100 %
    return low, high


def _thin(samples: Sequence[Sample]) -> list[Sample]:
    """At most about two points per pixel column: each column's first, min and max, in order."""
    if len(samples) <= _MAX_POINTS:
        return list(samples)
    t0, t1 = samples[0].time_ms, samples[-1].time_ms
    columns: dict[int, list[Sample]] = {}
    for s in samples:
        columns.setdefault(int((s.time_ms - t0) / max(1, t1 - t0) * (PLOT_W - 1)), []).append(s)
    kept: list[Sample] = []
    for group in columns.values():
        chosen = {
            id(s): s for s in (min(group, key=lambda s: s.value), max(group, key=lambda s: s.value))
        }
        kept.extend(sorted(chosen.values(), key=lambda s: s.time_ms))
    if kept[-1] is not samples[-1]:
        kept.append(samples[-1])
    return kept


def _segments(view: ConditionView) -> list[list[Sample]]:
    """The series split at gaps (each gap's bounds are consecutive samples)."""
    gap_starts = {g.start_ms for g in view.assessment.gaps} if view.assessment else set()
    parts: list[list[Sample]] = [[]]
    for s in view.samples:
        parts[-1].append(s)
        if s.time_ms in gap_starts:
            parts.append([])
    return [p for p in parts if p]


def _path(points: Sequence[Sample], sc: _Scale) -> str:
    return " ".join(f"{_f(sc.x(s.time_ms))},{_f(sc.y(s.value))}" for s in points)


def _time_ticks(sc: _Scale, tz: tzinfo, lang: Lang) -> list[tuple[int, str]]:
    span = sc.t1 - sc.t0
    step = next((s for s in _STEPS_MS if span / s <= 6), _STEPS_MS[-1])
    start = from_ms(sc.t0, tz)
    # Align ticks to the local clock (midnight-based), so labels read 06:00, 12:00...
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    # Start at the last step boundary before the chart (on the wall clock since midnight).
    elapsed = (start.replace(tzinfo=None) - midnight.replace(tzinfo=None)) // timedelta(
        milliseconds=step
    )
    tick = _advance(midnight, step * elapsed, tz) if step < 24 * _HOUR else midnight
    ticks: list[tuple[int, str]] = []
    last_day = None
    while tick <= from_ms(sc.t1, tz):
        ms = round(tick.timestamp() * 1000)
        if ms >= sc.t0:
            day = tick.date()
            at_midnight = tick.hour == tick.minute == tick.second == 0
            if step >= 24 * _HOUR or at_midnight:
                label = format_date(day, lang, short=True)
            elif last_day is None and step >= _HOUR:
                # The first tick of a multi-hour chart carries its date, for context.
                label = f"{format_date(day, lang, short=True)} {tick.hour:02d}:{tick.minute:02d}"
            else:
                label = f"{tick.hour:02d}:{tick.minute:02d}"
                if step < 60_000:
                    label += f":{tick.second:02d}"
            ticks.append((ms, label))
            last_day = day
        tick = _advance(tick, step, tz)
    return ticks


def _advance(moment: datetime, step_ms: int, tz: tzinfo) -> datetime:
    # Steps in wall-clock terms, so a DST change does not shift later labels off the hour.
    naive = moment.replace(tzinfo=None) + timedelta(milliseconds=step_ms)
    return naive.replace(tzinfo=tz)


def render_chart(
    view: ConditionView | Sequence[ConditionView],
    tz: tzinfo,
    lang: Lang,
    *,
    chart_id: str,
    title: str,
    desc: str,
) -> str:
    """The SVG chart of one series, or of several series of one measurement on one scale (a
    stage's sensors: one line each, the first series' band). Each series needs at least two
    samples: a single reading is no chart, and the page says it in words instead.
    ``chart_id`` is unique in the page."""
    views = [view] if isinstance(view, ConditionView) else list(view)
    if not views or any(len(v.samples) < 2 for v in views):
        raise ValueError("a chart needs series of at least two samples each")
    t0 = min(v.samples[0].time_ms for v in views)
    t1 = max(v.samples[-1].time_ms for v in views)
    if t1 == t0:
        t0, t1 = t0 - _HOUR // 2, t1 + _HOUR // 2
    sc = _Scale(t0, t1, *_value_range(views))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<defs><pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern>'
        f'<clipPath id="{chart_id}-clip"><rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" '
        f'height="{PLOT_H}"/></clipPath></defs>',
        *_band(views[0], sc),
        *_y_axis(views[0], sc),
        *(part for v in views for part in _spans(v, sc, chart_id, lang)),
        *_lines(views, sc, chart_id),
        *(part for v in views for part in _peaks(v, sc)),
        *_x_axis(sc, tz, lang),
        "</svg>",
    ]
    return "".join(parts)


def _band(view: ConditionView, sc: _Scale) -> list[str]:
    """The allowed band shaded, its limits dashed."""
    rule = view.rule
    if rule is None:
        return []
    top = sc.y(rule.high) if rule.high is not None else TOP
    bottom = sc.y(rule.low) if rule.low is not None else TOP + PLOT_H
    out = [
        f'<rect class="band" x="{LEFT}" y="{_f(top)}" width="{PLOT_W}" height="{_f(bottom - top)}"/>'
    ]
    for limit in (rule.low, rule.high):
        if limit is not None:
            y = _f(sc.y(limit))
            out.append(f'<line class="limit" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}"/>')
    return out


def _y_axis(view: ConditionView, sc: _Scale) -> list[str]:
    """Grid lines with value labels, and the unit above them."""
    out: list[str] = []
    step = _nice_step(sc.v1 - sc.v0)
    tick = sc.v0
    while tick <= sc.v1 + step / 1000:
        y = _f(sc.y(tick))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="ylabel" x="{LEFT - 5}" y="{y}" dy="0.35em">{tick:g}</text>')
        tick += step
    symbol = escape(unit_label(view.measurement, view.unit))
    out.append(f'<text class="unit" x="{LEFT - 5}" y="{TOP - 9}">{symbol}</text>')
    return out


def _spans(view: ConditionView, sc: _Scale, chart_id: str, lang: Lang) -> list[str]:
    """Gaps hatched, excursions beyond the grace shaded over the whole plot height."""
    a = view.assessment
    if a is None:
        return []
    out = []
    for g in a.gaps:
        x0, x1 = sc.x(g.start_ms), sc.x(g.end_ms)
        out.append(
            f'<rect class="gap" x="{_f(x0)}" y="{TOP}" width="{_f(x1 - x0)}" height="{PLOT_H}" '
            f'fill="url(#{chart_id}-hatch)"><title>{escape(t(lang, "gap_mark"))}</title></rect>'
        )
    for e in a.excursions:
        if e.severity is not Severity.SPIKE:
            x0, x1 = sc.x(e.start_ms), sc.x(e.end_ms)
            out.append(
                f'<rect class="excursion" x="{_f(x0)}" y="{TOP}" width="{_f(max(x1 - x0, 2))}" '
                f'height="{PLOT_H}"/>'
            )
    return out


def _lines(views: Sequence[ConditionView], sc: _Scale, chart_id: str) -> list[str]:
    """Each series (broken at gaps; ``s0``, ``s1``... for its colour), then each excursion's
    stretch over it in red or amber."""
    out = [f'<g clip-path="url(#{chart_id}-clip)">']
    for i, view in enumerate(views):
        for segment in _segments(view):
            points = _path(_thin(segment), sc)
            out.append(f'<polyline class="series s{i % 4}" points="{points}"/>')
    for view in views:
        for e in view.assessment.excursions if view.assessment else ():
            inside = [s for s in view.samples if e.start_ms <= s.time_ms <= e.end_ms]
            cls = "spike" if e.severity is Severity.SPIKE else "hot"
            out.append(f'<polyline class="series {cls}" points="{_path(_thin(inside), sc)}"/>')
    out.append("</g>")
    return out


def _peaks(view: ConditionView, sc: _Scale) -> list[str]:
    """A dot at each excursion's peak; the value written next to those beyond the grace."""
    out: list[str] = []
    for e in view.assessment.excursions if view.assessment else ():
        at = next(s for s in view.samples if s.time_ms >= e.start_ms and s.value == e.peak)
        x, y = sc.x(at.time_ms), sc.y(e.peak)
        if e.severity is Severity.SPIKE:
            out.append(f'<circle class="spike-mark" cx="{_f(x)}" cy="{_f(y)}" r="2.5"/>')
            continue
        out.append(f'<circle class="peak" cx="{_f(x)}" cy="{_f(y)}" r="3.5"/>')
        label_y = max(TOP + 9, min(y - 7 if e.direction == "high" else y + 14, TOP + PLOT_H - 3))
        right, left = x > LEFT + PLOT_W * 0.75, x < LEFT + PLOT_W * 0.25
        anchor = "end" if right else "start" if left else "middle"
        out.append(
            f'<text class="peak-label" x="{_f(x)}" y="{_f(label_y)}" text-anchor="{anchor}">'
            f"{e.peak:.1f}</text>"
        )
    return out


def _x_axis(sc: _Scale, tz: tzinfo, lang: Lang) -> list[str]:
    """The time axis with ticks on the local clock."""
    bottom = TOP + PLOT_H
    out = [f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{bottom}" y2="{bottom}"/>']
    for ms, label in _time_ticks(sc, tz, lang):
        x = sc.x(ms)
        out.append(
            f'<line class="tick" x1="{_f(x)}" x2="{_f(x)}" y1="{bottom}" y2="{bottom + 4}"/>'
        )
        # Keep labels inside the chart: anchor them at the edge they would cross.
        half = len(label) * 3.2
        anchor = "end" if x + half > WIDTH else "start" if x - half < 0 else "middle"
        out.append(
            f'<text class="xlabel" x="{_f(x)}" y="{bottom + 16}" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    return out
