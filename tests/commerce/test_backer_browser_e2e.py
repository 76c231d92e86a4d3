"""The backer's side end to end in headless Chromium, against ``farmtrace api`` and
``farmtrace gateway`` running as processes on one SQLite database (Mosquitto for the gateway).

Two people, each with their own browser profile, make their wallets on ``/wallet`` (the form),
pledge from the campaign page; the farm confirms both payments over HTTP with its
``campaigns:write`` key and the coupons appear in each wallet. Alice sends one to Bob from the
wallet's send form (accepted, then anchored by the gateway's sweep), lists another on the market
page, Bob offers with the listing's button and Alice completes the sale in the wallet's market
panel. Two tabs of Alice's wallet both sign a transfer of her last coupon on the same head: the
first is accepted, the second is refused and the page says why. Bob shows the redeem QR of a
coupon; its image is decoded (zxing-cpp) and the farm submits the statement with its
``coupons:redeem`` key, linked to the lot's ``retail_selling`` event. Once anchored, the coupon
pages of the sold, the transferred and the redeemed coupons verify in the browser.

What other tests already cover, so it is not repeated here: a coupon whose stored history was
altered shows the failure naming the item (tests/api/test_campaign_pages_browser.py); the
pledge form's refusal over the cap (same file); the wallet's backup and restore
(tests/api/test_wallet_browser.py); a listing altered in the database
(tests/api/test_market_browser.py).
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from support.api import GTIN, LOT, lot_body
from support.cdp import Browser
from support.mosquitto import Mosquitto
from support.tiles_serving import api_process
from test_commerce_e2e import _call, _gateway, _ok

from farmtrace.api.auth import create_key
from farmtrace.commerce.entries import decode_statement
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.store.database import open_database

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

GCN = "950600013437" + check_digit("950600013437")
DAY_MS = 86_400_000
ANCHOR_TIMEOUT_S = 120.0


def js(value: str) -> str:
    """A JavaScript string literal."""
    return json.dumps(value)


def set_value(browser: Browser, id_: str, value: str) -> None:
    browser.evaluate(f"document.getElementById({js(id_)}).value = {js(value)}; true")


def click(browser: Browser, selector: str) -> None:
    browser.evaluate(f"document.querySelector({js(selector)}).click(); true")


def text_of(browser: Browser, id_: str) -> str:
    value: str = browser.evaluate(f"document.getElementById({js(id_)}).textContent")
    return value


def make_wallet(browser: Browser, base: str, name: str) -> str:
    """Create a wallet through ``/wallet``'s form; its address."""
    browser.goto(f"{base}/wallet?lang=en")
    browser.wait_for("document.getElementById('wallet')?.dataset.state === 'empty'", what="/wallet")
    set_value(browser, "create-name", name)
    click(browser, "#create-submit")
    browser.wait_for("document.getElementById('wallet').dataset.state === 'ready'", what="wallet")
    mine: str = browser.evaluate("document.getElementById('wallet-address').dataset.address")
    assert len(mine) == 64 and text_of(browser, "receive-address") == mine
    return mine


def pledge(browser: Browser, base: str, count: int, contact: str) -> str:
    """Pledge ``count`` coupons from the campaign page with the browser's wallet; the pledge ID."""
    browser.goto(f"{base}/campaigns/{GCN}?lang=en")
    browser.wait_for(
        "document.getElementById('pledge-form')?.dataset.wallet === 'ready'", what="pledge form"
    )
    set_value(browser, "pledge-count", str(count))
    set_value(browser, "pledge-contact", contact)
    click(browser, "#pledge-submit")
    result = "document.getElementById('pledge-result')"
    state = browser.wait_for(
        f"['done', 'refused'].includes({result}.dataset.state) && {result}.dataset.state",
        what="the pledge's answer",
    )
    assert state == "done", browser.evaluate(f"{result}.textContent")
    pledge_id: str = browser.evaluate(f"{result}.dataset.pledge")
    return pledge_id


def wallet_coupons(browser: Browser, base: str) -> dict[str, str]:
    """Open ``/wallet`` and return its listed coupons with their status."""
    browser.goto(f"{base}/wallet?lang=en")
    browser.wait_for("document.getElementById('wallet')?.dataset.state === 'ready'", what="wallet")
    browser.wait_for(
        "!document.getElementById('coupon-list').hasAttribute('aria-busy') && "
        "document.querySelectorAll('#coupon-list li[data-coupon]').length > 0",
        what="the wallet's coupons",
    )
    listed: dict[str, str] = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#coupon-list li[data-coupon]')]"
        ".map((li) => [li.dataset.coupon, li.dataset.status]))"
    )
    return listed


