# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose; ranges an en dash)
"""The page's "gaps in the readings": readings missing inside a lot's series, with their cause.

A lot's bundle proves it holds every reading of each device inside each stage's window
(``docs/bundle.md``, "Complete series"); where seqs are missing the bundle declares a gap and
the page shows it, in the page's language, instead of drawing a line across it. Pure
formatting, like :mod:`farmtrace.api.services.page.render`: text is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from farmtrace.api.services.page.model import Lang, SeriesGap
from farmtrace.api.services.series_rule import Gap

__all__ = ["page_gaps", "render_gaps"]

_TEXT: dict[str, tuple[str, str]] = {
    "heading": ("Gaps in the readings", "读数缺口"),
    "intro": (
        "Each sensor numbers its readings. These numbers are missing inside the lot's times:",
        "每个传感器的读数都有编号。在本批次的时间内缺少以下编号：",
    ),
    "dropped-by-device": (
        "dropped by the sensor (its memory was full; it signed that it gave them up)",
        "传感器已丢弃（存储已满，传感器签名声明放弃）",
    ),
    "not-received": ("not yet received", "尚未收到"),
    "rejected-by-gateway": (
        "refused by the gateway (signed by the sensor, but failing a check such as its time)",
        "被网关拒收（传感器已签名，但未通过时间等检查）",
    ),
}


def _t(lang: Lang, key: str) -> str:
    en, zh = _TEXT[key]
    return zh if lang == "zh" else en


def page_gaps(gaps: Sequence[Gap]) -> tuple[SeriesGap, ...]:
    """The view model's gaps from the series' gaps (:mod:`farmtrace.api.services.series_rule`)."""
    return tuple(SeriesGap(g.stage, g.device_id, g.first_seq, g.last_seq, g.cause) for g in gaps)


def _count(gap: SeriesGap, lang: Lang) -> str:
    n = gap.last_seq - gap.first_seq + 1
    numbers = f"{gap.first_seq}" if n == 1 else f"{gap.first_seq}–{gap.last_seq}"
    if lang == "zh":
        return f"第 {numbers} 号读数（{n} 条）"
    return f"reading {numbers}" if n == 1 else f"readings {numbers} ({n})"


def render_gaps(gaps: tuple[SeriesGap, ...], lang: Lang) -> str:
    """The section listing ``gaps`` ("" when there are none)."""
    if not gaps:
        return ""
    items = "".join(
        f'<li data-device="{escape(g.device)}" data-first-seq="{g.first_seq}" '
        f'data-last-seq="{g.last_seq}" data-cause="{escape(g.cause)}">'
        f'{escape(g.stage)} · <span title="{escape(g.device)}">'
        f"{escape(g.device.rsplit('.', 1)[-1])}</span> · {escape(_count(g, lang))}: "
        f"{escape(_t(lang, g.cause) if g.cause in _TEXT else g.cause)}</li>"
        for g in gaps
    )
    return (
        '<section class="gaps" aria-labelledby="gaps-h">'
        f'<h2 id="gaps-h">{escape(_t(lang, "heading"))}</h2>'
        f"<p>{escape(_t(lang, 'intro'))}</p><ul>{items}</ul></section>"
    )
