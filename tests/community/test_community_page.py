# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The community page (``/communities/{id}``, :mod:`farmtrace.api.services.community_page`):
rendered from the rules engine's replay in English and Chinese, with the supply chart, where the
supply came from, the distributions, the rules in force with worked figures computed from the
rule file, the member count and never a member's address; the member view's contract for
``/static/community/member.js``; under the page CSP (no inline script, style or handler); served
by the API with 404 and 422 pages, never a 5xx."""

from __future__ import annotations

import re
from datetime import UTC

import pytest
from support.community import KEYS, Operator, rules_doc
from support.community_api import ADDR, Community
from support.community_chain import coop_history, vector_history

from farmtrace.api.services.community_page.chart import (
    SupplyPoint,
    compact_number,
    render_supply_chart,
)
from farmtrace.api.services.community_page.i18n import MEMBER_WORDS, TEXT, money, per_token, share
from farmtrace.api.services.community_page.model import CommunityPageView, view_of_replay
from farmtrace.api.services.community_page.render import (
    MEMBER_STATES,
    STATEMENT_CHECKS,
    render_community_page,
    render_malformed,
    render_not_found,
)
from farmtrace.commerce.community.entries import CommunityEntry
from farmtrace.commerce.community.replay import CommunityReplay

BASE = "/v1/communities/barbershop"
HREFS = {"zh": "?lang=zh", "en": "?lang=en"}
ADDRESS = re.compile(r"[0-9a-f]{64}")


def _view(entries: list[CommunityEntry], community: str = "barbershop") -> CommunityPageView:
    replay = CommunityReplay()
    for entry in entries:
        replay.apply(entry)
    return view_of_replay(
        community, replay, anchored=3, verifier_keys=["old+1+A", "new+2+B"], generated_ms=1
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _csp_safe(html: str) -> None:
    """No inline script or style, no event handler attribute, no javascript: URL."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\bsrc="/static/', tag), tag
    assert re.search(r"<script\b[^>]*>[^<]+</script>", html) is None
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert "javascript:" not in html


def test_barbershop_v1_page_shows_the_worked_figures_from_the_rule_file() -> None:
    view = _view(vector_history()[:6])  # rules v1 .. the first dividend
    html = render_community_page(view, "en", lang_hrefs=HREFS)
    text = _text(html)
    _csp_safe(html)
    assert "Barbershop community token" in text and "CUT" in text
    # The COMMERCE.md numbers, computed by the rules engine from docs/communities/barbershop.json.
    assert "A deposit of 1,000.00 CNY mints 25,000 CUT" in text
    assert "A 100.00 CNY service with cost 50.00 CNY mints 250 CUT" in text
    assert "100,000.00 CNY buys 5,000,000 CUT: 0.02 CNY per token" in text
    assert "10,000,000 CUT allocated to 2 keys at founding" in text
    assert "paid out in money, pro rata to the balances held" in text
    assert "Version 1, in force from entry 1" in text
    assert "4 keys (no names are recorded)" in text
    assert "Dividend: 10,000.03 CNY paid out pro rata to 4 holders" in text
    assert f"The supply equals the sum of all balances: {view.supply:,} CUT" in text
    # Nobody's address is on the page: holders are counted, not named.
    assert ADDRESS.findall(html) == [view.in_force.sha256, view.head] or set(
        ADDRESS.findall(html)
    ) <= {view.in_force.sha256, view.head}
    for address in ADDR.values():
        assert address not in html


def test_rule_changes_show_the_version_in_force_and_the_earlier_ones() -> None:
    view = _view(vector_history())
    assert [r.version for r in view.rules] == [1, 2]
    html = render_community_page(view, "en", lang_hrefs=HREFS)
    text = _text(html)
    assert 'data-version="2"' in html
    assert "Version 2, in force from entry 7" in text
    assert "never applied backwards" in text
    assert "A deposit of 1,000.00 CNY mints 12,500 CUT" in text  # v2: a quarter
    assert "Work hours: 100 CUT per hour" in text
    assert "reinvested: it buys tokens at the reference price" in text
    assert "Version 1: from entry 1" in text  # earlier versions
    # The initial issue is version 1's and is still shown under version 2.
    assert "10,000,000 CUT allocated to 2 keys at founding" in text
    assert "Reinvested: a surplus of 7,777.77 CNY bought 388,888 CUT" in text
    made = dict((op, (amount, count)) for op, amount, count in view.made)
    assert made["rules"] == (10_000_000, 1)
    assert made["distribution"] == (388_888, 1)
    assert sum(amount for amount, _ in made.values()) == view.supply == view.balance_total