def fill_send(browser: Browser, coupon: str, to: str, amount: str = "") -> None:
    set_value(browser, "send-coupon", coupon)
    assert browser.evaluate("document.getElementById('send-coupon').value") == coupon
    set_value(browser, "send-to", to)
    set_value(browser, "send-price-amount", amount)
    set_value(browser, "send-price-currency", "CNY")


SEND_STATE = (
    "(() => { const r = document.getElementById('send-result');"
    " return ['accepted', 'anchored', 'failed'].includes(r.dataset.state) && r.dataset.state; })()"
)


def coupon_page_verdict(browser: Browser, base: str, coupon: str) -> tuple[str, str]:
    """Open the coupon's page until its badge says verified (the gateway may still be sealing
    the last entries: pending then); the final state and the section's text."""
    deadline = time.monotonic() + ANCHOR_TIMEOUT_S
    while True:
        browser.goto(f"{base}/255/{coupon}?lang=en")
        state: str = browser.wait_for(
            "(() => { const s = document.getElementById('coupon-proof')?.dataset.state;"
            " return ['verified', 'pending', 'failed', 'unavailable'].includes(s) && s; })()",
            timeout=60,
            what=f"the badge of {coupon}",
        )
        if state != "pending" or time.monotonic() > deadline:
            return state, text_of(browser, "coupon-proof")
        time.sleep(1)


def qr_text(browser: Browser, selector: str) -> str:
    """Decode the QR code drawn at ``selector`` from a screenshot of it, as a scanner would."""
    import zxingcpp
    from PIL import Image

    box = browser.evaluate(
        f"(() => {{ const r = document.querySelector({js(selector)}).getBoundingClientRect();"
        " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()"
    )
    assert box["width"] > 50 and box["height"] > 50, box
    shot = browser.command(
        "Page.captureScreenshot",
        {"format": "png", "clip": {**box, "scale": 3}, "captureBeyondViewport": True},
        session=True,
    )
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"])))
    decoded = [code.text for code in zxingcpp.read_barcodes(image)]
    assert len(decoded) == 1, decoded
    return str(decoded[0])


def all_anchored(base: str, coupons: list[str]) -> bool:
    campaign = _ok(_call(base, "GET", f"/v1/campaigns/{GCN}"))
    if not all(e["anchored"] for e in campaign["entries"]):  # type: ignore[attr-defined]
        return False
    for coupon in coupons:
        view = _ok(_call(base, "GET", f"/v1/coupons/{coupon}"))
        if not all(h["anchored"] for h in view["history"]):  # type: ignore[attr-defined]
            return False
    return True


