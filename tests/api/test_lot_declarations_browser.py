"""The page's badge in headless Chromium against a bundle whose lot facts were changed on the
way (a proxy in front of the real API rewrites one field of the bundle's ``lot``): the badge
fails, naming the field and the declaration; the untouched bundle of a revised lot verifies.
Without Chromium the test skips, or fails under CI=true."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import uvicorn
from support.api import GTIN, LOT, ORIGIN, Served, lot_body
from support.chromium import dump_dom
from test_page_browser import attribute, proof_section

from farmtrace.store.ledger import Ledger

pytestmark = pytest.mark.integration

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
BUNDLE = f"/v1/lots/{GTIN}/{LOT}/bundle"


class Tampering:
    """An ASGI proxy in front of the API that passes the lot's bundle through ``change``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.change: Callable[[dict[str, Any]], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != BUNDLE or self.change is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        bundle = json.loads(b"".join(chunks))
        self.change(bundle)
        body = json.dumps(bundle).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def proxied(served: Served) -> Iterator[tuple[str, Tampering]]:
    """The lot revised once and anchored, served through a :class:`Tampering` proxy."""
    body = lot_body([d.device_id for d in served.devices]) | {"origin_region": "Weifang"}
    auth = {"Authorization": f"Bearer {served.key}"}
    assert served.client.put(f"/v1/lots/{GTIN}/{LOT}", json=body, headers=auth).status_code == 200
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    proxy = Tampering(served.client.app)
    config = uvicorn.Config(proxy, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", proxy
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def badge(url: str, served: Served) -> tuple[str, str]:
    dom = dump_dom(f"{url}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    tag, words = proof_section(dom)
    return tag, words


def test_revised_lot_verifies_in_the_browser(
    proxied: tuple[str, Tampering], served: Served
) -> None:
    url, _ = proxied
    tag, words = badge(url, served)
    assert attribute(tag, "data-state") == "verified", words


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("lot.origin_region", lambda lot: lot.update(origin_region="Hainan")),
        ("lot.stages[0].end", lambda lot: lot["stages"][0].update(end="2024-06-10T06:20:00Z")),
        ("lot.details.certifications", lambda lot: lot["details"]["certifications"].pop()),
    ],
)
def test_a_changed_fact_fails_the_badge_naming_the_field(
    proxied: tuple[str, Tampering],
    served: Served,
    field: str,
    change: Callable[[dict[str, Any]], None],
) -> None:
    url, proxy = proxied
    proxy.change = lambda bundle: change(bundle["lot"])
    tag, words = badge(url, served)
    assert attribute(tag, "data-state") == "failed", words
    assert attribute(tag, "data-first-failure") == f"{field} differs from declaration v2"
    assert f"{field} differs from declaration v2" in words
