"""The page's witness panel in headless Chromium against the real API: with the operator's
tlog-policy published, the page names the witnesses that cosigned the lot's checkpoint and says
whether the quorum is met, with each witness's latest cosigned size. Without Chromium the test
skips, or fails under CI=true."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import uvicorn
from support.api import GTIN, LOT, ORIGIN, Served, serve
from support.chromium import dump_dom
from test_witness_verify import W1, W2, cosign_newest, policy_file

from farmtrace.store.ledger import Ledger

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


@pytest.fixture
def live(served: Served) -> Iterator[str]:
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None  # the lot's declaration anchored
    config = uvicorn.Config(
        served.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def panel(dom: str) -> str:
    match = re.search(r'<div class="witnesses">(.*?)</div>', dom, re.S)
    assert match is not None, "no witness panel in the page"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def test_panel_shows_the_quorum_met(live: str, served: Served) -> None:
    cosign_newest(served, W1)
    (served.tmp / "api" / "witness.policy").write_text(policy_file(served, "one").read_text())
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    words = panel(dom)
    assert f"Witness quorum one met for {ORIGIN}" in words, words
    assert "✓ w1 cosigned this checkpoint" in words and "(0 blocks behind)" in words
    assert "✗ w2" in words and "has cosigned nothing yet" in words


def test_panel_shows_the_quorum_not_met(live: str, served: Served) -> None:
    cosign_newest(served, W2)
    (served.tmp / "api" / "witness.policy").write_text(policy_file(served, "both").read_text())
    dom = dump_dom(f"{live}/01/{GTIN}/10/{LOT}", served.tmp / "profile")
    words = panel(dom)
    assert "Witness quorum both NOT met" in words and "(cosigned by: w2)" in words, words
    assert "✓ w2" in words and "✗ w1" in words