def test_two_backers_pledge_trade_and_redeem_in_the_browser(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    for module in ("zxingcpp", "PIL"):
        pytest.importorskip(module)
    db_url = f"sqlite:///{tmp_path / 'farm.db'}"
    with open_database(db_url) as database:
        farm = create_key(database, "farm", ["campaigns:write"])
        till = create_key(database, "till", ["coupons:redeem"])
        events = create_key(database, "events", ["lots:write", "events:write"])
    with (
        _gateway(mosquitto, db_url, tmp_path / "gateway"),
        api_process(db_url, tmp_path / "api", rate=1000) as base,
        Browser(tmp_path / "alice") as alice,
        Browser(tmp_path / "bob") as bob,
    ):
        _ok(_call(base, "POST", "/v1/lots", lot_body(["dev-1"]), events), 201)
        now = int(time.time() * 1000)
        terms = {
            "campaign": GCN, "farm": "greenacre", "gtin": GTIN, "lot": LOT,
            "per_coupon": {"quantity": 5, "unit": "KGM"},
            "price": {"amount": 4500, "currency": "CNY"}, "target": 3, "cap": 6,
            "opens_ms": now - DAY_MS, "deadline_ms": now + DAY_MS,
            "delivery": {"from_ms": now + 2 * DAY_MS, "until_ms": now + 3 * DAY_MS},
            "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
        }  # fmt: skip
        _ok(_call(base, "POST", "/v1/campaigns", terms, farm), 201)

        # Two people, two browsers: each makes a wallet and pledges from the campaign page.
        alice_address = make_wallet(alice, base, "Alice's phone")
        bob_address = make_wallet(bob, base, "Bob's phone")
        assert alice_address != bob_address
        alice_pledge = pledge(alice, base, 3, "alice@example.org")
        bob_pledge = pledge(bob, base, 1, "bob@example.org")
        for n, pledge_id in enumerate((alice_pledge, bob_pledge)):
            path = f"/v1/campaigns/{GCN}/pledges/{pledge_id}/confirm"
            _ok(_call(base, "POST", path, {"payment_reference": f"bank-{n}"}, farm))
        status = _ok(_call(base, "POST", f"/v1/campaigns/{GCN}/settle", None, farm))["status"]
        assert status == "funded"
        c1, c2, c3, c4 = (coupon_id(GCN, serial) for serial in (1, 2, 3, 4))
        assert wallet_coupons(alice, base) == dict.fromkeys((c1, c2, c3), "active")
        assert wallet_coupons(bob, base) == {c4: "active"}

        # Alice gives c1 to Bob from the send form: accepted, then anchored by the gateway.
        wallet_coupons(alice, base)
        fill_send(alice, c1, bob_address, "40.00")
        click(alice, "#send-submit")
        assert alice.wait_for(SEND_STATE, what="the transfer") != "failed", text_of(
            alice, "send-result"
        )
        alice.wait_for(
            "document.getElementById('send-result').dataset.state === 'anchored'",
            timeout=ANCHOR_TIMEOUT_S,
            what="the transfer anchored by the gateway",
        )
        moved = _ok(_call(base, "GET", f"/v1/coupons/{c1}"))
        assert moved["holder"] == bob_address
        assert moved["history"][-1]["price"] == {"amount": 4000, "currency": "CNY"}  # type: ignore[index]

        # Alice lists c2 on the market page; Bob offers; Alice sells in her wallet's panel.
        market = f"{base}/campaigns/{GCN}/market?lang=en"
        alice.goto(market)
        alice.wait_for(
            "document.getElementById('market-wallet')?.dataset.state === 'ready'", what="market"
        )
        alice.wait_for(
            f"[...document.getElementById('list-coupon').options].some((o) => o.value === {js(c2)})",
            what="the list form's coupons",
        )
        set_value(alice, "list-coupon", c2)
        set_value(alice, "list-price", "52.50")
        click(alice, "#list-submit")
        market_message = (
            "(() => { const m = document.getElementById('market-message');"
            " return ['ok', 'error'].includes(m.dataset.kind) && [m.dataset.kind, m.textContent]; })()"
        )
        kind, words = alice.wait_for(market_message, what="the listing's answer")
        assert kind == "ok", words
        listings: Any = _ok(_call(base, "GET", f"/v1/campaigns/{GCN}/listings"))["open"]
        (listing,) = listings
        assert listing["coupon"] == c2 and listing["seller"] == alice_address
        offer = f'li[data-listing="{listing["id"]}"] button[data-action=offer]'
        bob.goto(market)
        bob.wait_for(
            "document.getElementById('market-wallet')?.dataset.state === 'ready'", what="market"
        )
        bob.wait_for(
            f"document.querySelector({js(offer)})?.disabled === false", what="the offer button"
        )
        assert (
            bob.wait_for(
                f"document.querySelector('li[data-listing=\"{listing['id']}\"]').dataset.verified",
                what="the listing's signature check",
            )
            == "yes"
        )
        click(bob, offer)
        kind, words = bob.wait_for(market_message, what="the offer's answer")
        assert kind == "ok", words

        alice.goto(f"{base}/wallet?lang=en")
        sell = f'#market-selling li[data-buyer="{bob_address}"] button[data-action=sell]'
        alice.wait_for(f"!!document.querySelector({js(sell)})", what="Bob's offer in the panel")
        click(alice, sell)
        assert alice.evaluate(f"document.querySelector({js(sell)}).dataset.armed") == "1"
        click(alice, sell)
        kind, words = alice.wait_for(
            "(() => { const m = document.getElementById('market-panel-message');"
            " return m && m.dataset.kind && [m.dataset.kind, m.textContent]; })()",
            what="the sale's answer",
        )
        assert kind == "ok", words
        assert _ok(_call(base, "GET", f"/v1/listings/{listing['id']}"))["ended"] == "sold"
        assert _ok(_call(base, "GET", f"/v1/coupons/{c2}"))["holder"] == bob_address

        # Two tabs of Alice's wallet, both showing c3 on the same head. The second tab's network
        # is slow: it signs on that head, then its POST waits until the first tab's transfer
        # went through. The API refuses the second spend and the page says why.
        head = _ok(_call(base, "GET", f"/v1/coupons/{c3}"))["state"]
        first_tab = alice.tab
        tabs = (first_tab, alice.open_tab())
        for tab in tabs:
            alice.use_tab(tab)
            assert wallet_coupons(alice, base)[c3] == "active"
            assert (
                alice.evaluate(f"document.querySelector('li[data-coupon=\"{c3}\"]').dataset.state")
                == head
            )
            fill_send(alice, c3, bob_address)
        alice.use_tab(tabs[1])
        alice.evaluate(
            "(() => { const send = window.fetch;"
            " window.releaseTransfers = null;"
            " const held = new Promise((go) => { window.releaseTransfers = go; });"
            " window.fetch = async (url, init) => {"
            "   if (init?.method === 'POST' && String(url).includes('/transfers')) {"
            "     window.transferHeld = true; await held; }"
            "   return send(url, init); }; return true; })()"
        )
        click(alice, "#send-submit")
        alice.wait_for("window.transferHeld === true", what="the second tab's signed transfer")
        alice.use_tab(tabs[0])
        click(alice, "#send-submit")
        state = alice.wait_for(SEND_STATE, what="the first tab's transfer")
        assert state in ("accepted", "anchored"), text_of(alice, "send-result")
        alice.use_tab(tabs[1])
        alice.evaluate("window.releaseTransfers(); true")
        assert alice.wait_for(SEND_STATE, what="the second tab's answer") == "failed"
        refused = text_of(alice, "send-result")
        assert refused.startswith(
            f"Refused: coupon {c3} changed after this page read it (sent or redeemed, perhaps "
            "from another tab or device), so this transfer was not made."
        ), refused
        assert f"The server said: spends state {head} of coupon {c3}, not its head" in refused
        # The stale tab shows the coupons as they are now: c3 has left this wallet.
        alice.wait_for(
            f"!document.querySelector('#coupon-list li[data-coupon=\"{c3}\"]')", what="refresh"
        )
        after = _ok(_call(base, "GET", f"/v1/coupons/{c3}"))
        assert after["holder"] == bob_address and after["moves"] == 1
        alice.use_tab(first_tab)

        # Harvest; the goods leave at the farm shop (retail_selling); Bob redeems c1 there.
        _ok(_call(base, "POST", f"/v1/campaigns/{GCN}/harvest", {"quantity": 30}, farm))
        selling = {
            "kind": "retail_selling",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "read_point": "urn:epc:id:sgln:9506000.00001.0",
            "actor": "Greenacre farm shop",
        }
        event = _ok(_call(base, "POST", f"/v1/lots/{GTIN}/{LOT}/events", selling, events), 201)
        assert set(wallet_coupons(bob, base)) == {c1, c2, c3, c4}
        set_value(bob, "redeem-coupon", c1)
        click(bob, "#redeem-submit")
        bob.wait_for(
            "document.getElementById('redeem-result').dataset.state === 'shown'", what="redeem QR"
        )
        scanned = qr_text(bob, "#redeem-qr svg")
        assert scanned == bob.evaluate("document.getElementById('redeem-text').value")
        statement = decode_statement(base64.b64decode(scanned, validate=True))
        assert (statement.op, statement.coupon) == ("redeem", c1)
        redemption = {
            "statement": scanned,
            "event": {"signer": event["signer"], "seq": event["seq"]},
        }
        _ok(_call(base, "POST", f"/v1/coupons/{c1}/redemptions", redemption, till))
        assert _ok(_call(base, "GET", f"/v1/coupons/{c1}"))["status"] == "redeemed"

        # Every coupon page opened from Bob's wallet verifies once the gateway sealed it all.
        deadline = time.monotonic() + ANCHOR_TIMEOUT_S
        while not all_anchored(base, [c1, c2, c3]):
            assert time.monotonic() < deadline, "every entry anchored by the gateway"
            time.sleep(0.5)
        listed = wallet_coupons(bob, base)
        assert listed == {c1: "redeemed", c2: "active", c3: "active", c4: "active"}
        href = bob.evaluate(
            f"document.querySelector('li[data-coupon=\"{c1}\"] a.coupon-link').getAttribute('href')"
        )
        assert href == f"/255/{c1}"
        for coupon in (c1, c2, c3):
            state, words = coupon_page_verdict(bob, base, coupon)
            assert state == "verified", (coupon, words)
            assert "Verified on this device" in words, words
            checks: dict[str, Any] = bob.evaluate(
                "Object.fromEntries([...document.querySelectorAll('li[data-check]')]"
                ".map((li) => [li.dataset.check, li.dataset.result]))"
            )
            assert set(checks.values()) == {"ok"}, (coupon, checks)
            shown = bob.evaluate("document.getElementById('coupon-proof').dataset.status")
            assert shown == ("redeemed" if coupon == c1 else "active"), (coupon, shown)
        # Nothing personal on the campaign page: counts only.
        alice.goto(f"{base}/campaigns/{GCN}?lang=en")
        page = alice.wait_for(
            "document.getElementById('funding') && document.body.textContent", what="campaign"
        )
        assert "alice@example.org" not in page and "bob@example.org" not in page
        # The only error either console saw is the browser's log of the refused second spend.
        refusal = f"status of 409 (Conflict) {base}/v1/coupons/{c3}/transfers"
        assert [line for line in alice.console if refusal in line] != []
        for browser in (alice, bob):
            errors = [line for line in browser.console if refusal not in line]
            assert errors == [], errors
