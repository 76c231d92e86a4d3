# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The page's words: the condition verdict, stage rules, units and names, plural forms."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from farmtrace.api.services.coldchain import Sample
from farmtrace.api.services.coldchain.stages import field_rules, stage_rule
from farmtrace.api.services.page.i18n import TEXT, count_words, measurement_name
from farmtrace.api.services.page.model import (
    ConditionView,
    Localized,
    ProductPage,
    ScanStats,
    StageView,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page
from farmtrace.api.services.page.verdict import condition_verdict, format_span
from farmtrace.api.services.uom import display_symbol, to_display

T0 = datetime(2026, 4, 17, 6, tzinfo=UTC)
MIN = 60_000


def ms(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


def series(start: float, end: float, values: list[float]) -> list[Sample]:
    step = (end - start) / (len(values) - 1)
    return [Sample(ms(start + i * step), v) for i, v in enumerate(values)]


STAGES = (
    StageView("field", "North field", T0, T0 + timedelta(minutes=15)),
    StageView("room", "Cold room 1", T0 + timedelta(minutes=15), T0 + timedelta(days=2)),
    StageView("truck", "Truck 1", T0 + timedelta(days=2), T0 + timedelta(days=3)),
)


def cond(
    stage: StageView, measurement: str, unit: str, samples: list[Sample], device: str = "d1"
) -> ConditionView:
    rule = stage_rule("lettuce", stage.kind, measurement, unit)
    return ConditionView.build(measurement, unit, samples, rule, place=stage.name, device=device)


def page(*conditions: ConditionView, stages: tuple[StageView, ...] = STAGES) -> ProductPage:
    return ProductPage(
        name=Localized("Butterhead lettuce", "奶油生菜"),
        gtin="04012345000016",
        lot="LOT-2026-0417",
        digital_link="https://id.example/01/04012345000016/10/LOT-2026-0417",
        verification=VerificationInfo("/b", "k+1+A", "/checkpoint"),
        stages=stages,
        conditions=conditions,
    )


def room_temps(values: list[float]) -> ConditionView:
    return cond(STAGES[1], "Temperature", "CEL", series(15, 2 * 24 * 60, values))


def truck_temps(values: list[float]) -> ConditionView:
    return cond(STAGES[2], "Temperature", "CEL", series(2 * 24 * 60, 3 * 24 * 60, values))


def field_temps(values: list[float]) -> ConditionView:
    return cond(STAGES[0], "Temperature", "CEL", series(0, 15, values))


def test_verdict_kept_in_range_names_the_range_and_the_span() -> None:
    # The field's 12 °C is growing weather: it does not widen the cold chain's range.
    view = page(
        field_temps([12.0, 12.8]), room_temps([0.4] + [1.0] * 200), truck_temps([2.8] * 100)
    )
    verdict = condition_verdict(view, "en")
    assert verdict.status == "ok"
    assert verdict.text == "Kept between 0.4 and 2.8 °C from harvest to shop, 3 days"
    assert condition_verdict(view, "zh").text == "从采收到门店始终保持在 0.4–2.8 °C，共 3 天"


def test_verdict_while_the_lot_is_still_travelling() -> None:
    open_truck = dataclasses.replace(STAGES[2], end=None)
    view = page(room_temps([1.0] * 50), truck_temps([2.0] * 10), stages=(*STAGES[:2], open_truck))
    assert condition_verdict(view, "en").text == (
        "Kept between 1.0 and 2.0 °C since harvest, 3 days so far"
    )


def test_verdict_names_an_excursion_honestly() -> None:
    # 25 min above 3 °C in the truck (readings every 10 min): beyond lettuce's 20 min grace.
    temps = [2.0] * 100 + [7.8, 7.8, 7.8] + [2.0] * 40
    truck = cond(
        STAGES[2],
        "Temperature",
        "CEL",
        [Sample(ms(2 * 24 * 60 + 10 * i), v) for i, v in enumerate(temps)],
    )
    view = page(room_temps([1.0] * 50), truck)
    verdict = condition_verdict(view, "en")
    assert verdict.status == "warn"
    assert verdict.text == (
        "Out of its range once: up to 7.8 °C for 30 minutes in Truck 1 (allowed -0.5 to 3 °C)"
    )
    assert "Kept" not in verdict.text
    assert condition_verdict(view, "zh").text == (
        "曾 1 次超出范围：在 Truck 1 达 7.8 °C，持续 30 分钟（允许 -0.5 至 3 °C）"
    )


def test_one_excursion_seen_by_three_sensors_is_one_time() -> None:
    values = [2.0] * 10 + [6.0] * 6 + [2.0] * 10
    sensors = [
        cond(
            STAGES[1],
            "Temperature",
            "CEL",
            [Sample(ms(20 + 10 * i), v) for i, v in enumerate(values)],
            f"d{n}",
        )
        for n in range(3)
    ]
    assert condition_verdict(page(*sensors), "en").text.startswith("Out of its range once:")


def test_verdict_says_when_records_are_missing() -> None:
    samples = [Sample(ms(20 + i), 1.0) for i in range(30)] + [
        Sample(ms(20 + 30 + 180 + i), 1.5) for i in range(30)
    ]
    view = page(cond(STAGES[1], "Temperature", "CEL", samples))
    verdict = condition_verdict(view, "en")
    assert verdict.status == "warn"
    assert verdict.text == "Between 1.0 and 1.5 °C where recorded, but no record for 3 hours"


def test_verdict_without_cold_chain_records() -> None:
    field_only = (STAGES[0],)
    assert condition_verdict(page(field_temps([11.0, 12.0]), stages=field_only), "en").text == (
        "No cold-chain records yet: only its time in the field"
    )
    assert condition_verdict(page(), "en").text == "No temperature was recorded in the cold chain"
    assert condition_verdict(page(stages=()), "zh").text == "此批次没有温度记录"
    assert condition_verdict(page(stages=()), "en").status == "none"


def test_frost_in_the_field_is_a_field_clause_not_a_cold_chain_excursion() -> None:
    # -2 °C for 80 min in the field: frost under the field rule, not a cold-chain excursion.
    frost = cond(
        STAGES[0],
        "Temperature",
        "CEL",
        [Sample(ms(10 * i), v) for i, v in enumerate([1.0] + [-2.0] * 8 + [1.0])],
    )
    view = page(frost, room_temps([1.0] * 50), truck_temps([2.0] * 10))
    verdict = condition_verdict(view, "en")
    assert verdict.status == "warn"
    assert verdict.text == (
        "Kept between 1.0 and 2.0 °C from harvest to shop, 3 days; "
        "temperature out of its range in North field for 80 minutes"
    )


def test_stage_rules_come_from_the_stage() -> None:
    cold = stage_rule("lettuce", "room", "Temperature", "CEL")
    assert cold is not None and cold.rule_id == "lettuce/Temperature@1"
    assert stage_rule("lettuce", "truck", "RelativeHumidity", "P1") is not None
    assert stage_rule("lettuce", "display", "Temperature", "CEL") == cold  # a display case
    air = stage_rule("lettuce", "field", "Temperature", "CEL")
    assert air is not None and air.rule_id == "lettuce/field/Temperature@1"
    assert (air.low, air.high) == (0.0, 30.0) and "frost" in air.source
    assert stage_rule("lettuce", "field", "Temperature", "CEL", soil_device=True) is None
    soil = stage_rule("lettuce", "field", "VolumeFraction", "P1", soil_device=True)
    assert soil is not None and (soil.low, soil.high) == (13.8, 48.2)
    assert stage_rule("lettuce", "field", "RelativeHumidity", "P1") is None  # no field band
    assert stage_rule("frozen", "field", "Temperature", "CEL") is None  # no field rules
    assert stage_rule("lettuce", "room", "Temperature", "FAH") is None  # other unit
    assert stage_rule("lettuce", "warehouse", "Temperature", "CEL") is None  # unknown kind
    for rules in field_rules().values():
        for item in rules:
            assert item.rule.source and ".md" not in item.rule.source  # no file names shown


@pytest.mark.parametrize(
    ("ms_", "en", "zh"),
    [
        (1000, "1 second", "1 秒"),
        (19_000, "19 seconds", "19 秒"),
        (60_000, "1 minute", "1 分钟"),
        (35 * MIN, "35 minutes", "35 分钟"),
        (60 * 90_000, "2 hours", "2 小时"),  # 90 min rounds to 2 hours
        (3_600_000 * 30, "30 hours", "30 小时"),
        (86_400_000 * 3, "3 days", "3 天"),
    ],
)
def test_plural_forms(ms_: int, en: str, zh: str) -> None:
    assert format_span(ms_, "en") == en and format_span(ms_, "zh") == zh


def test_counted_words_have_both_forms() -> None:
    assert count_words("en", "sensor_count", 1) == "1 sensor"
    assert count_words("en", "sensor_count", 6) == "6 sensors"
    assert count_words("en", "excursions", 1) == "1 excursion"
    assert count_words("en", "readings", 2) == "2 readings"
    for key in TEXT:
        if key.endswith("_one"):
            assert key.removesuffix("_one") + "_many" in TEXT, key


@pytest.mark.parametrize(
    ("measurement", "en", "zh"),
    [
        ("VolumeFraction", "Soil moisture", "土壤含水量"),
        ("Conductivity", "Soil salinity (EC)", "土壤电导率"),
        ("Illuminance", "Light", "光照"),
        ("Pressure", "Air pressure", "气压"),
        ("Voltage", "Battery", "电池电压"),
        ("farm:CO2", "CO₂", "二氧化碳"),
        (
            "https://example.org/voc/LeafWetness",
            "Other measurement (LeafWetness)",
            "其他测量 (LeafWetness)",
        ),
    ],
)
def test_measurement_names_in_both_languages(measurement: str, en: str, zh: str) -> None:
    assert measurement_name("en", measurement) == en
    assert measurement_name("zh", measurement) == zh


def test_units_people_read() -> None:
    assert [display_symbol(c) for c in ("CEL", "P1", "LUX", "KPA", "59", "D10", "H61", "VLT")] == [
        "°C", "%", "lx", "kPa", "ppm", "dS/m", "dS/m", "V",
    ]  # fmt: skip
    assert to_display("D10", 0.15) == pytest.approx(1.5)  # 0.15 S/m is 1.5 dS/m
    assert display_symbol("XYZ") == ""  # never the bare code


def test_page_shows_units_and_names_not_codes() -> None:
    field = STAGES[0]
    signals = [
        ("Illuminance", "LUX", 12000.0, "lx"),
        ("Pressure", "KPA", 101.3, "kPa"),
        ("farm:CO2", "59", 800.0, "ppm"),
        ("Conductivity", "H61", 1.5, "dS/m"),
        ("VolumeFraction", "P1", 25.0, "%"),
        ("Voltage", "VLT", 3.9, "V"),
        ("RelativeHumidity", "P1", 80.0, "%RH"),
    ]
    conds = [
        cond(field, m, unit, series(0, 15, [value, value + 1, value]), device="ws1")
        for m, unit, value, _ in signals
    ]
    for lang in ("en", "zh"):
        html = render_page(page(*conds, stages=(field,)), lang)  # type: ignore[arg-type]
        text = re.sub(r"<[^>]+>", " ", html)
        for _, _, _, symbol in signals:
            assert f">{symbol}</text>" in html, symbol  # the chart's unit label
        for code in ("VLT", "D10", "H61", "LUX", "KPA", " 59", "VolumeFraction", "farm:CO2"):
            assert code not in text, code
        assert ".md" not in text and ".json" not in text
    html = render_page(page(*conds, stages=(field,)), "en")
    assert "Soil moisture" in html and "Battery" in html and "Light" in html


def test_scan_counts_are_plural_right() -> None:
    once = dataclasses.replace(page(), scans=ScanStats(total=1))
    assert "Scanned once." in render_page(once, "en")
    assert "共被扫描 1 次。" in render_page(once, "zh")
    assert "Scanned 4 times." in render_page(dataclasses.replace(once, scans=ScanStats(4)), "en")
