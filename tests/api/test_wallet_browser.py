"""The wallet page in headless Chromium against a real API server: a wallet made on /wallet
(WebCrypto Ed25519, IndexedDB) receives real coupons, signs a transfer of one with a declared
price that the API accepts and later anchors, and shows a redeem statement whose bytes the
Python reference decodes and whose signature verifies under the wallet's address.

Driven through the DevTools protocol (tests/support/cdp.py), using the page's scripting
contract (farmtrace/api/services/wallet_page.py)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import ORIGIN
from support.cdp import Browser
from support.commerce import address
from support.commerce_api import DAY, GCN, Shop, terms

from farmtrace.commerce.entries import decode_statement, verify_signature
from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.ledger import Ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def live(shop: Shop) -> Iterator[str]:
    """The shop's app on a free 127.0.0.1 port (uvicorn in a thread), on the real clock."""
    shop.clock.ms = int(time.time() * 1000)
    config = uvicorn.Config(
        shop.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def issue(shop: Shop, holder: str, count: int) -> list[str]:
    """Open the campaign on the real clock and issue ``count`` coupons to ``holder``."""
    now = shop.clock.ms
    body = terms(
        opens_ms=now - DAY,
        deadline_ms=now + 10 * DAY,
        delivery={"from_ms": now + 20 * DAY, "until_ms": now + 30 * DAY},
    )
    assert shop.client.post("/v1/campaigns", json=body, headers=shop.farm).status_code == 201
    pledged = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": holder, "count": count}
    )
    assert pledged.status_code == 201, pledged.text
    confirmed = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges/{pledged.json()['pledge']}/confirm",
        json={"payment_reference": "bank-ref"},
        headers=shop.farm,
    )
    assert confirmed.status_code == 200, confirmed.text
    return [str(c) for c in confirmed.json()["coupons"]]


def js(value: str) -> str:
    """A JavaScript string literal."""
    return json.dumps(value)


def set_value(browser: Browser, id_: str, value: str) -> None:
    browser.evaluate(f"document.getElementById({js(id_)}).value = {js(value)}")


def test_wallet_made_in_the_browser_receives_sends_and_redeems(
    live: str, shop: Shop, tmp_path: Path
) -> None:
    bob = Ed25519PrivateKey.generate()
    with Browser(tmp_path / "profile") as browser:
        browser.goto(f"{live}/wallet?lang=en")
        browser.wait_for(
            "document.getElementById('wallet')?.dataset.state === 'empty'", what="empty wallet"
        )
        set_value(browser, "create-name", "Alice's phone")
        browser.evaluate("document.getElementById('create-submit').click()")
        browser.wait_for(
            "document.getElementById('wallet').dataset.state === 'ready'", what="wallet"
        )
        mine = browser.evaluate("document.getElementById('wallet-address').dataset.address")
        assert isinstance(mine, str) and len(mine) == 64
        assert browser.evaluate("document.getElementById('receive-address').textContent") == mine
        assert browser.evaluate("!!document.querySelector('#receive-qr svg path')")
        assert browser.evaluate("document.getElementById('backup-locked').hidden") is False

        first, second = issue(shop, mine, 2)
        assert [first, second] == [coupon_id(GCN, 1), coupon_id(GCN, 2)]
        browser.evaluate("document.getElementById('coupons-refresh').click()")
        browser.wait_for(f"!!document.querySelector('li[data-coupon=\"{first}\"]')", what="coupons")
        link = browser.evaluate(
            f"document.querySelector('li[data-coupon=\"{first}\"] a.coupon-link').getAttribute('href')"
        )
        assert link == f"/255/{first}"

        # Send the first coupon to Bob, declaring 12.50 CNY.
        browser.evaluate(f"document.getElementById('send-coupon').value = {js(first)}")
        set_value(browser, "send-to", address(bob))
        set_value(browser, "send-price-amount", "12.50")
        set_value(browser, "send-price-currency", "cny")
        browser.evaluate("document.getElementById('send-submit').click()")
        state = browser.wait_for(
            "['accepted', 'anchored', 'failed'].includes(document.getElementById('send-result').dataset.state)"
            " && document.getElementById('send-result').dataset.state",
            what="the transfer's answer",
        )
        assert state != "failed", browser.evaluate(
            "document.getElementById('send-result').textContent"
        )
        view = shop.client.get(f"/v1/coupons/{first}").json()
        assert view["holder"] == address(bob) and view["moves"] == 1  # issue is move 0
        moved = view["history"][-1]
        assert moved["kind"] == "transfer"
        assert moved["price"] == {"amount": 1250, "currency": "CNY"}
        assert (
            browser.evaluate("document.getElementById('send-result').dataset.statementState")
            == view["state"]
        )
        # The page polls until the move is anchored: seal a block, as the gateway's sweep would.
        with Ledger.open(shop.served.db_url, shop.served.tmp / "gw", ORIGIN) as ledger:
            ledger.append_batch([])
        browser.wait_for(
            "document.getElementById('send-result').dataset.state === 'anchored'",
            timeout=30,
            what="anchored",
        )
        assert not browser.evaluate(f"!!document.querySelector('li[data-coupon=\"{first}\"]')")

        # Redeem the second: the statement shown is the reference's redeem statement.
        browser.evaluate(f"document.getElementById('redeem-coupon').value = {js(second)}")
        browser.evaluate("document.getElementById('redeem-submit').click()")
        browser.wait_for(
            "document.getElementById('redeem-result').dataset.state === 'shown'", what="redeem code"
        )
        text = browser.evaluate("document.getElementById('redeem-text').value")
        statement = decode_statement(base64.b64decode(text, validate=True))
        head = shop.client.get(f"/v1/coupons/{second}").json()
        assert (statement.op, statement.coupon, statement.prev) == ("redeem", second, head["state"])
        assert statement.move == head["moves"] + 1
        assert verify_signature(bytes.fromhex(mine), statement.signed_bytes, statement.signature)
        assert browser.evaluate("!!document.querySelector('#redeem-qr svg path')")

        # A transfer the API refuses shows the server's words: the first coupon is Bob's now.
        browser.evaluate(
            f"(() => {{ const s = document.getElementById('send-coupon');"
            f" const o = document.createElement('option'); o.value = {js(first)}; s.append(o);"
            f" s.value = {js(first)}; }})()"
        )
        set_value(browser, "send-to", address(bob))
        set_value(browser, "send-price-amount", "")
        browser.evaluate("document.getElementById('send-submit').click()")
        browser.wait_for(
            "document.getElementById('send-result').dataset.state === 'failed'", what="refusal"
        )
        refused = browser.evaluate("document.getElementById('send-result').textContent")
        assert f"cannot transfer coupon {first}: it is held by {address(bob)}" in refused

        errors = [line for line in browser.console if "wallet_panel" not in line]
        assert errors == [], errors


