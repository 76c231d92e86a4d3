"""The community's token supply over time as a server-rendered SVG chart, readable on a phone.

Built the way the provenance page draws a measurement (:mod:`farmtrace.api.services.page.chart`:
the same canvas, scale, time axis on the local clock and CSS classes), with what a supply needs
instead of a band: the supply is a step line (it only changes at a mint or a reinvested
distribution, and stays flat in between), the y axis starts at zero and reads in compact whole
numbers (``10M``, ``1000万``), and each surplus distribution is a marked tick on the line.
Output is a complete ``<svg>`` element with ``role="img"``, a ``<title>`` and a ``<desc>``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape

from farmtrace.api.services.page.chart import (
    HEIGHT,
    LEFT,
    PLOT_H,
    PLOT_W,
    TOP,
    WIDTH,
    _f,
    _nice_step,
    _Scale,
    _x_axis,
)
from farmtrace.api.services.page.model import Lang
from farmtrace.api.services.page.timefmt import from_ms

__all__ = ["SupplyPoint", "compact_number", "render_supply_chart"]

_HOUR = 3_600_000
_LONG_MS = 42 * 24 * _HOUR
"""Beyond six weeks the provenance chart's hour and day ticks crowd: months instead."""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class SupplyPoint:
    """The supply (whole tokens' smallest units, an integer) right after the entry at
    ``time_ms``; ``distribution`` marks a surplus distribution there."""

    time_ms: int
    supply: int
    distribution: bool = False


def compact_number(value: float, lang: Lang, step: float | None = None) -> str:
    """An axis label: ``2.5M``, ``750k`` in English; ``250万``, ``1.2亿`` in Chinese (the
    units people read numbers in); plain below a thousand (ten thousand in Chinese). ``step``
    (the axis' step) sets how many decimals keep neighbouring labels apart (``10.025M``)."""
    if lang == "zh":
        units: tuple[tuple[float, str], ...] = ((1e8, "亿"), (1e4, "万"))
    else:
        units = ((1e9, "G"), (1e6, "M"), (1e3, "k"))
    for size, word in units:
        if abs(value) >= size:
            scaled = value / size
            places = 1 if step is None else max(0, -math.floor(math.log10(step / size) + 1e-9))
            text = f"{scaled:.{min(places, 6)}f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return text + word
    return f"{round(value):d}" if value == round(value) else f"{value:g}"


def _y_range(points: Sequence[SupplyPoint]) -> tuple[float, float]:
    """From zero, unless the supply stays above half its peak: then from a round value below
    its lowest, so that mints small beside the supply still show (the labels say where the
    axis starts)."""
    low, high = min(p.supply for p in points), max(p.supply for p in points)
    if high <= 0:
        return 0.0, 1.0
    if low <= high / 2 or high == low:
        step = _nice_step(high * 1.05)
        return 0.0, math.ceil(high * 1.05 / step) * step
    pad = (high - low) * 0.1
    step = _nice_step(high - low + 2 * pad)
    return math.floor((low - pad) / step) * step, math.ceil((high + pad) / step) * step


def render_supply_chart(
    points: Sequence[SupplyPoint],
    tz: tzinfo,
    lang: Lang,
    *,
    chart_id: str,
    title: str,
    desc: str,
    unit: str,
    until_ms: int | None = None,
) -> str:
    """The SVG chart of the supply after each entry, in time order (at least one point).

    ``until_ms``: where the time axis ends (the page's "now"; the last step is drawn flat up to
    it); by default the last point's time. ``unit`` is the token's name, written above the y
    axis. ``chart_id`` is unique in the page. Raises ValueError for no points or points out of
    time order.
    """
    if not points:
        raise ValueError("a supply chart needs at least one point")
    if any(b.time_ms < a.time_ms for a, b in itertools.pairwise(points)):
        raise ValueError("supply points must be in time order")
    t0 = points[0].time_ms
    t1 = max(points[-1].time_ms, until_ms if until_ms is not None else points[-1].time_ms)
    if t1 == t0:
        t0, t1 = t0 - _HOUR // 2, t1 + _HOUR // 2
    sc = _Scale(t0, t1, *_y_range(points))
    parts = [
        f'<svg class="chart supply" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        *_y_axis(sc, lang, unit),
        _steps(points, sc, t1),
        *_marks(points, sc),
        *(_x_axis(sc, tz, lang) if sc.t1 - sc.t0 <= _LONG_MS else _month_axis(sc, tz, lang)),
        "</svg>",
    ]
    return "".join(parts)


