"""The consumer's page end to end in headless Chromium, against the real API on 127.0.0.1.

The resolver (``/01/{gtin}/10/{lot}``) serves the page; Chromium loads it with its stylesheet
and ``badge.js``, which fetches the lot's bundle and verifies it with WebCrypto; the test reads
the DOM after the check (``--dump-dom`` after a virtual-time budget). A good lot shows
"verified" (or "pending" while an event awaits anchoring); a lot whose stored reading was
altered shows "failed" naming the reading and the check. Without Chromium the test skips, or
fails under CI=true.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from html import unescape

import pytest
import uvicorn
from support.api import GTIN, LOT, ORIGIN, Served
from support.chromium import dump_dom
from support.tamper import alter_reading_value

from farmtrace.store.ledger import Ledger
from farmtrace.store.rotation import rotate_checkpoint_key

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 30


@pytest.fixture
def live(served: Served) -> Iterator[str]:
    """The served app on a free 127.0.0.1 port (uvicorn in a thread) until the test ends, its
    lot's declaration anchored (as a lot's is once its gateway sealed another block)."""
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    config = uvicorn.Config(
        served.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
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


def proof_section(dom: str) -> tuple[str, str]:
    """The ``#proof`` opening tag and the section's text."""
    match = re.search(r'(<section id="proof"[^>]*>)(.*?)</section>', dom, re.S)
    assert match is not None, dom[:2000]
    return match.group(1), unescape(re.sub(r"<[^>]+>", " ", match.group(2)))


def attribute(tag: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', tag)
    assert match is not None, tag
    return unescape(match.group(1))


def test_good_lot_is_verified_in_the_browser(live: str, served: Served) -> None:
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    tag, words = proof_section(dom)
    assert attribute(tag, "data-state") == "verified", words
    assert "Verified on this device" in words
    assert "60 sensor readings" in words
    assert re.search(r'data-check="signatures"[^>]*data-result="ok"', dom), words
    assert "<svg" in dom and "Temperature" in dom


def test_bundle_signed_by_a_retired_key_is_verified_after_a_rotation(
    live: str, served: Served
) -> None:
    # Rotated with --db: the API lists the new key at once, but the chain's newest checkpoint
    # (the bundle's) is still signed by the old key until the gateway signs its next block.
    rotation = rotate_checkpoint_key(served.tmp / "gw", served.db_url)
    assert rotation.old.vkey == served.ledger_vkey
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    tag, words = proof_section(dom)
    assert attribute(tag, "data-verifier-key") == rotation.new.vkey
    assert attribute(tag, "data-retired-keys") == served.ledger_vkey
    assert attribute(tag, "data-state") == "verified", words


def test_page_in_chinese_by_browser_language(live: str, served: Served) -> None:
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile-zh", lang="zh-CN")
    tag, words = proof_section(dom)
    assert '<html lang="zh-Hans">' in dom
    assert attribute(tag, "data-state") == "verified", words
    assert "已在本机验证通过" in words


def test_altered_reading_shows_the_failure(live: str, served: Served) -> None:
    alter_reading_value(served.db_url, 25)
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    tag, words = proof_section(dom)
    assert attribute(tag, "data-state") == "failed", words
    first = attribute(tag, "data-first-failure")
    assert first.startswith("reading 25 (device ") and first.endswith(
        "device signature does not verify"
    )
    assert "Verification failed" in words and first in words
    assert re.search(r'data-check="signatures"[^>]*data-result="failed"', dom)


def test_event_pending_anchoring_shows_pending(live: str, served: Served) -> None:
    event = {
        "kind": "packing",
        "time": "2024-06-10T15:00:00+08:00",
        "read_point": "urn:epc:id:sgln:9506000.00001.0",
        "actor": "Packhouse 2",
    }
    auth = {"Authorization": f"Bearer {served.key}"}
    response = served.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=event, headers=auth)
    assert response.status_code == 201, response.text
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    tag, words = proof_section(dom)
    assert attribute(tag, "data-state") == "pending", words
    assert "some records are still waiting to be anchored" in words
    assert "Packing" in dom and "pending anchoring" in dom