def test_backup_file_made_on_the_page_restores_the_wallet(
    live: str, shop: Shop, tmp_path: Path
) -> None:
    with Browser(tmp_path / "profile", lang="zh-CN") as browser:
        browser.goto(f"{live}/wallet")
        browser.wait_for(
            "document.getElementById('wallet')?.dataset.state === 'empty'", what="page"
        )
        assert browser.evaluate("document.documentElement.lang") == "zh-Hans"
        set_value(browser, "create-name", "手机")
        browser.evaluate("document.getElementById('create-backup').checked = true")
        browser.evaluate("document.getElementById('create-submit').click()")
        browser.wait_for(
            "document.getElementById('wallet').dataset.state === 'ready'", what="wallet"
        )
        mine = browser.evaluate("document.getElementById('wallet-address').dataset.address")
        assert browser.evaluate("document.getElementById('backup-form').hidden") is False
        for id_ in ("backup-passphrase", "backup-confirm"):
            set_value(browser, id_, "a long passphrase")
        browser.evaluate("document.getElementById('backup-submit').click()")
        browser.wait_for("!document.getElementById('backup-download').hidden", what="backup file")
        # Save the file as a person would: click the link, the browser downloads it.
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        browser.command(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        browser.evaluate("document.getElementById('backup-download').click()")
        deadline = time.monotonic() + 30
        while not [p for p in downloads.iterdir() if p.suffix == ".json"]:
            assert time.monotonic() < deadline, "the backup file was not downloaded"
            time.sleep(0.1)
        (saved,) = [p for p in downloads.iterdir() if p.suffix == ".json"]
        assert saved.name.startswith("farmtrace-wallet-")
        text = saved.read_text()
        backup = json.loads(text)
        assert backup["format"] == "farmtrace-wallet-backup/v1" and backup["address"] == mine
        assert backup["kdf"]["iterations"] >= 600_000

        # Delete the wallet (two presses), then restore it from the file.
        browser.evaluate("document.getElementById('wallet-delete').click()")
        browser.evaluate("document.getElementById('wallet-delete').click()")
        browser.wait_for(
            "document.getElementById('wallet').dataset.state === 'empty'", what="deleted"
        )
        browser.evaluate(
            "(() => { const d = new DataTransfer();"
            f" d.items.add(new File([{js(text)}], 'backup.json', {{ type: 'application/json' }}));"
            " document.getElementById('restore-file').files = d.files; })()"
        )
        set_value(browser, "restore-passphrase", "the wrong one")
        browser.evaluate("document.getElementById('restore-submit').click()")
        browser.wait_for(
            "document.getElementById('wallet-message').dataset.kind === 'error'", what="refusal"
        )
        assert "wrong passphrase" in browser.evaluate(
            "document.getElementById('wallet-message').textContent"
        )
        assert browser.evaluate("document.getElementById('wallet').dataset.state") == "empty"
        set_value(browser, "restore-passphrase", "a long passphrase")
        browser.evaluate("document.getElementById('restore-submit').click()")
        browser.wait_for(
            "document.getElementById('wallet').dataset.state === 'ready'", what="restored"
        )
        assert browser.evaluate("document.getElementById('wallet-address').dataset.address") == mine
        errors = [line for line in browser.console if "wallet_panel" not in line]
        assert errors == [], errors
