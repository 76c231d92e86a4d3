"""The consumer's page in headless Chromium when the bundle it downloads lacks one reading: the
badge's own check (page/bundle.js with verify/series.js) fails, naming the device and the seq.

The page and its scripts are the real API's; only the bundle's bytes are swapped for a copy
with one reading removed, as a server hiding an excursion would serve it (every remaining
signature and proof still holds).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import uvicorn
from support.api import GTIN, LOT, Served
from support.chromium import dump_dom
from support.series_tamper import find

from farmtrace.api.services.verify import BundleError, verify_bundle

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 30
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def serving(app: Any, bundle: bytes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``app``, except that the lot's bundle answers ``bundle``."""
    path = f"/v1/lots/{GTIN}/{LOT}/bundle"

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != path:
            await app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bundle})

    return wrapped


@pytest.fixture
def tampered(served: Served) -> Iterator[tuple[str, str]]:
    """A live server whose bundle lacks dev-0001's seq 7, and what farmtrace verify says."""
    bundle = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle").json()
    del bundle["readings"][find(bundle, "dev-0001", 7)]
    data = json.dumps(bundle).encode()
    with pytest.raises(BundleError) as failure:
        verify_bundle(data, [served.ledger_vkey], say=lambda _line: None)
    config = uvicorn.Config(
        serving(served.client.app, data), host="127.0.0.1", port=0, log_level="warning",
        lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", str(failure.value)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def test_removed_reading_fails_the_badge_naming_device_and_seq(
    tampered: tuple[str, str], served: Served
) -> None:
    url, python_says = tampered
    assert python_says.startswith("stage 'Cold room 1', device dev-0001: seq 7 is missing")
    dom = dump_dom(f"{url}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    match = re.search(r'<section id="proof"[^>]*>', dom)
    assert match is not None, dom[:2000]
    tag = match.group(0)
    assert 'data-state="failed"' in tag, tag
    first = re.search(r'data-first-failure="([^"]*)"', tag)
    assert first is not None and first.group(1).replace("&#39;", "'") == python_says, tag
    assert "device dev-0001: seq 7 is missing" in dom
