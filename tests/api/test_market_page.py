"""The market page's rendering (farmtrace/api/services/market_page.py) without a server: the
price chart for one or many declared prices, the empty market, both languages, and the hooks
its script and the end-to-end tests rely on."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from farmtrace.api.services.market import CampaignMarket, PricePoint
from farmtrace.api.services.market_page import money, render_market_page, render_price_chart
from farmtrace.store.campaigns import CampaignHead
from farmtrace.store.listings import ListingRecord

GCN = "0614141000012"
T = 1_796_615_842_527
HEAD = CampaignHead(
    1, GCN, "farm", "00614141000036", "L1", "{}", 10, 3, "farm.x", 2, "ab" * 32, "funded",
    3, 0, 0, None, None, 0.0,
)  # fmt: skip
SELLER = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"


def listing(ident: str, ended: str | None = None) -> ListingRecord:
    return ListingRecord(
        ident, 1, GCN, 7, "cd" * 32, SELLER, 4800, "CNY", T, "sig", ended, None, None, None, 0.0
    )


def test_money_uses_the_currencys_minor_digits() -> None:
    assert money(4800, "CNY") == "48.00\u00a0CNY"
    assert money(4800, "JPY") == "4,800\u00a0JPY"
    assert money(5, "BHD") == "0.005\u00a0BHD"


@pytest.mark.parametrize("count", [1, 2, 12])
def test_the_price_chart_is_well_formed_svg_with_a_point_per_price(count: int) -> None:
    prices = [
        PricePoint(f"{GCN}{i}", T + i * 3_600_000, 4500 + 100 * i, "CNY") for i in range(count)
    ]
    prices.append(PricePoint(f"{GCN}99", T, 9999, "USD"))  # another currency: left out
    svg = render_price_chart(prices, "CNY", "en")
    root = ET.fromstring(svg)
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert [c.get("data-amount") for c in circles] == [str(4500 + 100 * i) for i in range(count)]
    assert root.get("role") == "img" and "9999" not in svg
    for c in circles:
        assert 0 <= float(c.get("cx", "-1")) <= 360 and 0 <= float(c.get("cy", "-1")) <= 216


def test_a_chart_of_one_repeated_price_and_of_zero_prices() -> None:
    same = [PricePoint(f"{GCN}1", T + i, 0, "CNY") for i in range(3)]
    ET.fromstring(render_price_chart(same, "CNY", "zh"))
    with pytest.raises(ValueError):
        render_price_chart([], "CNY", "en")


def test_the_page_hooks_in_both_languages() -> None:
    market = CampaignMarket(
        HEAD, "CNY", [listing("a" * 32)], [listing("b" * 32, "sold")],
        [PricePoint(f"{GCN}7", T, 4800, "CNY")],
    )  # fmt: skip
    for lang, html_lang in (("en", "en"), ("zh", "zh-Hans")):
        html = render_market_page(market, lang)
        assert f'<html lang="{html_lang}">' in html
        for hook in (
            'id="market"', 'data-campaign="0614141000012"', 'data-currency="CNY"',
            'data-digits="2"', 'id="market-wallet"', 'id="market-message"', 'id="list-form"',
            'id="list-coupon"', 'id="list-price"', 'id="list-submit"', 'id="price-chart"',
            f'data-listing="{"a" * 32}"', 'data-action="offer"', 'data-action="withdraw"',
            'data-ended="sold"', f'data-seller="{SELLER}"', 'data-amount="4800"',
        ):  # fmt: skip
            assert hook in html, (lang, hook)
        assert "<style" not in html and not re.search(r"\son[a-z]+=", html)
        assert "<script>" not in html
        # The browser asks for no favicon (a 404 would be an error in the page's console).
        assert '<link rel="icon" href="data:,">' in html
        labels = re.findall(r'<label for="([^"]+)"', html)
        assert labels == ["list-coupon", "list-price"]


def test_the_empty_market_says_so() -> None:
    html = render_market_page(CampaignMarket(HEAD, "CNY", [], [], []), "en")
    for hook in ("market-open-empty", "market-prices-empty", "market-ended-empty"):
        assert f'id="{hook}"' in html
    assert "<svg" not in html
    with pytest.raises(ValueError):
        render_market_page(CampaignMarket(HEAD, "CNY", [], [], []), "fr")  # type: ignore[arg-type]
