"""Small server-rendered SVG line charts for the benchmark report (no plotting library).

The same approach as the consumer page's chart (``farmtrace.api.services.page.chart``): the SVG
is written as text, with a ``<title>`` and a ``<desc>`` that lists every point, so a reader
without images still gets the figures. The x axis may be logarithmic (stored sizes and block
sizes span decades); the y axis starts at zero, so heights compare honestly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_chart"]

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 46, 46
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = ("#1f6feb", "#d4731c", "#2da44e", "#a0449b", "#6e7781")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and its (x, y) points (sorted by x when drawn)."""

    name: str
    points: Sequence[tuple[float, float]]


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _number(value: float) -> str:
    """A tick label: 1.5k, 20k, 1M, 0.25, 12."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:.3g}"


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    log_x: bool = True,
    subtitle: str = "",
) -> str:
    """A complete ``<svg>`` element: every series as a line with its points marked, a legend
    on the right, axes labelled. Points with a non-positive x are left out on a log axis."""
    drawn = [
        Series(s.name, sorted((x, y) for x, y in s.points if not log_x or x > 0)) for s in series
    ]
    xs = sorted({x for s in drawn for x, _ in s.points})
    ys = [y for s in drawn for _, y in s.points]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}{escape(f' ({subtitle})' if subtitle else '')}</title>",
        f"<desc>{escape(_describe(drawn, x_label, y_label))}</desc>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT}" y="34" fill="#57606a">{escape(subtitle)}</text>',
    ]
    if not xs:
        parts.append(f'<text x="{LEFT}" y="{TOP + PLOT_H / 2}">no data</text></svg>')
        return "\n".join(parts)

    def fx(x: float) -> float:
        lo, hi = (math.log10(xs[0]), math.log10(xs[-1])) if log_x else (xs[0], xs[-1])
        v = math.log10(x) if log_x else x
        return LEFT + (PLOT_W / 2 if hi == lo else (v - lo) / (hi - lo) * PLOT_W)

    step = _nice_step(max(ys) * 1.05 if max(ys) > 0 else 1.0)
    top = step * max(1, math.ceil(max(ys) * 1.05 / step))

    def fy(y: float) -> float:
        return TOP + PLOT_H - max(0.0, y) / top * PLOT_H

    # Axes, grid and ticks: one x tick at each measured x, the y axis in nice steps from zero.
    parts.append(
        f'<path d="M{LEFT},{TOP}V{TOP + PLOT_H}H{LEFT + PLOT_W}" fill="none" stroke="#57606a"/>'
    )
    tick = 0.0
    while tick <= top + step / 2:
        y = fy(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de" '
            f'stroke-width="0.5"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(tick)}</text>"
        )
        tick += step
    for x in xs:
        px = fx(x)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H + 4}" '
            f'stroke="#57606a"/><text x="{px:.1f}" y="{TOP + PLOT_H + 16}" '
            f'text-anchor="middle">{_number(x)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(x_label)}{' (log scale)' if log_x and len(xs) > 1 else ''}</text>"
    )
    parts.append(
        f'<text transform="translate(14,{TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for n, s in enumerate(drawn):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        points = [(fx(x), fy(y)) for x, y in s.points]
        if len(points) > 1:
            path = "M" + "L".join(f"{px:.1f},{py:.1f}" for px, py in points)
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashed}/>'
            )
        parts += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points
        ]
        ly = TOP + 6 + n * 18
        lx = LEFT + PLOT_W + 14
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
            f'<text x="{lx + 24}" y="{ly + 4}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _describe(series: Sequence[Series], x_label: str, y_label: str) -> str:
    lines = [f"{y_label} against {x_label}."]
    for s in series:
        points = "; ".join(f"{_number(x)}: {y:,.4g}" for x, y in s.points) or "no points"
        lines.append(f"{s.name}: {points}.")
    return " ".join(lines)
