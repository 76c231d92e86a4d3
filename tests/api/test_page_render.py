"""The consumer's page as HTML (farmtrace.api.services.page): facts in both languages, escaping, charts, badge."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farmtrace.api.services.coldchain import Sample, product_class
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.model import (
    Anchoring,
    ConditionView,
    EventKind,
    Localized,
    ProductPage,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page
from farmtrace.api.services.page.sample import sample_page

HOSTILE = "<script>alert('x')</script>\"&amp;<img src=x onerror=alert(1)>"
VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr"}
SVG_LEAF = {"rect", "line", "circle", "polyline", "path"}


class Structure(HTMLParser):
    """Checks that every element is closed in order, and collects tags and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def parse(html: str) -> Structure:
    parser = Structure()
    parser.feed(html)
    parser.close()
    assert parser.errors == [] and parser.stack == [], (parser.errors, parser.stack)
    return parser


@pytest.fixture(scope="module")
def page() -> ProductPage:
    return sample_page()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_well_formed_and_no_inline_script(page: ProductPage, lang: str) -> None:
    html = render_page(page, lang)  # type: ignore[arg-type]
    tree = parse(html)
    scripts = [attrs for tag, attrs in tree.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "/static/page/badge.js"}]
    for tag, attrs in tree.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
    assert html.count('<link rel="stylesheet" href="/static/page/page.css">') == 1
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_english_facts(page: ProductPage) -> None:
    html = render_page(page, "en")
    assert '<html lang="en">' in html
    assert "<h1>Butterhead lettuce</h1>" in html
    for fact in (
        "06901234567892",
        "LOT-2026-1119",
        "19 Nov 2026",
        "28 Nov 2026",
        "Shouguang, Shandong, China",
        "Greenfield farm",
        "Wang Li and family",
        "GLOBALG.A.P.",
        "China GAP",
        "Harvest",
        "Receiving",
        "Reefer truck 鲁B-12345",
        "Cold Express Logistics",
        "pending anchoring",
        "in the signed chain",
        "Scanned 3 times",
        "Qingdao: 2",
        "farmtrace verify BUNDLE --key VKEY",
        page.verification.verifier_key,
        "That the sensor was placed well",
        "Download the proof bundle",
    ):
        assert fact in html, fact
    # Times in the farm's zone: 22:00 UTC on 18 Nov is 06:00 on 19 Nov in Shanghai.
    assert "19 Nov 2026, 06:00 UTC+8" in html
    assert (
        "kept -0.5 to 3\u00a0°C for 98.7\u00a0% of 46 h; one 26-minute excursion to 5.2\u00a0°C"
        in html
    )


def test_chinese_facts(page: ProductPage) -> None:
    html = render_page(page, "zh")
    assert '<html lang="zh-Hans">' in html
    for fact in (
        "<h1>奶油生菜</h1>",
        "2026年11月19日",
        "采收",
        "收货",
        "等待上链",
        "防伪验证",
        "验证无法说明的",
        "46 小时中 98.7",
    ):
        assert fact in html, fact
    assert "Butterhead" not in html


def test_hostile_text_is_escaped() -> None:
    html = render_page(sample_page(hostile=HOSTILE), "en")
    tree = parse(html)
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;amp;&lt;img" in html
    assert [t for t, _ in tree.tags].count("script") == 1
    assert all("onerror" not in attrs for _, attrs in tree.tags)


def test_hostile_link_and_keys_stay_in_attributes() -> None:
    base = sample_page()
    info = dataclasses.replace(
        base.verification, bundle_url='x" onmouseover="alert(1)', verifier_key='k"><b>'
    )
    html = render_page(
        dataclasses.replace(base, verification=info, digital_link="javascript:alert(1)"), "en"
    )
    tree = parse(html)
    proof = next(attrs for tag, attrs in tree.tags if attrs.get("id") == "proof")
    assert proof["data-bundle-url"] == 'x" onmouseover="alert(1)'
    assert proof["data-verifier-key"] == 'k"><b>'
    assert "javascript:" not in [attrs.get("href") for _, attrs in tree.tags]


def test_charts_show_band_excursions_gaps_and_units(page: ProductPage) -> None:
    html = render_page(page, "en")
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(charts) == 2
    temp, humidity = charts
    assert 'role="img"' in temp and "<title" in temp and "<desc" in temp
    assert temp.count('class="band"') == 1 and temp.count('class="limit"') == 2
    assert temp.count('class="excursion"') == 1  # the defrost overshoot; spikes are not shaded
    assert temp.count('class="spike-mark"') == 3
    assert '<text class="peak-label"' in temp and ">5.2</text>" in temp
    assert temp.count('class="gap"') == 1 and humidity.count('class="gap"') == 1
    assert ">°C</text>" in temp and ">%RH</text>" in humidity
    assert re.search(r'class="xlabel"[^>]*>20 Nov</text>', temp)
    assert "allowed -0.5 to 3 °C" in html and "no data" in html
    assert '<li class="warn">Temperature: ' in html  # one excursion, no breach
    assert '<p class="summary warn">kept -0.5 to 3' in html  # the sensor's own line, amber
    assert '<p class="summary ok">kept 90–100' in html  # noqa: RUF001  (the band's en dash)


def test_badge_region(page: ProductPage) -> None:
    html = render_page(page, "en")
    tree = parse(html)
    proof = next(attrs for tag, attrs in tree.tags if attrs.get("id") == "proof")
    assert proof["data-state"] == "idle"
    assert proof["data-bundle-url"] == page.verification.bundle_url
    assert proof["data-readings"] == str(page.verification.readings)
    states = [attrs["data-for"] for _, attrs in tree.tags if "data-for" in attrs]
    assert states == ["idle", "verifying", "verified", "pending", "failed", "unavailable"]
    checks = [attrs["data-check"] for _, attrs in tree.tags if "data-check" in attrs]
    assert checks == ["checkpoint", "signatures", "batches", "series", "blocks", "claims"]
    assert "{readings} sensor readings" in html
    assert "Not yet under a signed checkpoint: 1 of the records." in html