def test_supply_chart_marks_each_distribution() -> None:
    view = _view(vector_history())
    html = render_community_page(view, "zh", lang_hrefs=HREFS)
    svg = re.search(r"<svg class=\"chart supply\".*?</svg>", html)
    assert svg is not None
    assert svg.group(0).count('class="dist-mark"') == 2 == len(view.distributions)
    assert '<title id="supply-t">通证总量随时间变化</title>' in svg.group(0)
    assert 'role="img"' in svg.group(0)


def test_chinese_page_has_every_section_in_chinese() -> None:
    view = _view(vector_history())
    html = render_community_page(view, "zh", lang_hrefs=HREFS)
    _csp_safe(html)
    text = _text(html)
    assert '<html lang="zh-Hans">' in html
    for phrase in (
        "通证总量变化",
        "盈余分配",
        "现行规则",
        "我的账单",
        "自行离线验证",
        "4 个密钥（不记录姓名）",
    ):
        assert phrase in text, phrase
    assert "充值 1,000.00 CNY 铸造 12,500 CUT" in text
    assert 'aria-current="page">中文' in html


def test_farm_coop_page_reads_pledges_and_hours_in_money() -> None:
    view = _view(coop_history(), "green-valley-coop")
    text = _text(render_community_page(view, "en"))
    assert "Green Valley co-operative share (GVC)" in text
    assert "Work hours: tokens worth 30.00 CNY per hour at the reference price" in text
    assert "An hour mints 30 GVC" in text
    assert "A pledge of 100.00 CNY mints 10 GVC" in text
    assert "1.00 CNY buys 1 GVC: 1.00 CNY per token" in text
    assert "Campaign pledges" in text and "Work hours" in text


def test_member_view_contract() -> None:
    view = _view(vector_history())
    html = render_community_page(view, "en", lang_hrefs=HREFS)
    section = re.search(r'<section id="member"[^>]*>', html)
    assert section is not None
    tag = section.group(0)
    assert 'data-statement-url="/v1/communities/barbershop/members/{address}/statement"' in tag
    assert 'data-verifier-key="new+2+B"' in tag and 'data-retired-keys="old+1+A"' in tag
    assert 'data-state="idle"' in tag and 'data-symbol="CUT"' in tag
    assert 'data-currency="CNY"' in tag and 'data-digits="2"' in tag
    for state in MEMBER_STATES:
        assert f'data-for="{state}"' in html
    for check in STATEMENT_CHECKS:
        assert f'data-check="{check}"' in html
    for word in MEMBER_WORDS:
        assert f'data-word="{word}"' in html
    assert '<script type="module" src="/static/community/member.js"></script>' in html
    assert (
        "farmtrace community statement --community barbershop --key ADDRESS --out statement.json"
        in html
    )
    assert "farmtrace verify statement.json --key VKEY" in html


def test_every_text_has_both_languages_and_matching_placeholders() -> None:
    for key, (en, zh) in {**TEXT, **MEMBER_WORDS}.items():
        assert en.strip() and zh.strip(), key
        assert set(re.findall(r"\{(\w+)\}", en)) == set(re.findall(r"\{(\w+)\}", zh)), key


def test_numbers_are_exact() -> None:
    assert money(100_000, "CNY", 2) == "1,000.00\u00a0CNY"
    assert money(7, "JPY", 0) == "7\u00a0JPY"
    assert per_token(10_000_000, 5_000_000, "CNY", 2) == "0.02\u00a0CNY"
    assert per_token(1, 3, "CNY", 2) == "≈0.00333333\u00a0CNY"
    assert share(1, 2, "en") == "1/2 (50 %)"
    assert share(1, 3, "zh") == "1/3（≈33.33%）"
    assert compact_number(10_025_000, "en", 5_000) == "10.025M"
    assert compact_number(10_000_000, "zh") == "1000万"
    assert compact_number(500, "en") == "500"


