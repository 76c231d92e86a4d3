"""Cold-chain rules, excursions, assessments and summaries (farmtrace.api.services.coldchain)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.api.services.coldchain import (
    PRODUCT_CLASSES,
    ColdChainError,
    Rule,
    Sample,
    Severity,
    assess,
    compute_excursions,
    find_gaps,
    product_class,
)
from farmtrace.api.services.coldchain.assessment import max_in_window
from farmtrace.api.services.coldchain.summary import format_band, format_duration, summarize

MIN = 60_000
FDA = product_class("chilled-fda").require("Temperature")


def minutes(values: Sequence[float], step_min: int = 1, start: int = 0) -> list[Sample]:
    return [Sample(start + i * step_min * MIN, v) for i, v in enumerate(values)]


def rule(**changes: object) -> Rule:
    base: dict[str, object] = {
        "rule_id": "test/Temperature@1",
        "measurement": "Temperature",
        "unit": "CEL",
        "low": 0.0,
        "high": 5.0,
        "ideal_low": 0.0,
        "ideal_high": 5.0,
        "grace_min": 10,
        "consecutive_min": 30,
        "cumulative_min": 60,
        "window_h": 24,
    }
    base.update(changes)
    return Rule(**base)  # type: ignore[arg-type]


# --- product classes -----------------------------------------------------------------------


def test_every_class_has_a_temperature_rule_inside_its_source_band() -> None:
    for cls in PRODUCT_CLASSES.values():
        temp = cls.rule_for("Temperature")
        assert temp is not None, cls.name
        assert temp.rule_id == f"{cls.name}/Temperature@1"
        if temp.ideal_low is not None:
            assert temp.low is not None and temp.low <= temp.ideal_low
        if temp.ideal_high is not None:
            assert temp.high is not None and temp.high >= temp.ideal_high


def test_field_bands() -> None:
    lettuce = product_class("lettuce")
    t = lettuce.rule_for("Temperature")
    rh = lettuce.rule_for("RelativeHumidity")
    assert t is not None and rh is not None
    assert (t.ideal_low, t.ideal_high) == (0, 1)
    assert (rh.ideal_low, rh.ideal_high) == (95, 99)
    tomatoes = product_class("tomatoes").rule_for("Temperature")
    assert tomatoes is not None and tomatoes.low == 12  # chill-sensitive: a lower limit
    frozen = product_class("frozen").rule_for("Temperature")
    assert frozen is not None and (frozen.low, frozen.high) == (None, -18)
    assert product_class("frozen").rule_for("RelativeHumidity") is None
    with pytest.raises(ColdChainError, match="frozen has no rule for RelativeHumidity"):
        product_class("frozen").require("RelativeHumidity")
    assert FDA.high == 5
    chilled = product_class("chilled").rule_for("Temperature")
    assert chilled is not None and (chilled.low, chilled.high) == (0, 8)


def test_unknown_class_names_the_known_ones() -> None:
    with pytest.raises(ColdChainError, match=r"unknown product class 'kale'.*lettuce"):
        product_class("kale")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"low": None, "high": None}, "neither a low nor a high"),
        ({"low": 6.0}, "low 6.0 is above high 5.0"),
        ({"grace_min": 40}, "grace 40 min exceeds"),
        ({"window_h": 0}, "must be > 0"),
        ({"high": float("nan")}, "not a finite number"),
        ({"rule_id": "a b"}, "without spaces"),
        ({"gap_factor": 0.5}, "gap_factor"),
    ],
)
def test_bad_rules_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ColdChainError, match=message):
        rule(**changes)


# --- excursions ----------------------------------------------------------------------------


def test_one_excursion_with_duration_peak_and_rule() -> None:
    values = [3.0] * 10 + [6.0, 7.8, 7.0] + [3.0] * 10
    (e,) = compute_excursions(minutes(values), FDA)
    assert (e.start_ms, e.end_ms, e.peak, e.samples) == (10 * MIN, 13 * MIN, 7.8, 3)
    assert e.direction == "high" and e.returned and e.rule is FDA
    assert e.severity is Severity.SPIKE  # 3 min < 20 min grace, and it came back


def test_severity_grace_excursion_breach() -> None:
    r = rule()
    short = compute_excursions(minutes([1] + [6] * 5 + [1]), r)
    middle = compute_excursions(minutes([1] + [6] * 15 + [1]), r)
    long = compute_excursions(minutes([1] + [6] * 30 + [1]), r)
    assert [e.severity for e in short + middle + long] == [
        Severity.SPIKE,
        Severity.EXCURSION,
        Severity.BREACH,
    ]
    # A short excursion that does not come back (series ends outside) is not a spike.
    (open_end,) = compute_excursions(minutes([1, 1, 6, 6]), r)
    assert not open_end.returned and open_end.severity is Severity.EXCURSION


def test_lower_limit_and_side_changes_split_excursions() -> None:
    r = rule()
    found = compute_excursions(minutes([1, -1, -2, 7, 8, 1]), r)
    assert [(e.direction, e.peak, e.start_ms // MIN, e.end_ms // MIN) for e in found] == [
        ("low", -2, 1, 3),
        ("high", 8, 3, 5),
    ]
    assert not found[0].returned and found[1].returned


def test_limits_are_inside() -> None:
    assert compute_excursions(minutes([0.0, 5.0, 0.0]), rule()) == []


def test_gap_is_no_data_and_ends_an_excursion() -> None:
    r = rule()
    # 5-minute sampling, a 60-minute hole while outside.
    series = [
        Sample(0, 1),
        Sample(5 * MIN, 7),
        Sample(10 * MIN, 7),
        Sample(70 * MIN, 7),
        Sample(75 * MIN, 1),
    ]
    (gap,) = find_gaps(series, r)
    assert (gap.start_ms, gap.end_ms) == (10 * MIN, 70 * MIN)
    first, second = compute_excursions(series, r)
    assert (first.start_ms, first.end_ms, first.returned) == (5 * MIN, 10 * MIN, False)
    assert (second.start_ms, second.end_ms, second.returned) == (70 * MIN, 75 * MIN, True)
    a = assess(series, r)
    assert a.covered_ms == 15 * MIN and a.outside_ms == 10 * MIN
    assert "no data for 60 min" in summarize(a, "en")


def test_interval_can_be_given() -> None:
    series = minutes([1, 1, 1], step_min=10)
    assert len(find_gaps(series, rule(), interval_ms=MIN)) == 2
    assert find_gaps(series, rule()) == []
    with pytest.raises(ColdChainError, match="interval_ms 0"):
        find_gaps(series, rule(), interval_ms=0)


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([Sample(0, 1), Sample(0, 2)], "is not after"),
        ([Sample(5, 1), Sample(0, 2)], "is not after"),
        ([Sample(0, float("inf"))], "has value inf"),
    ],
)
def test_bad_series_are_refused(series: list[Sample], message: str) -> None:
    with pytest.raises(ColdChainError, match=message):
        compute_excursions(series, rule())


def test_cumulative_limit_counts_spikes() -> None:
    r = rule(cumulative_min=30)
    # Eight 5-minute spikes an hour apart: each within grace, 40 minutes outside in total.
    values: list[float] = []
    for _ in range(8):
        values += [7.0] * 5 + [2.0] * 55
    a = assess(minutes(values), r)
    assert all(e.severity is Severity.SPIKE for e in a.excursions)
    assert a.worst_window is not None and a.worst_window.outside_ms == 40 * MIN
    assert a.cumulative_breach and a.breached
    assert "40 min outside within 24 h (limit 30 min)" in summarize(a, "en")


def test_max_in_window_finds_the_densest_window() -> None:
    intervals = [(0, 10), (100, 130), (150, 160), (400, 500)]
    w = max_in_window(intervals, 70)
    assert w is not None and w.outside_ms == 70  # (400, 500) fills the window entirely
    w = max_in_window(intervals[:3], 70)
    assert w is not None and w.outside_ms == 40


# --- summaries -----------------------------------------------------------------------------


def test_summary_like_the_field_notes() -> None:
    values = [3.0] * (46 * 60)
    for i in range(600, 622):
        values[i] = 7.8
    a = assess(minutes(values), FDA)
    assert summarize(a, "en") == "kept 0–5 °C for 99.2 % of 46 h; one 22-minute excursion to 7.8 °C"  # noqa: RUF001
    assert summarize(a, "zh") == (
        "46 小时中 99.2% 的时间保持在 0–5 °C；1 次偏离，最长 22 分钟，最高 7.8 °C"  # noqa: RUF001
    )


def test_summary_of_a_mostly_outside_series_does_not_say_kept() -> None:
    a = assess(minutes([7.0] * 50 + [3.0] * 10), FDA)
    assert summarize(a, "en").startswith("within 0–5 °C for only 15.2 % of 59 min")  # noqa: RUF001
    assert summarize(a, "zh").startswith("59 分钟中仅 15.2% 的时间在 0–5 °C 内")  # noqa: RUF001
    assert "(over the 45-minute limit)" in summarize(a, "en")


def test_summary_never_rounds_up_to_perfect() -> None:
    values = [3.0] * 10_000
    values[5000] = 6.0
    a = assess(minutes(values), FDA)
    assert "99.9 %" in summarize(a, "en") and "brief spike" in summarize(a, "en")


def test_summary_of_frozen_and_empty() -> None:
    frozen = product_class("frozen").rule_for("Temperature")
    assert frozen is not None
    assert format_band(frozen) == "≤ -18 °C"
    a = assess(minutes([-20.0] * 120), frozen)
    assert summarize(a, "en") == "kept ≤ -18 °C for 100.0 % of 2 h; no excursions"
    assert summarize(assess([], frozen), "en") == "no readings"
    assert summarize(assess([Sample(0, -20)], frozen), "zh").startswith("仅一个读数")


def test_durations() -> None:
    assert format_duration(22 * MIN, "en") == "22 min"
    assert format_duration(3 * 60 * MIN + 30 * MIN, "zh") == "3.5 小时"
    assert format_duration(50 * 60 * MIN, "en") == "2 d 2 h"


# --- properties ----------------------------------------------------------------------------

values_st = st.floats(min_value=-30, max_value=40, allow_nan=False)


@st.composite
def series_st(draw: st.DrawFn) -> list[Sample]:
    steps = draw(st.lists(st.integers(1, 40), min_size=0, max_size=80))
    values = draw(st.lists(values_st, min_size=len(steps) + 1, max_size=len(steps) + 1))
    times = [0]
    for step in steps:
        times.append(times[-1] + step * MIN)
    return [Sample(t, v) for t, v in zip(times, values, strict=True)]


@settings(max_examples=examples(300))
@given(series_st())
def test_durations_add_up(series: list[Sample]) -> None:
    a = assess(series, FDA)
    gaps = sum(g.duration_ms for g in a.gaps)
    outside = sum(e.duration_ms for e in a.excursions)
    assert a.in_band_ms + outside + gaps == series[-1].time_ms - series[0].time_ms
    assert a.in_band_ms >= 0
    for e in a.excursions:
        assert e.start_ms <= e.end_ms
        assert all(not (e.start_ms < g.start_ms < e.end_ms) for g in a.gaps)
        span = [s for s in series if e.start_ms <= s.time_ms <= e.end_ms]
        inside = [s for s in span if FDA.direction(s.value) == e.direction]
        assert len(inside) == e.samples
        assert span[:-1] == inside[: len(span) - 1]  # only the last sample may be elsewhere
        assert all(FDA.direction(s.value) == e.direction for s in inside)
        assert e.peak in [s.value for s in inside]


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=100))
def test_series_inside_the_band_has_no_excursion(values: list[float]) -> None:
    a = assess(minutes(values), FDA)
    assert a.excursions == () and not a.breached
    assert a.in_band_fraction in (None, 1.0)


@given(
    st.lists(st.floats(min_value=0, max_value=5), min_size=2, max_size=100),
    st.floats(min_value=5.01, max_value=30),
)
def test_shifting_outside_gives_one_excursion_spanning_the_series(
    values: list[float], shift: float
) -> None:
    series = minutes([v + shift for v in values])
    (e,) = compute_excursions(series, FDA)
    assert (e.start_ms, e.end_ms) == (series[0].time_ms, series[-1].time_ms)
    assert e.direction == "high" and not e.returned and e.samples == len(series)
    assert e.peak == max(s.value for s in series)
    assert assess(series, FDA).in_band_fraction == 0.0
