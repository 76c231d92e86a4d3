"""The community page's member view in headless Chromium against a real API server: the
barbershop founded from its rule file, a deposit, a service, a member's transfer and a dividend,
all anchored by a gateway's ledger; the customer's key put in the browser wallet (IndexedDB,
through /static/wallet/keys.js); the page fetches the customer's statement bundle, verifies it
on the device (WebCrypto) and shows the balance, how each token was earned and the dividend
part; with one byte of the statement altered in transit it names the first failure exactly as
``farmtrace verify`` does; a wallet that never was a member and no wallet at all are said so.
No CSP violation or script error on the way.

Driven through the DevTools protocol (tests/support/cdp.py), using the page's member-view
contract (farmtrace/api/services/community_page/render.py)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from support.api import ORIGIN
from support.cdp import Browser
from support.community_api import ADDR, SEEDS, Community

from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.store.ledger import Ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = "/v1/communities/barbershop"
PKCS8_ED25519 = "302e020100300506032b657004220420"
"""The DER prefix of an Ed25519 private key in PKCS #8 (RFC 8410), before the 32-byte seed."""


class Tampering:
    """The app, with optional changes to the bodies of some answers (a man in the middle, or a
    dishonest server): ``changes`` maps the end of a path to the change."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.changes: dict[str, Callable[[bytes], bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        change = next((c for end, c in self.changes.items() if path.endswith(end)), None)
        if scope["type"] != "http" or change is None:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = change(b"".join(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def flip_deposit(body: bytes) -> bytes:
    """One bit of the deposit entry (entries[1]) flipped, inside its signed body."""
    bundle = json.loads(body)
    raw = bytearray(base64.b64decode(bundle["entries"][1]["entry"]))
    raw[60] ^= 0x01
    bundle["entries"][1]["entry"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(bundle).encode()


def _life(c: Community) -> None:
    c.found()
    client, op = c.client, c.operator
    for path, body in (
        ("deposits", {"member": ADDR["customer"], "amount": 100_000, "payment_reference": "t1"}),
        (
            "services",
            {"member": ADDR["barber"], "revenue": 10_000, "cost": 5_000, "reference": "s"},
        ),
    ):
        answer = client.post(f"{BASE}/{path}", json=body, headers=op)
        assert answer.status_code == 201, answer.text
    sent = client.post(
        f"{BASE}/transfers", json={"statement": c.statement("customer", "barber", 5_000)}
    )
    assert sent.status_code == 201, sent.text
    dividend = client.post(
        f"{BASE}/distributions",
        json={"period": {"from_ms": 0, "until_ms": 1}, "surplus": 1_002_525},
        headers=op,
    )
    assert dividend.status_code == 201, dividend.text
    with Ledger.open(c.served.db_url, c.served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None


@pytest.fixture
def live(community: Community) -> Iterator[tuple[str, Tampering]]:
    """The community's app on a free 127.0.0.1 port (uvicorn in a thread), with its tamperer."""
    _life(community)
    app = Tampering(community.client.app)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def adopt(browser: Browser, name: str, seed_hex: str) -> str:
    """Put the key of ``seed_hex`` in the page's wallet store as the current wallet."""
    script = f"""(async () => {{
      const keys = await import('/static/wallet/keys.js');
      const hex = (h) => Uint8Array.from(h.match(/../g), (b) => parseInt(b, 16));
      const privateKey = await crypto.subtle.importKey(
        'pkcs8', hex('{PKCS8_ED25519}{seed_hex}'), {{ name: 'Ed25519' }}, false, ['sign']);
      const jwk = await crypto.subtle.exportKey('jwk', await crypto.subtle.importKey(
        'pkcs8', hex('{PKCS8_ED25519}{seed_hex}'), {{ name: 'Ed25519' }}, true, ['sign']));
      const publicKey = await crypto.subtle.importKey(
        'jwk', {{ kty: 'OKP', crv: 'Ed25519', x: jwk.x }}, {{ name: 'Ed25519' }}, true, ['verify']);
      const wallet = await keys.adoptKeys('{name}', {{ privateKey, publicKey }});
      return wallet.address;
    }})()"""
    address: str = browser.evaluate(script)
    return address


