# ruff: noqa: RUF001, RUF002  (Chinese text and en dashes on purpose)
"""The one-line condition summary of an assessment, in English or Chinese.

For example ``kept 0-5 °C for 97.8 % of 46 h; one 22-minute excursion to 7.8 °C`` or
``46 小时中 97.8% 的时间保持在 0–5 °C；1 次 22 分钟的偏离，最高 7.8 °C``. Parts, in order:
time in band; excursions beyond the grace period (count, the longest one's duration and peak);
spikes within the grace; no-data time; a cumulative breach. Nothing is rounded towards "good":
the percentage is floored to one decimal, so 99.96 % in band shows as 99.9 %, never 100 %.
"""

from __future__ import annotations

import math
from typing import Literal

from farmtrace.api.services.coldchain.assessment import Assessment
from farmtrace.api.services.coldchain.excursions import Excursion, Severity
from farmtrace.api.services.coldchain.rules import Rule
from farmtrace.api.services.uom import display_symbol

__all__ = ["format_band", "format_duration", "format_value", "summarize"]

Lang = Literal["en", "zh"]

_EN_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def unit_symbol(unit: str) -> str:
    """The display symbol of a UN/ECE unit code (``CEL`` → ``°C``, ``59`` → ``ppm``); empty if
    unknown, never the code itself (people cannot read ``VLT``)."""
    return display_symbol(unit)


def format_value(value: float, unit: str) -> str:
    """``7.8 °C``, ``93 %``: one decimal for temperatures, none for humidity."""
    digits = 0 if unit == "P1" else 1
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "-0.0"
    symbol = unit_symbol(unit)
    return f"{text} {symbol}" if symbol else text


def format_band(rule: Rule, lang: Lang = "en") -> str:
    """The alarm band as text: ``0–5 °C``, ``-0.5 to 3 °C`` (``-0.5 至 3 °C``), ``≤ -18 °C``."""
    symbol = unit_symbol(rule.unit)
    if rule.low is not None and rule.high is not None:
        if rule.low >= 0:
            return f"{_num(rule.low)}–{_num(rule.high)} {symbol}"
        joint = " 至 " if lang == "zh" else " to "
        return f"{_num(rule.low)}{joint}{_num(rule.high)} {symbol}"
    if rule.high is not None:
        return f"≤ {_num(rule.high)} {symbol}"
    assert rule.low is not None
    return f"≥ {_num(rule.low)} {symbol}"


def _num(value: float) -> str:
    return f"{value:g}"


def format_duration(ms: int, lang: Lang) -> str:
    """``40 s``, ``22 min``, ``3.5 h``, ``2 d 4 h`` (``40 秒``, ``22 分钟``, ``3.5 小时``...)."""
    if ms < 59_500:
        seconds = max(0, round(ms / 1000))
        return f"{seconds} 秒" if lang == "zh" else f"{seconds} s"
    minutes = ms / 60_000
    if minutes < 90:
        n = max(0, round(minutes))
        return f"{n} 分钟" if lang == "zh" else f"{n} min"
    hours = minutes / 60
    if hours < 48:
        text = f"{hours:.1f}".removesuffix(".0")
        return f"{text} 小时" if lang == "zh" else f"{text} h"
    days, rest = divmod(round(hours), 24)
    return f"{days} 天 {rest} 小时" if lang == "zh" else f"{days} d {rest} h"


def _percent(fraction: float) -> str:
    return f"{math.floor(fraction * 1000) / 10:.1f}"


def _count_en(n: int, noun: str) -> str:
    word = _EN_NUMBERS[n] if n < len(_EN_NUMBERS) else str(n)
    return f"{word} {noun}" + ("" if n == 1 else "s")


def _longest(excursions: tuple[Excursion, ...]) -> Excursion:
    return max(excursions, key=lambda e: (e.duration_ms, abs(e.peak - e.limit)))


def summarize(assessment: Assessment, lang: Lang) -> str:
    """The one-line summary of ``assessment`` in ``lang`` (see the module docstring)."""
    a = assessment
    if not a.samples:
        return "没有读数" if lang == "zh" else "no readings"
    parts = [_coverage(a, lang), _excursions(a, lang)]
    spikes = a.by_severity(Severity.SPIKE)
    if spikes:
        grace = f"{a.rule.grace_min:g}"
        parts.append(
            f"{len(spikes)} 次短暂波动（少于 {grace} 分钟，如开门或除霜）"
            if lang == "zh"
            else f"{_count_en(len(spikes), 'brief spike')} under {grace} min (doors, defrost)"
        )
    if a.gap_ms > 0:
        gap = format_duration(a.gap_ms, lang)
        parts.append(f"{gap}无数据" if lang == "zh" else f"no data for {gap}")
    if a.cumulative_breach and a.worst_window is not None:
        total = format_duration(a.worst_window.outside_ms, lang)
        window, limit = f"{a.rule.window_h:g}", f"{a.rule.cumulative_min:g}"
        parts.append(
            f"{window} 小时内累计超限 {total}（限值 {limit} 分钟）"
            if lang == "zh"
            else f"{total} outside within {window} h (limit {limit} min)"
        )
    return ("；" if lang == "zh" else "; ").join(parts)


def _coverage(a: Assessment, lang: Lang) -> str:
    """Time in the band: "kept 0–5 °C for 97.8 % of 46 h"."""
    band = format_band(a.rule, lang)
    fraction = a.in_band_fraction
    span = format_duration(a.span_ms, lang)
    if fraction is None:
        return f"仅一个读数，{band}" if lang == "zh" else f"a single reading; band {band}"
    percent = _percent(fraction)
    if fraction < 0.5:
        # Saying "kept" of a lot that was mostly outside would be spin.
        if lang == "zh":
            return f"{span}中仅 {percent}% 的时间在 {band} 内"
        return f"within {band} for only {percent} % of {span}"
    if lang == "zh":
        return f"{span}中 {percent}% 的时间保持在 {band}"
    return f"kept {band} for {percent} % of {span}"


def _excursions(a: Assessment, lang: Lang) -> str:
    """Excursions beyond the grace: how many, the longest one's duration and peak, breaches."""
    real = tuple(e for e in a.excursions if e.severity is not Severity.SPIKE)
    if not real:
        return "无偏离" if lang == "zh" else "no excursions"
    rule = a.rule
    worst = _longest(real)
    what = format_duration(worst.duration_ms, lang)
    peak = format_value(worst.peak, rule.unit)
    breaches = sum(1 for e in real if e.severity is Severity.BREACH)
    limit = f"{rule.consecutive_min:g}"
    if lang == "zh":
        extreme = "高" if worst.direction == "high" else "低"
        text = f"{len(real)} 次偏离，最长 {what}，最{extreme} {peak}"
        return text + (f"（{breaches} 次超过 {limit} 分钟限值）" if breaches else "")
    if len(real) == 1:
        adjective = what.replace(" min", "-minute").replace(" s", "-second")
        text = f"one {adjective} excursion to {peak}"
        return text + (f" (over the {limit}-minute limit)" if breaches else "")
    text = f"{_count_en(len(real), 'excursion')}, longest {what} to {peak}"
    return text + (f" ({breaches} over the {limit}-minute limit)" if breaches else "")
