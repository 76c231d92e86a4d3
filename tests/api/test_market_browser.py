"""The market page in headless Chromium against the real API on 127.0.0.1: it loads under the
CSP with its stylesheet and module graph (market.js, the wallet's keys.js and api.js, the
verifier's canonical JSON) without a console error, shows the listing and the price chart, and
with no wallet in the browser says so (``#market-wallet[data-state=none]``). The wallet flows
themselves (list, offer, sell) are driven end to end by the issue's Chromium test."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.cdp import Browser
from support.commerce_api import GCN, Shop, address, sign_transfer, terms
from test_api_market import listing_body

from farmtrace.commerce.gcn import coupon_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT_S = 30


@pytest.fixture
def live(shop: Shop) -> Iterator[str]:
    config = uvicorn.Config(
        shop.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def test_the_market_page_loads_clean_in_chromium(shop: Shop, live: str, tmp_path: Path) -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)
    client = shop.client
    c1, c2 = coupon_id(GCN, 1), coupon_id(GCN, 2)
    state = client.get(f"/v1/coupons/{c1}").json()["state"]
    stmt = sign_transfer(shop, c1, state, alice, address(bob), price=(5200, "CNY"))
    client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt}).raise_for_status()
    listed = client.post(f"/v1/coupons/{c2}/listings", json=listing_body(shop, c2, alice))
    assert listed.status_code == 201, listed.text

    url = f"{live}/campaigns/{GCN}/market"
    for lang in ("en-US", "zh-CN"):
        with Browser(tmp_path / f"profile-{lang}", lang) as browser:
            browser.goto(url)
            state = browser.wait_for(
                "document.getElementById('market-wallet')?.dataset.state !== 'idle' && "
                "document.getElementById('market-wallet').dataset.state",
                what="market.js to look for a wallet",
            )
            assert state == "none"
            assert browser.evaluate("!!document.getElementById('price-chart')")
            listing = listed.json()["id"]
            assert browser.evaluate(
                f"!!document.querySelector('li.listing[data-listing=\"{listing}\"]')"
            )
            assert browser.wait_for(
                "[...document.querySelectorAll('li.listing')].every(li => li.dataset.verified)"
                " && [...document.querySelectorAll('li.listing')].map(li => li.dataset.verified)",
                what="the listings' signature checks",
            ) == ["yes"]
            assert browser.console == [], browser.console


def test_an_altered_listing_fails_its_check_in_chromium(
    shop: Shop, live: str, tmp_path: Path
) -> None:
    """A listing whose price was changed in the database (not by its seller) shows as failing
    its signature check, naming why."""
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    c1 = coupon_id(GCN, 1)
    made = shop.client.post(f"/v1/coupons/{c1}/listings", json=listing_body(shop, c1, alice))
    assert made.status_code == 201, made.text
    db = shop.served.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE coupon_listings SET price_amount = 100")
    with Browser(tmp_path / "profile") as browser:
        browser.goto(f"{live}/campaigns/{GCN}/market")
        verdict = browser.wait_for(
            "(() => { const li = document.querySelector('li.listing');"
            " return li.dataset.verified && [li.dataset.verified,"
            " li.querySelector('p.check').textContent]; })()",
            what="the listing's signature check",
        )
    assert verdict[0] == "no" and "not the hash of its statement" in verdict[1]


def issue_to(shop: Shop, holder: str) -> None:
    """Pledge one coupon to ``holder`` (an address) and confirm its payment."""
    pledged = shop.client.post(f"/v1/campaigns/{GCN}/pledges", json={"holder": holder, "count": 1})
    assert pledged.status_code == 201, pledged.text
    confirmed = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges/{pledged.json()['pledge']}/confirm",
        json={"payment_reference": "cash"},
        headers=shop.farm,
    )
    assert confirmed.status_code == 200, confirmed.text


WALLET_STATE = (
    "document.getElementById('market-wallet')?.dataset.state !== 'idle' && "
    "document.getElementById('market-wallet').dataset.state"
)
MESSAGE = (
    "(() => { const m = document.getElementById('market-message');"
    " return m && ['ok', 'error'].includes(m.dataset.kind) && [m.dataset.kind, m.textContent]; })()"
)


def test_list_offer_and_sell_with_browser_wallets(shop: Shop, live: str, tmp_path: Path) -> None:
    """Two wallets in one browser: Alice lists through the page's form, Bob offers with the
    listing's button, Alice sells from the wallet's market panel (two clicks); the API then has
    the coupon at Bob's address and the listing ended as sold."""
    created = shop.client.post("/v1/campaigns", json=terms(), headers=shop.farm)
    assert created.status_code == 201, created.text
    url = f"{live}/campaigns/{GCN}/market"
    with Browser(tmp_path / "profile") as browser:
        browser.goto(url)
        browser.wait_for(WALLET_STATE, what="market.js")
        alice = browser.evaluate(
            "import('/static/wallet/keys.js').then(m => m.createWallet('alice')).then(w => w.address)"
        )
        issue_to(shop, alice)
        browser.goto(url)
        assert browser.wait_for(WALLET_STATE, what="market.js") == "ready"
        browser.wait_for("!document.getElementById('list-submit').disabled", what="the form")
        browser.evaluate(
            "document.getElementById('list-price').value = '52.50';"
            "document.getElementById('list-submit').click(); true"
        )
        kind, text = browser.wait_for(MESSAGE, what="the listing's answer")
        assert kind == "ok", text
        listing = shop.client.get(f"/v1/campaigns/{GCN}/listings").json()["open"][0]
        assert listing["price"] == {"amount": 5250, "currency": "CNY"}
        assert listing["seller"] == alice

        bob = browser.evaluate(
            "import('/static/wallet/keys.js').then(m => m.createWallet('bob')).then(w => w.address)"
        )
        browser.goto(url)
        browser.wait_for(
            f'!document.querySelector(\'li[data-listing="{listing["id"]}"] '
            "button[data-action=offer]').disabled",
            what="the offer button",
        )
        browser.evaluate(
            f'document.querySelector(\'li[data-listing="{listing["id"]}"] '
            "button[data-action=offer]').click(); true"
        )
        kind, text = browser.wait_for(MESSAGE, what="the offer's answer")
        assert kind == "ok", text
        offers = shop.client.get(f"/v1/listings/{listing['id']}").json()["offers"]
        assert [o["buyer"] for o in offers] == [bob]

        # Alice again, in the wallet's market panel (mounted here as the /wallet page does).
        browser.evaluate(
            "(async () => { const keys = await import('/static/wallet/keys.js');"
            " await keys.selectWallet('alice');"
            " const section = document.createElement('section'); section.id = 'market-panel';"
            " document.body.append(section);"
            " const panel = await import('/static/market/wallet_panel.js');"
            " await panel.mount(section, { lang: 'en', currentWallet: keys.currentWallet });"
            " return section.dataset.market; })()"
        )
        sell = f'#market-selling li[data-buyer="{bob}"] button[data-action=sell]'
        browser.evaluate(f"document.querySelector('{sell}').click(); true")
        assert browser.evaluate(f"document.querySelector('{sell}').dataset.armed") == "1"
        browser.evaluate(f"document.querySelector('{sell}').click(); true")
        kind, text = browser.wait_for(
            "(() => { const m = document.getElementById('market-panel-message');"
            " return m && m.dataset.kind && [m.dataset.kind, m.textContent]; })()",
            what="the sale's answer",
        )
        assert kind == "ok", text
        assert browser.console == [], browser.console
    assert shop.client.get(f"/v1/listings/{listing['id']}").json()["ended"] == "sold"
    assert shop.client.get(f"/v1/coupons/{listing['coupon']}").json()["holder"] == bob