def settled(browser: Browser, url: str) -> str:
    browser.goto(url)
    state: str = browser.wait_for(
        "(() => { const s = document.getElementById('member')?.dataset.state;"
        " return s && s !== 'idle' && s !== 'loading' ? s : ''; })()",
        timeout=60,
        what="the member view to settle",
    )
    return state


def texts(browser: Browser, selector: str) -> list[str]:
    value: list[str] = browser.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].map((e) => e.textContent)"
    )
    return value


def test_member_view_verifies_the_statement_and_names_a_tampered_one(
    live: tuple[str, Tampering], community: Community, tmp_path: Path
) -> None:
    base, tamper = live
    page = f"{base}/communities/barbershop?lang=en"
    with Browser(tmp_path / "profile") as browser:
        assert settled(browser, page) == "nowallet"
        assert browser.evaluate("document.querySelector('.wallet-link').hidden") is False

        assert adopt(browser, "customer", SEEDS["customer"] * 32) == ADDR["customer"]
        assert settled(browser, page) == "verified"
        figures = browser.evaluate(
            "[...document.querySelectorAll('#member dl.figures dd')].map((d) => d.textContent)"
        )
        assert figures[0].startswith("customer · address ")
        assert figures[1] == "20,000 CUT"
        earned = browser.evaluate(
            "[...document.querySelectorAll('#member ol.earned li')]"
            ".map((li) => [li.dataset.op, li.dataset.delta])"
        )
        assert earned == [["deposit", "25000"], ["transfer", "-5000"]]
        assert texts(browser, "#member ol.earned li .what")[0] == "Deposit of 1,000.00\u00a0CNY"
        # The dividend: 1,002,525 fen over 10,025,250 tokens is 0.1 fen a token.
        assert browser.evaluate("document.querySelector('#member ul.parts li').dataset.part") == (
            "2000"
        )
        results = browser.evaluate(
            "[...document.querySelectorAll('#member li[data-check]')].map((li) => li.dataset.result)"
        )
        assert results == ["ok"] * 8
        lines = texts(browser, "#member ol.lines li")
        assert any(line.startswith("entries 1..5 replayed with the rules") for line in lines)
        # In Chinese, the same statement told in the page's Chinese words.
        assert settled(browser, f"{base}/communities/barbershop?lang=zh") == "verified"
        assert texts(browser, "#member ol.earned li .what")[0] == "充值 1,000.00\u00a0CNY"
        assert texts(browser, "#member dl.figures dd.balance") == ["20,000 CUT"]

        tamper.changes["/statement"] = flip_deposit
        assert settled(browser, page) == "failed"
        shown = browser.evaluate("document.getElementById('member').dataset.firstFailure")
        honest = community.client.get(f"{BASE}/members/{ADDR['customer']}/statement").content
        with pytest.raises(BundleError) as refused:
            verify_bundle(flip_deposit(honest), [community.served.ledger_vkey], say=lambda _: None)
        assert shown == str(refused.value)
        assert shown.startswith("entries[1]: community entry does not decode") or (
            "community entry 2 (deposit)" in shown
        )
        assert texts(browser, "#member ul.failures li") == [shown]
        tamper.changes.clear()

        # A page whose figure differs from what the statement verifies is caught too.
        tamper.changes["/communities/barbershop"] = lambda html: html.replace(
            b'data-page-supply="10025250"', b'data-page-supply="10025251"'
        )
        assert settled(browser, page) == "failed"
        assert browser.evaluate("document.getElementById('member').dataset.firstFailure") == (
            "page: shows supply 10025251, but entries 1..5 verified give 10025250"
        )
        tamper.changes.clear()

        stranger = adopt(browser, "stranger", "c7" * 32)
        assert settled(browser, page) == "notmember"

        # The stranger's statement is a 404 (not a member), which the browser logs; nothing else.
        expected = f"404 (Not Found) {base}{BASE}/members/{stranger}/statement"
        console = [
            line for line in browser.console if "favicon" not in line and expected not in line
        ]
        assert console == [], console
