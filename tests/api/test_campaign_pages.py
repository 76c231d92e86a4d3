# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The campaign page and the coupon page (issue 16): content in both languages, numbers equal to
the API's JSON views, escaping, no backer's name or contact, and the negotiation at ``/255/``
(browsers get the page, API clients keep JSON and the linkset)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT
from support.commerce_api import DAY, GCN, Shop, address, sign_transfer

from farmtrace.api.routes.campaign_pages import prefers_html
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.gcn import coupon_id

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HTML = {"Accept": BROWSER}
ALICE = Ed25519PrivateKey.from_private_bytes(bytes([1] * 32))
BOB = Ed25519PrivateKey.from_private_bytes(bytes([2] * 32))


def text_of(html: str) -> str:
    return re.sub(r"[ \t\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def attr(html: str, element_id: str, name: str) -> str:
    tag = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html)
    assert tag is not None, element_id
    found = re.search(rf'\b{name}="([^"]*)"', tag.group(0))
    assert found is not None, (element_id, name, tag.group(0))
    return unescape(found.group(1))


@pytest.fixture
def funded(shop: Shop) -> Shop:
    """Campaign GCN: 4 coupons issued to alice (target 3, cap 6), funded; coupon 1 moved alice
    -> bob for a declared 50.00 CNY."""
    shop.open_and_issue(ALICE, 4)
    assert shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).status_code == 200
    coupon = coupon_id(GCN, 1)
    state = shop.client.get(f"/v1/coupons/{coupon}").json()["state"]
    statement = sign_transfer(shop, coupon, state, ALICE, address(BOB), price=(5000, "CNY"))
    moved = shop.client.post(f"/v1/coupons/{coupon}/transfers", json={"statement": statement})
    assert moved.status_code == 201, moved.text
    return shop


def test_campaign_page_shows_the_api_view_in_english(funded: Shop) -> None:
    api = funded.client.get(f"/v1/campaigns/{GCN}").json()
    page = funded.client.get(f"/campaigns/{GCN}?lang=en")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    words = text_of(html)
    assert '<html lang="en">' in html
    assert "Butterhead lettuce" in words and GCN in words
    assert "Each coupon is 5 kg of lettuce." in words
    assert "45.00\u00a0CNY" in words and "5\u00a0kg" in words
    totals = api["totals"]
    for key in ("issued", "outstanding", "redeemed", "voided"):
        found = re.search(rf'data-count="{key}"><dt>[^<]*</dt><dd>(\d+)</dd>', html)
        assert found is not None and int(found.group(1)) == totals[key], key
    assert attr(html, "funding", "data-issued") == str(totals["issued"]) == "4"
    assert attr(html, "funding", "data-cap") == "6"
    assert attr(html, "funding", "data-target") == "3"
    assert attr(html, "funding-bar", "value") == "4" and attr(html, "funding-bar", "max") == "6"
    assert attr(html, "status", "data-status") == api["status"] == "funded"
    assert api["terms_sha256"] in words
    # the pledge form and its contract (pledges stay open until the deadline or the cap)
    assert attr(html, "pledge-form", "data-pledge-url") == f"/v1/campaigns/{GCN}/pledges"
    assert attr(html, "pledge-count", "max") == "2"
    assert '<label for="pledge-count">' in html and '<label for="pledge-contact">' in html
    assert 'href="/wallet"' in html
    assert 'src="/static/campaign/pledge.js"' in html
    assert attr(html, "market-link", "href") == f"/campaigns/{GCN}/market"
    # the lot's charts, drawn by the provenance page's own code
    assert "<svg" in html and "Cold room 1" in words
    assert f'href="/01/{GTIN}/10/{LOT}"' in html
    assert "<script>" not in html and " style=" not in html and " onclick" not in html