def test_supply_chart_needs_points_in_time_order() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        render_supply_chart([], UTC, "en", chart_id="c", title="t", desc="d", unit="X")
    with pytest.raises(ValueError, match="time order"):
        render_supply_chart(
            [SupplyPoint(2, 1), SupplyPoint(1, 2)],
            UTC,
            "en",
            chart_id="c",
            title="t",
            desc="d",
            unit="X",
        )
    one = render_supply_chart(
        [SupplyPoint(5, 10)], UTC, "en", chart_id="c", title="<t>", desc="d", unit="X"
    )
    assert "&lt;t&gt;" in one and one.startswith("<svg")


def test_a_community_of_one_entry_renders_without_a_chart() -> None:
    op = Operator(KEYS["operator"])
    op.put(op.replay.body_rules(rules_doc("barbershop")))
    view = _view(op.entries)
    text = _text(render_community_page(view, "en"))
    assert "One entry so far: the supply is 10,000,000 CUT." in text
    assert "No distribution yet." in text


def test_error_pages() -> None:
    for lang in ("en", "zh"):
        page = render_not_found("<x>", lang, lang_hrefs=HREFS)
        assert "&lt;x&gt;" in page and "<x>" not in page
        _csp_safe(page)
        bad = render_malformed("a b", "community: 'a b' is not a community ID", lang)
        assert "is not a community ID" in bad
    with pytest.raises(ValueError, match="language"):
        render_not_found("x", "fr")  # type: ignore[arg-type]


def _life(c: Community) -> None:
    c.found()
    deposit = c.client.post(
        f"{BASE}/deposits",
        json={"member": ADDR["customer"], "amount": 100_000, "payment_reference": "till 1"},
        headers=c.operator,
    )
    assert deposit.status_code == 201, deposit.text
    sent = c.client.post(
        f"{BASE}/transfers", json={"statement": c.statement("customer", "barber", 5_000)}
    )
    assert sent.status_code == 201, sent.text
    dividend = c.client.post(
        f"{BASE}/distributions",
        json={"period": {"from_ms": 0, "until_ms": 1}, "surplus": 1_002_500},
        headers=c.operator,
    )
    assert dividend.status_code == 201, dividend.text


def test_the_api_serves_the_page_in_both_languages(community: Community) -> None:
    c = community
    _life(c)
    en = c.client.get("/communities/barbershop", headers={"Accept-Language": "en"})
    assert en.status_code == 200
    assert en.headers["content-type"].startswith("text/html")
    assert "Accept-Language" in en.headers["vary"]
    assert "default-src 'none'" in en.headers["content-security-policy"]
    _csp_safe(en.text)
    text = _text(en.text)
    assert "10,025,000 CUT" in text
    assert "4 keys (no names are recorded)" in text
    assert "Dividend: 10,025.00 CNY paid out pro rata to 4 holders" in text
    assert "4, of which 0 anchored on the chain" in text
    zh = c.client.get("/communities/barbershop", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="zh-Hans">' in zh.text
    assert '<html lang="en">' in c.client.get("/communities/barbershop?lang=en").text
    for address in ADDR.values():
        assert address not in en.text
    for path in ("/static/community/member.js", "/static/community/community.css"):
        assert c.client.get(path).status_code == 200, path


def test_unknown_and_malformed_ids_get_their_pages_never_a_5xx(community: Community) -> None:
    c = community
    c.found()
    missing = c.client.get("/communities/nowhere")
    assert missing.status_code == 404 and "No such community" in missing.text
    for bad in ("a%20b", "x" * 65, "%E2%98%83", "a" * 1000, "..%2F..", "%00"):
        answer = c.client.get(f"/communities/{bad}")
        assert answer.status_code in (404, 422), (bad, answer.status_code)
        assert answer.status_code < 500
    malformed = c.client.get("/communities/a%20b?lang=zh")
    assert malformed.status_code == 422 and "这不是社区编号" in malformed.text


def test_a_long_supply_chart_reads_in_months() -> None:
    day = 86_400_000
    points = [
        SupplyPoint(1_800_000_000_000, 1_000),
        SupplyPoint(1_800_000_000_000 + 400 * day, 3_000),
    ]
    for lang, want in (
        ("en", ["Apr 2027", "Jul", "Oct", "Jan 2028"]),
        ("zh", ["2027年4月", "7月", "10月", "2028年1月"]),
    ):
        svg = render_supply_chart(
            points,
            UTC,
            lang,  # type: ignore[arg-type]
            chart_id="c",
            title="t",
            desc="d",
            unit="X",
        )
        assert re.findall(r'class="xlabel"[^>]*>([^<]*)<', svg) == want