def _y_axis(sc: _Scale, lang: Lang, unit: str) -> list[str]:
    out: list[str] = []
    step = _nice_step(sc.v1 - sc.v0)
    tick = sc.v0
    while tick <= sc.v1 + step / 1000:
        y = _f(sc.y(tick))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}"/>')
        out.append(
            f'<text class="ylabel" x="{LEFT - 5}" y="{y}" dy="0.35em">'
            f"{escape(compact_number(tick, lang, step))}</text>"
        )
        tick += step
    out.append(f'<text class="unit" x="{LEFT - 5}" y="{TOP - 9}">{escape(unit)}</text>')
    return out


def _steps(points: Sequence[SupplyPoint], sc: _Scale, until: int) -> str:
    """Flat until the next entry, then up (or down) to its supply."""
    coords: list[str] = []
    for i, p in enumerate(points):
        if i:
            coords.append(f"{_f(sc.x(p.time_ms))},{_f(sc.y(points[i - 1].supply))}")
        coords.append(f"{_f(sc.x(p.time_ms))},{_f(sc.y(p.supply))}")
    coords.append(f"{_f(sc.x(until))},{_f(sc.y(points[-1].supply))}")
    return f'<polyline class="series s0" points="{" ".join(coords)}"/>'


def _marks(points: Sequence[SupplyPoint], sc: _Scale) -> list[str]:
    bottom = TOP + PLOT_H
    out: list[str] = []
    for p in points:
        if p.distribution:
            x = _f(sc.x(p.time_ms))
            out.append(f'<line class="dist" x1="{x}" x2="{x}" y1="{TOP}" y2="{bottom}"/>')
            out.append(f'<circle class="dist-mark" cx="{x}" cy="{_f(sc.y(p.supply))}" r="3"/>')
    return out


def _month_label(moment: datetime, lang: Lang, with_year: bool) -> str:
    if lang == "zh":
        return f"{moment.year}年{moment.month}月" if with_year else f"{moment.month}月"
    name = _MONTHS[moment.month - 1]
    return f"{name} {moment.year}" if with_year else name


def _month_axis(sc: _Scale, tz: tzinfo, lang: Lang) -> list[str]:
    """The time axis of a long chart: ticks on the first of a month (every 1, 2, 3, 6 or 12
    months, at most about six), the year written on the first tick and on each January."""
    bottom = TOP + PLOT_H
    out = [f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{bottom}" y2="{bottom}"/>']
    start, end = from_ms(sc.t0, tz), from_ms(sc.t1, tz)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    every = next((k for k in (1, 2, 3, 6, 12) if months / k <= 6), 12 * (months // 72 + 1))
    index = start.year * 12 + start.month  # the month after the start's
    index += (-index) % every  # a multiple of the step, so ticks fall on round months
    first = True
    while True:
        year, month = divmod(index, 12)
        moment = datetime(year, month + 1, 1, tzinfo=tz)
        ms = round(moment.timestamp() * 1000)
        if ms > sc.t1:
            break
        if ms >= sc.t0:
            x = sc.x(ms)
            label = _month_label(moment, lang, first or moment.month == 1)
            first = False
            half = len(label) * 3.2
            anchor = "end" if x + half > WIDTH else "start" if x - half < 0 else "middle"
            out.append(
                f'<line class="tick" x1="{_f(x)}" x2="{_f(x)}" y1="{bottom}" y2="{bottom + 4}"/>'
            )
            out.append(
                f'<text class="xlabel" x="{_f(x)}" y="{bottom + 16}" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
        index += every
    return out
