"""The page's one-line condition verdict, in plain words, from the cold-chain stages' readings.

"Kept between 0.4 and 2.8 °C from harvest to shop, 3 days" is said only when it is true: every
cold-chain temperature reading lies in that range (the lowest and highest reading, spikes
included), no rule found an excursion beyond its grace in a cold stage, and the readings have no
gap. Otherwise the sentence says what happened: how often and how far the lot left its range and
where, or how long nothing was recorded, or that there are no cold-chain records at all.
Field stages never make the lot "out of range" in the cold-chain sense; an excursion there (frost,
heat, dry soil) is added as its own clause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from farmtrace.api.services.coldchain import Excursion, Severity
from farmtrace.api.services.coldchain.stages import COLD_STAGES, FIELD_STAGES
from farmtrace.api.services.coldchain.summary import format_band, format_value
from farmtrace.api.services.page.i18n import count_words, measurement_name, t
from farmtrace.api.services.page.model import ConditionView, Lang, ProductPage

__all__ = ["Verdict", "condition_verdict", "episodes", "format_span"]

_MINUTE, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """``status``: ``ok`` (kept in range, fully recorded), ``warn`` (an excursion or missing
    records), ``none`` (nothing to judge); ``text`` in the page's language, plain text."""

    status: Literal["ok", "warn", "none"]
    text: str


def format_span(ms: int, lang: Lang) -> str:
    """A duration in words with the right plural: "1 second", "35 minutes", "5 hours", "3 days"."""
    if ms < 59_500:
        return count_words(lang, "seconds", max(1, round(ms / 1000)))
    if ms < 90 * _MINUTE:
        return count_words(lang, "minutes", round(ms / _MINUTE))
    if ms < 48 * _HOUR:
        return count_words(lang, "hours", round(ms / _HOUR))
    return count_words(lang, "days", round(ms / _DAY))


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _stage_names(view: ProductPage, kinds: frozenset[str]) -> dict[str, str]:
    return {s.name: s.kind for s in view.stages if s.kind in kinds}


def _excursions(conds: list[ConditionView]) -> list[tuple[ConditionView, Excursion]]:
    return [
        (c, e)
        for c in conds
        if c.assessment is not None
        for e in c.assessment.excursions
        if e.severity is not Severity.SPIKE
    ]


def episodes(found: list[tuple[ConditionView, Excursion]]) -> int:
    """How many times the lot left its range: overlapping excursions of several sensors of one
    place are one episode (three loggers seeing one door opening is one event, not three)."""
    spans = sorted((c.place, e.start_ms, e.end_ms) for c, e in found)
    count, place, end = 0, None, -1
    for where, start_ms, end_ms in spans:
        if where != place or start_ms > end:
            count, place, end = count + 1, where, end_ms
        else:
            end = max(end, end_ms)
    return count


def _out_sentence(found: list[tuple[ConditionView, Excursion]], lang: Lang) -> str:
    cond, worst = max(found, key=lambda ce: (ce[1].duration_ms, abs(ce[1].peak - ce[1].limit)))
    count = episodes(found)
    values = {
        "peak": format_value(worst.peak, cond.unit),
        "duration": format_span(worst.duration_ms, lang),
        "stage": cond.place,
        "band": format_band(worst.rule, lang),
        "count": count,
    }
    return t(lang, "verdict_out_one" if count == 1 else "verdict_out_many", **values)


def _other_clause(found: list[tuple[ConditionView, Excursion]], lang: Lang) -> str:
    cond, _ = max(found, key=lambda ce: ce[1].duration_ms)
    total = sum(e.duration_ms for c, e in found if c.measurement == cond.measurement)
    return t(
        lang, "verdict_other_out",
        measurement=measurement_name(lang, cond.measurement).lower() if lang == "en"
        else measurement_name(lang, cond.measurement),
        stage=cond.place, duration=format_span(total, lang),
    )  # fmt: skip


def condition_verdict(view: ProductPage, lang: Lang) -> Verdict:
    """The verdict for ``view`` in ``lang`` (see the module docstring)."""
    cold = _stage_names(view, COLD_STAGES)
    field = _stage_names(view, FIELD_STAGES)
    in_cold = [c for c in view.conditions if c.place in cold]
    temps = [c for c in in_cold if c.measurement == "Temperature" and c.unit == "CEL"]
    samples = [s for c in temps for s in c.samples]
    sep = "；" if lang == "zh" else "; "  # noqa: RUF001  (the Chinese semicolon)
    field_out = _excursions([c for c in view.conditions if c.place in field])
    tail = [_other_clause(field_out, lang)] if field_out else []
    if not samples:
        if cold:
            key = "verdict_cold_empty"
        elif view.stages and all(s.kind in FIELD_STAGES for s in view.stages):
            key = "verdict_field_only"
        else:
            key = "verdict_none"
        return Verdict("warn" if tail else "none", sep.join([t(lang, key), *tail]))
    low, high = _number(min(s.value for s in samples)), _number(max(s.value for s in samples))
    span = max(s.time_ms for s in samples) - min(s.time_ms for s in samples)
    temp_out = _excursions(temps)
    other_out = _excursions([c for c in in_cold if c not in temps])
    gap_ms = max((c.assessment.gap_ms for c in temps if c.assessment is not None), default=0)
    if temp_out:
        parts = [_out_sentence(temp_out, lang)]
    elif gap_ms > 0:
        parts = [t(lang, "verdict_gap", low=low, high=high, gap=format_span(gap_ms, lang))]
    else:
        still_open = any(s.end is None for s in view.stages if s.kind in COLD_STAGES)
        key = "verdict_ok_open" if still_open else "verdict_ok"
        parts = [t(lang, key, low=low, high=high, span=format_span(span, lang))]
    if other_out:
        parts.append(_other_clause(other_out, lang))
    parts += tail
    status: Literal["ok", "warn"] = (
        "ok" if not (temp_out or gap_ms or other_out or field_out) else "warn"
    )
    return Verdict(status, sep.join(parts))