def test_language_switch_only_when_asked(page: ProductPage) -> None:
    assert 'class="langs"' not in render_page(page, "en")
    links = {"zh": "?lang=zh", "en": "?lang=en"}
    html = render_page(page, "en", lang_hrefs=links)
    assert '<a href="?lang=zh" hreflang="zh-Hans" lang="zh-Hans">中文</a>' in html
    assert '<a href="?lang=en" lang="en" aria-current="page">English</a>' in html
    html = render_page(page, "zh", lang_hrefs=links)
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in html
    assert '<a href="?lang=zh" lang="zh-Hans" aria-current="page">中文</a>' in html


def minimal(**changes: object) -> ProductPage:
    base = ProductPage(
        name=Localized("Frozen peas"),
        gtin="06901234567892",
        lot="L1",
        digital_link="https://id.gs1.org/01/06901234567892/10/L1",
        verification=VerificationInfo("/b", "k+1+A", "/checkpoint"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_minimal_page_and_edge_series() -> None:
    html = render_page(minimal(), "zh")
    parse(html)
    assert "Frozen peas" in html and "尚无事件记录" in html and "没有关联的传感器读数" in html
    frozen = product_class("frozen").require("Temperature")
    one = ConditionView.build("Temperature", "CEL", [Sample(0, -20.0)], frozen)
    flat = ConditionView.build("Voltage", "VLT", [Sample(i * 60_000, 3.7) for i in range(5)], None)
    html = render_page(minimal(conditions=(one, flat)), "en")
    parse(html)
    # One reading is a sentence, never a chart; the battery is a sensor detail, in volts.
    assert "Temperature: one reading, -20.0\u00a0°C at 1 Jan 1970, 00:00 UTC" in html
    assert html.count("<svg") == 1 and '<details class="sensors">' in html
    assert "Battery" in html and ">V</text>" in html and "VLT" not in html


def test_untruthful_views_are_refused() -> None:
    naive = TimelineEvent(EventKind.HARVEST, datetime(2026, 1, 1), "f", "a", Anchoring.ANCHORED)
    with pytest.raises(ValueError, match="has no time zone"):
        render_page(minimal(events=(naive,)), "en")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        render_page(minimal(display_tz="Mars/Base"), "en")
    with pytest.raises(ValueError, match="language 'fr'"):
        render_page(minimal(), "fr")  # type: ignore[arg-type]


def test_events_are_in_time_order() -> None:
    def ev(kind: EventKind, day: int) -> TimelineEvent:
        return TimelineEvent(kind, datetime(2026, 1, day, tzinfo=UTC), "p", "a", Anchoring.ANCHORED)

    html = render_page(minimal(events=(ev(EventKind.SHIPPING, 3), ev(EventKind.HARVEST, 1))), "en")
    assert html.index(">Harvest<") < html.index(">Shipping<")
    assert minimal(harvest_date=date(2026, 1, 1)).harvest_date is not None


@pytest.mark.parametrize(
    ("header", "requested", "expected"),
    [
        (None, None, "en"),
        ("", None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", None, "en"),
        ("fr-FR, de;q=0.9, zh-Hant-TW;q=0.5, en;q=0.4", None, "zh"),
        ("en;q=0.2, zh;q=0.7", None, "zh"),
        ("en;q=0, *", None, "zh"),
        ("*;q=0.5, zh;q=0", None, "en"),
        ("de, fr", None, "en"),
        ("zh;q=bogus, en", None, "en"),
        ("en", "zh", "zh"),
        ("zh", "en-GB", "en"),
        ("zh", "fr", "zh"),
    ],
)
def test_choose_language(header: str | None, requested: str | None, expected: str) -> None:
    assert choose_language(header, requested) == expected


@given(st.text(max_size=200))
def test_choose_language_never_fails(header: str) -> None:
    assert choose_language(header) in ("en", "zh")


@given(st.text(max_size=60))
def test_any_product_name_renders_safely(name: str) -> None:
    html = render_page(minimal(name=Localized(name), lot=name or "L"), "en")
    parse(html)
    assert html.count("<script") == 1


@st.composite
def conditions(draw: st.DrawFn) -> ConditionView:
    steps = draw(st.lists(st.integers(1, 3_600_000), max_size=60))
    values = draw(
        st.lists(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            min_size=len(steps) + 1,
            max_size=len(steps) + 1,
        )
    )
    start = draw(st.integers(0, 2_000_000_000_000))
    times = [start]
    for step in steps:
        times.append(times[-1] + step)
    name = draw(st.sampled_from(["lettuce", "frozen", "tomatoes", "chilled"]))
    rule = draw(st.sampled_from([None, product_class(name).require("Temperature")]))
    samples = [Sample(t, v) for t, v in zip(times, values, strict=True)]
    return ConditionView.build("Temperature", "CEL", samples, rule)


@given(conditions(), st.sampled_from(["en", "zh"]))
def test_any_series_renders_a_well_formed_chart(cond: ConditionView, lang: str) -> None:
    html = render_page(minimal(conditions=(cond,), display_tz="Asia/Shanghai"), lang)  # type: ignore[arg-type]
    parse(html)
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    if len(cond.samples) < 2:
        assert charts == []  # a single reading is said in words
        return
    (chart,) = charts
    assert "nan" not in chart and "inf" not in chart
    assert chart.count('class="band"') == (0 if cond.rule is None else 1)