def test_campaign_page_in_chinese(funded: Shop) -> None:
    page = funded.client.get(f"/campaigns/{GCN}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    words = text_of(page.text)
    assert '<html lang="zh-Hans">' in page.text
    assert "每张券兑换5公斤生菜。" in words
    assert "已达成目标" in words and "认购进度" in words
    assert "Each coupon is 5 kg" not in words


def test_no_backer_name_or_contact_on_either_page(funded: Shop) -> None:
    pages = [
        funded.client.get(f"/campaigns/{GCN}").text,
        funded.client.get(f"/255/{coupon_id(GCN, 1)}", headers=HTML).text,
    ]
    for html in pages:
        assert "alice@example.org" not in html
        assert "bank-ref" not in html
        assert address(ALICE) not in html and address(BOB) not in html


def test_coupon_page_shows_entitlement_state_history_and_badge(funded: Shop) -> None:
    coupon = coupon_id(GCN, 1)
    api = funded.client.get(f"/v1/coupons/{coupon}").json()
    page = funded.client.get(f"/255/{coupon}?lang=en", headers=HTML)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    html, words = page.text, text_of(page.text)
    assert "5\u00a0kg of Butterhead lettuce" in words
    assert attr(html, "coupon-status", "data-status") == api["status"] == "active"
    bob = fingerprint(bytes.fromhex(address(BOB)))
    alice = fingerprint(bytes.fromhex(address(ALICE)))
    assert api["fingerprint"] == bob and bob in words
    steps = re.findall(r"<li [^>]*data-step=[^>]*>", html)
    assert len(steps) == len(api["history"]) == 2
    for tag, item in zip(steps, api["history"], strict=True):
        assert f'data-kind="{item["kind"]}"' in tag and f'data-state="{item["state"]}"' in tag
    assert f'data-holder-fingerprint="{alice}"' in steps[0]
    assert f'data-holder-fingerprint="{bob}"' in steps[1] and 'data-price="5000 CNY"' in steps[1]
    assert "declared price 50.00\u00a0CNY" in words
    assert attr(html, "coupon-proof", "data-bundle-url") == f"/v1/coupons/{coupon}/bundle"
    assert attr(html, "coupon-proof", "data-campaign-bundle-url") == f"/v1/campaigns/{GCN}/bundle"
    assert attr(html, "coupon-proof", "data-verifier-key") == funded.served.ledger_vkey
    assert attr(html, "coupon-proof", "data-issued") == "4"
    assert attr(html, "coupon-proof", "data-cap") == "6"
    assert attr(html, "coupon-proof", "data-holder-fingerprint") == bob
    for check in ("checkpoint", "blocks", "signatures", "batches", "rules", "caps", "page"):
        assert f'data-check="{check}"' in html
    assert attr(html, "lot-link", "href") == f"/01/{GTIN}/10/{LOT}"
    assert attr(html, "campaign-link", "href") == f"/campaigns/{GCN}"
    assert 'src="/static/campaign/coupon_badge.js"' in html


def test_coupon_page_in_chinese(funded: Shop) -> None:
    page = funded.client.get(f"/255/{coupon_id(GCN, 2)}?lang=zh", headers=HTML)
    words = text_of(page.text)
    assert "可兑换" in words and "有效" in words and "5 公斤" in words


def test_hostile_terms_text_is_escaped(shop: Shop) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    shop.open_and_issue(ALICE, 1, text={"en": hostile, "zh": hostile})
    html = shop.client.get(f"/campaigns/{GCN}").text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_json_and_linkset_answers_stay_as_they_were(funded: Shop) -> None:
    coupon = coupon_id(GCN, 1)
    for code in (GCN, coupon):
        plain = funded.client.get(f"/255/{code}")
        assert plain.headers["content-type"] == "application/json"
        assert plain.headers["vary"] == "Accept"
        as_json = funded.client.get(f"/255/{code}", headers={"Accept": "application/json"})
        assert as_json.headers["content-type"] == "application/json"
        linkset = funded.client.get(f"/255/{code}", headers={"Accept": BROWSER + ","
                                    "application/linkset+json"})  # fmt: skip
        assert linkset.headers["content-type"] == "application/linkset+json"
        assert funded.client.get(f"/255/{code}?linkType=all", headers=HTML).headers[
            "content-type"
        ] == ("application/linkset+json")
        page = funded.client.get(f"/255/{code}", headers=HTML)
        assert page.headers["content-type"].startswith("text/html")
        assert 'rel="linkset"' in page.headers["link"]
    assert funded.client.get(f"/255/{GCN}").json()["totals"]["issued"] == 4


def test_campaign_page_at_its_digital_link(funded: Shop) -> None:
    page = funded.client.get(f"/255/{GCN}", headers=HTML)
    assert page.status_code == 200 and 'id="funding"' in page.text


def test_provenance_page_links_the_lots_campaigns(funded: Shop) -> None:
    html = funded.client.get(f"/01/{GTIN}/10/{LOT}?lang=en", headers=HTML).text
    assert f'href="/campaigns/{GCN}"' in html and "Harvest campaigns for this lot" in html


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (f"/campaigns/{GCN[:-1]}0", 422, "check digit"),
        ("/campaigns/123", 422, "not a valid code"),
        ("/campaigns/<b>x", 422, "not a valid code"),
        ("/campaigns/0614141000012", 404, "No campaign 0614141000012"),
        ("/255/0614141000012", 404, "No campaign 0614141000012"),
        (f"/255/{GCN}99", 404, f"No coupon {GCN}99"),
        (f"/255/{GCN}0", 422, "not a valid code"),
        ("/255/abc", 422, "not a valid code"),
    ],
)
def test_unknown_or_malformed_codes_get_a_small_page(
    funded: Shop, path: str, status: int, words: str
) -> None:
    page = funded.client.get(path + "?lang=en", headers=HTML)
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert words in text_of(page.text)
    assert "<b>x" not in page.text


