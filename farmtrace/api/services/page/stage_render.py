# ruff: noqa: RUF001, RUF002  (en dashes between times, full-width punctuation in Chinese, on purpose)
"""The page's details, stage by stage and in time order: what each place did to the product.

Each stage shows one line per judged measurement (range, allowed band, excursions), one
temperature chart with every air or product sensor of the stage on one scale, a humidity chart
where a rule judges humidity there, and a closed "sensor details" control holding everything
else: each sensor's own charts, its other signals (light, pressure, soil, CO₂, battery), its
excursion list and rule. A series of fewer than two readings gets a sentence, never a chart.
Conditions whose place is no stage of the lot are grouped under that place, after the stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from html import escape

from farmtrace.api.services.coldchain import Assessment, Severity
from farmtrace.api.services.coldchain.stages import COLD_STAGES, FIELD_STAGES, SOIL_MOISTURE
from farmtrace.api.services.coldchain.summary import (
    format_band,
    format_duration,
    format_value,
    summarize,
)
from farmtrace.api.services.page.chart import render_chart, unit_label
from farmtrace.api.services.page.i18n import count_words, measurement_name, t
from farmtrace.api.services.page.model import ConditionView, Lang, ProductPage, StageView
from farmtrace.api.services.page.timefmt import format_datetime, from_ms
from farmtrace.api.services.page.verdict import episodes

__all__ = ["render_stages", "stage_label", "stage_window"]

TEMPERATURE, HUMIDITY, VOLTAGE = "Temperature", "RelativeHumidity", "Voltage"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _keep_units(text: str) -> str:
    """No line break between a number and its unit."""
    for unit in (" °C", " %", " lx", " kPa", " ppm", " dS/m", " V"):
        text = text.replace(unit, "\u00a0" + unit[1:])
    return text


def stage_label(lang: Lang, kind: str) -> str:
    """A stage kind in words: Field, Cold room, Truck, Display."""
    key = f"stage_{kind}"
    return t(lang, key if key in ("stage_field", "stage_room", "stage_truck", "stage_display")
             else "stage_other")  # fmt: skip


def stage_window(stage: StageView, tz: tzinfo, lang: Lang) -> str:
    """``6 Dec 2026, 07:00 UTC+1 – 07:15`` (the end's date only when it differs)."""
    start = format_datetime(stage.start, tz, lang)
    if stage.end is None:
        return start + " –"
    end_local, start_local = stage.end.astimezone(tz), stage.start.astimezone(tz)
    if end_local.date() == start_local.date():
        return f"{start} – {end_local.hour:02d}:{end_local.minute:02d}"
    return f"{start} – {format_datetime(stage.end, tz, lang)}"


class _Group:
    """One stage (or a place without a stage) and its conditions."""

    def __init__(self, stage: StageView | None, place: str, conds: list[ConditionView]) -> None:
        self.stage, self.place, self.conds = stage, place, conds
        self.soil = {c.device for c in conds if c.measurement == SOIL_MOISTURE}

    def is_soil(self, cond: ConditionView) -> bool:
        return cond.device in self.soil

    def name(self, lang: Lang, cond: ConditionView) -> str:
        return measurement_name(lang, cond.measurement, soil=self.is_soil(cond))

    def main(self) -> list[tuple[str, list[ConditionView]]]:
        """The charts shown open: air/product temperature, and humidity where it is judged."""
        temps = [
            c for c in self.conds
            if c.measurement == TEMPERATURE and not self.is_soil(c) and len(c.samples) >= 2
        ]  # fmt: skip
        cold = self.stage is None or self.stage.kind in COLD_STAGES
        hums = [
            c for c in self.conds
            if c.measurement == HUMIDITY and len(c.samples) >= 2 and (cold and c.rule is not None)
        ]  # fmt: skip
        return [(m, cs) for m, cs in ((TEMPERATURE, temps), (HUMIDITY, hums)) if cs]


def _groups(view: ProductPage) -> list[_Group]:
    by_place: dict[str, list[ConditionView]] = {}
    for cond in view.conditions:
        by_place.setdefault(cond.place, []).append(cond)
    groups = [
        _Group(s, s.name, by_place.pop(s.name, []))
        for s in sorted(view.stages, key=lambda s: s.start)
    ]
    groups += [_Group(None, place, conds) for place, conds in by_place.items()]
    return groups


def render_stages(view: ProductPage, tz: tzinfo, lang: Lang) -> str:
    """The "stage by stage" section (an empty-state sentence when there are no readings)."""
    groups = _groups(view)
    parts = [
        '<section class="stages" aria-labelledby="stages-h">'
        f'<h2 id="stages-h">{_e(t(lang, "stages_heading"))}</h2>'
    ]
    if not view.conditions:
        parts.append(f"<p>{_e(t(lang, 'no_conditions'))}</p>")
    counter = [0]
    for i, group in enumerate(groups):
        if group.conds or group.stage is not None:
            parts.append(_group(group, i, counter, tz, lang))
    parts.append("</section>")
    return "".join(parts)


def _group(group: _Group, index: int, counter: list[int], tz: tzinfo, lang: Lang) -> str:
    stage = group.stage
    kind = stage.kind if stage else "other"
    out = [f'<article class="stage {_e(kind)}" id="stage-{index}">']
    label = stage_label(lang, kind) if stage else ""
    out.append(
        f"<h3>{_e(group.place or label)}"
        + (f' <span class="kind">{_e(label)}</span>' if stage and group.place else "")
        + "</h3>"
    )
    if stage is not None:
        out.append(f'<p class="when">{_e(stage_window(stage, tz, lang))}</p>')
        if stage.place_id:
            out.append(
                f'<details class="place-id"><summary>{_e(t(lang, "place_id"))}</summary>'
                f"<code>{_e(stage.place_id)}</code></details>"
            )
    out.append(_lines(group, tz, lang))
    drawn: set[int] = set()
    for measurement, conds in group.main():
        counter[0] += 1
        out.append(_figure(group, conds, measurement, f"c{counter[0]}", tz, lang))
        if len(conds) == 1:
            drawn.add(id(conds[0]))  # its own chart would repeat the one above
    details = _sensor_details(group, counter, drawn, tz, lang)
    out.append(details)
    out.append("</article>")
    return "".join(out)


def _lines(group: _Group, tz: tzinfo, lang: Lang) -> str:
    """One line per measurement people care about here: range, band, excursions."""
    rows: list[str] = []
    order = (TEMPERATURE, HUMIDITY, SOIL_MOISTURE)
    measurements = sorted(
        {c.measurement for c in group.conds if c.measurement in order}, key=order.index
    )
    for measurement in measurements:
        conds = [
            c for c in group.conds
            if c.measurement == measurement and c.samples
            and not (measurement == TEMPERATURE and group.is_soil(c) and c.rule is None)
        ]  # fmt: skip
        if measurement == HUMIDITY and not any(c.rule is not None for c in conds):
            continue  # humidity without a rule (the field's weather) stays in the details
        if not conds:
            continue
        rows.append(_line(group, measurement, conds, tz, lang))
    if (
        group.stage is not None
        and group.stage.kind in FIELD_STAGES
        and not any(c.rule is not None for c in group.conds)
    ):
        rows.append(f'<li class="plain">{_e(t(lang, "no_band_field"))}</li>')
    return f'<ul class="lines">{"".join(rows)}</ul>' if rows else ""


def _line(
    group: _Group, measurement: str, conds: list[ConditionView], tz: tzinfo, lang: Lang
) -> str:
    name = group.name(lang, conds[0])
    values = [s.value for c in conds for s in c.samples]
    unit = conds[0].unit
    symbol = unit_label(measurement, unit)
    if len(values) == 1:
        cond = conds[0]
        text = t(
            lang, "one_reading", measurement=name,
            value=format_value(values[0], unit), time=format_datetime(from_ms(cond.samples[0].time_ms, tz), tz, lang),
        )  # fmt: skip
        return f'<li class="plain">{_e(_keep_units(text))}</li>'
    digits = 0 if unit == "P1" else 1
    text = t(lang, "range_line", measurement=name, low=f"{min(values):.{digits}f}",
             high=f"{max(values):.{digits}f}", unit=symbol)  # fmt: skip
    judged = [c.assessment for c in conds if c.assessment is not None]
    status = "plain"
    if judged:
        rule = judged[0].rule
        real = [e for a in judged for e in a.excursions if e.severity is not Severity.SPIKE]
        # Three loggers seeing one door opening: one excursion, as in the verdict.
        times = episodes([(c, e) for c in conds if c.assessment for e in c.assessment.excursions
                          if e.severity is not Severity.SPIKE])  # fmt: skip
        spikes = sum(1 for a in judged for e in a.excursions if e.severity is Severity.SPIKE)
        sep = "；" if lang == "zh" else "; "
        bits = [t(lang, "allowed_band", band=format_band(rule, lang))]
        if real:
            worst = max(real, key=lambda e: e.duration_ms)
            bits.append(
                count_words(lang, "excursions", times)
                + (f"，最长 {format_duration(worst.duration_ms, lang)}" if lang == "zh"
                   else f", longest {format_duration(worst.duration_ms, lang)}")
            )  # fmt: skip
            status = "breach" if any(e.severity is Severity.BREACH for e in real) else "warn"
        else:
            bits.append(t(lang, "no_excursions"))
            status = "ok"
        if spikes:
            bits.append(count_words(lang, "spikes", spikes))
        text = text + sep + sep.join(bits)
    return f'<li class="{status}">{_e(_keep_units(text))}</li>'


def _figure(
    group: _Group,
    conds: Sequence[ConditionView],
    measurement: str,
    chart_id: str,
    tz: tzinfo,
    lang: Lang,
) -> str:
    name = group.name(lang, conds[0])
    start = format_datetime(from_ms(min(c.samples[0].time_ms for c in conds), tz), tz, lang)
    end = format_datetime(from_ms(max(c.samples[-1].time_ms for c in conds), tz), tz, lang)
    count = sum(len(c.samples) for c in conds)
    desc = t(lang, "chart_desc", measurement=name, start=start, end=end, count=count, summary="")
    chart = render_chart(list(conds), tz, lang, chart_id=chart_id, title=name, desc=desc.strip())
    legend = [f'<span class="legend-item"><span class="key line"></span>{_e(name)}'
              + (f" ({_e(count_words(lang, 'sensor_count', len(conds)))})" if len(conds) > 1 else "")
              + "</span>"]  # fmt: skip
    rule = conds[0].rule
    if rule is not None:
        legend.append(
            '<span class="legend-item"><span class="key band"></span>'
            f"{_e(t(lang, 'allowed_band', band=format_band(rule, lang)))}</span>"
        )
    judged = [c.assessment for c in conds if c.assessment is not None]
    if any(e.severity is not Severity.SPIKE for a in judged for e in a.excursions):
        legend.append(
            f'<span class="legend-item"><span class="key excursion"></span>{_e(t(lang, "excursion_mark"))}</span>'
        )
    if any(a.gaps for a in judged):
        legend.append(
            f'<span class="legend-item"><span class="key gap"></span>{_e(t(lang, "gap_mark"))}</span>'
        )
    return f"<figure>{chart}<figcaption>{''.join(legend)}</figcaption></figure>"


def _sensor_details(
    group: _Group, counter: list[int], drawn: set[int], tz: tzinfo, lang: Lang
) -> str:
    devices: dict[str, list[ConditionView]] = {}
    for cond in group.conds:
        devices.setdefault(cond.device, []).append(cond)
    if not devices:
        return ""
    parts = [
        f'<details class="sensors"><summary>{_e(t(lang, "sensor_details"))} '
        f'<span class="n">({_e(count_words(lang, "sensor_count", len(devices)))})</span></summary>'
    ]
    for device, conds in devices.items():
        parts.append('<div class="sensor">')
        if device:
            # A short name to read ("FT01-SP01"); the full identifier below it, small.
            short = device.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
            key = "soil_probe" if device in group.soil else "sensor"
            parts.append(
                f"<h4>{_e(t(lang, key, device=short))}</h4>"
                f'<p class="device-id"><code>{_e(device)}</code></p>'
            )
        for cond in sorted(conds, key=lambda c: (c.measurement == VOLTAGE, c.measurement)):
            parts.append(_series(group, cond, counter, id(cond) not in drawn, tz, lang))
        parts.append("</div>")
    parts.append("</details>")
    return "".join(parts)


def _series(
    group: _Group, cond: ConditionView, counter: list[int], chart: bool, tz: tzinfo, lang: Lang
) -> str:
    name = group.name(lang, cond)
    out = [f'<div class="series-detail"><h5>{_e(name)}</h5>']
    a = cond.assessment
    if len(cond.samples) == 1:
        only = cond.samples[0]
        text = t(lang, "one_reading_short", value=format_value(only.value, cond.unit),
                 time=format_datetime(from_ms(only.time_ms, tz), tz, lang))  # fmt: skip
        out.append(f'<p class="reading">{_e(_keep_units(text))}</p>')
    elif a is not None:
        status = _status(a)
        out.append(f'<p class="summary {status}">{_e(_keep_units(summarize(a, lang)))}</p>')
    if chart and len(cond.samples) >= 2:
        counter[0] += 1
        start = format_datetime(from_ms(cond.samples[0].time_ms, tz), tz, lang)
        end = format_datetime(from_ms(cond.samples[-1].time_ms, tz), tz, lang)
        desc = t(lang, "chart_desc", measurement=name, start=start, end=end,
                 count=len(cond.samples), summary="" if a is None else summarize(a, lang))  # fmt: skip
        svg = render_chart(cond, tz, lang, chart_id=f"c{counter[0]}", title=name, desc=desc.strip())
        out.append(f"<figure>{svg}</figure>")
    if cond.clock_backwards:
        key = "clock_backwards_one" if cond.clock_backwards == 1 else "clock_backwards_many"
        out.append(f'<p class="note clock">{_e(t(lang, key, count=cond.clock_backwards))}</p>')
    if a is not None:
        out.append(_excursion_list(a, cond.unit, tz, lang))
    if cond.rule is not None and cond.rule.source:
        out.append(
            # The rule's id (stored with each excursion) is for auditors, not in the text.
            f'<p class="rule" data-rule="{_e(cond.rule.rule_id)}">'
            f"{_e(t(lang, 'rule_note', source=cond.rule.source))}</p>"
        )
    out.append("</div>")
    return "".join(out)


def _status(a: Assessment) -> str:
    """``ok``, ``warn`` (an excursion beyond the grace) or ``breach``: the summary's colour."""
    if a.breached:
        return "breach"
    return "warn" if any(e.severity is not Severity.SPIKE for e in a.excursions) else "ok"


def _excursion_list(a: Assessment, unit: str, tz: tzinfo, lang: Lang) -> str:
    """The excursions beyond the grace, one per line; empty if none."""
    shown = [e for e in a.excursions if e.severity is not Severity.SPIKE]
    if not shown:
        return ""
    rows = []
    for e in shown:
        row = t(
            lang, "excursion_row",
            start=format_datetime(from_ms(e.start_ms, tz), tz, lang),
            duration=format_duration(e.duration_ms, lang),
            peak=format_value(e.peak, unit),
        )  # fmt: skip
        severity = t(lang, "severity_" + e.severity.value)
        rows.append(
            f'<li class="{e.severity.value}">{_e(row)} <span class="sev">{_e(severity)}</span></li>'
        )
    return (
        f'<p class="excursions-h">{_e(t(lang, "excursions_heading"))}</p>'
        f'<ul class="excursions">{"".join(rows)}</ul>'
    )