def test_unknown_code_for_an_api_client_is_json(funded: Shop) -> None:
    answer = funded.client.get("/255/0614141000012", headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.json()["error"] == "not-found"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html", True),
        (BROWSER, True),
        ("text/html;q=0, */*", False),
        ("text/html;q=abc", False),
        ("text/*;q=0.9, application/json;q=0.8", True),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


@pytest.mark.parametrize(
    "code", ["ä", "%E4%B8%AD", "..", "0" * 64, "9" * 13, "950600013435" + "\u0662", " 1"]
)
@pytest.mark.parametrize("accept", [BROWSER, "application/json", None])
def test_no_code_gets_a_server_error(funded: Shop, code: str, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    for path in (f"/255/{code}", f"/campaigns/{code}"):
        answer = funded.client.get(path, headers=headers)
        assert answer.status_code in (404, 422), (path, answer.status_code, answer.text)


def test_harvest_and_shortfall_decision_are_shown(funded: Shop) -> None:
    harvest = funded.client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 12}, headers=funded.farm
    )
    assert harvest.status_code == 200, harvest.text
    decided = funded.client.post(
        f"/v1/campaigns/{GCN}/shortfall", json={"policy": "pro-rata"}, headers=funded.farm
    )
    assert decided.status_code == 200, decided.text
    api = funded.client.get(f"/v1/campaigns/{GCN}").json()
    html = funded.client.get(f"/campaigns/{GCN}?lang=en").text
    words = text_of(html)
    assert "Harvested 12\u00a0kg: covers 2 coupons." in words
    assert attr(html, "shortfall", "data-policy") == api["shortfall"]["policy"] == "pro-rata"
    assert "(12\u00a0kg for 4 coupons). 2 covered, 2 not covered." in words
    assert "This campaign takes no pledges now: it is harvested already." in words
    assert (
        'id="pledge-form"' not in html and attr(html, "pledge-closed", "data-reason") == "harvested"
    )
    coupon = text_of(funded.client.get(f"/255/{coupon_id(GCN, 2)}?lang=en", headers=HTML).text)
    assert "an equal share of 12\u00a0kg among 4 coupons" in coupon
    zh = text_of(funded.client.get(f"/campaigns/{GCN}?lang=zh").text)
    assert "短缺处理决定" in zh and "已采收 12 公斤，可兑付 2 张券。" in zh


def test_pledges_closed_at_the_deadline_say_so(funded: Shop) -> None:
    funded.clock.ms += 11 * DAY  # past the deadline, not yet settled again
    html = funded.client.get(f"/campaigns/{GCN}?lang=en").text
    assert attr(html, "pledge-closed", "data-reason") == "deadline"
    assert "This campaign takes no pledges now: pledges closed 28 Mar 2030" in text_of(html)
    assert 'id="pledge-form"' not in html


def test_failed_campaign_and_void_coupon(shop: Shop) -> None:
    shop.open_and_issue(ALICE, 1)  # target 3: one coupon is not enough
    shop.clock.ms += 11 * DAY
    settled = shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm)
    assert settled.status_code == 200, settled.text
    api = shop.client.get(f"/v1/campaigns/{GCN}").json()
    assert api["status"] == "failed" and api["totals"]["voided"] == 1
    html = shop.client.get(f"/campaigns/{GCN}?lang=en").text
    assert attr(html, "status", "data-status") == "failed"
    assert "Failed: target not reached" in text_of(html)
    assert attr(html, "pledge-closed", "data-reason") == "status"
    coupon = coupon_id(GCN, 1)
    page = shop.client.get(f"/255/{coupon}?lang=en", headers=HTML).text
    assert attr(page, "coupon-status", "data-status") == "void"
    kinds = re.findall(r'data-kind="(\w+)"', page)
    assert kinds == [h["kind"] for h in shop.client.get(f"/v1/coupons/{coupon}").json()["history"]]
    assert kinds == ["issue", "void"]
    assert attr(page, "coupon-proof", "data-voided") == "1"
