"""The demo's harvest campaign: its identifiers and terms are valid, and a real ``farmtrace demo``
(embedded broker, SQLite) runs the story through the API: the campaign exists, its bundle
verifies with ``farmtrace verify`` and the gateway's key, the counts match, one coupon was
given, one sold and one redeemed, and the addresses it prints answer."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from farmtrace.api.schemas.lots import LotCreate
from farmtrace.commerce.entries import decode_statement
from farmtrace.commerce.gcn import check_digit, parse_coupon_id, validate_gcn
from farmtrace.commerce.terms import parse_terms
from farmtrace.demo.campaign import (
    BACKERS,
    CAMPAIGN_LOT,
    CAP,
    GCN,
    STORY_COUPON,
    TARGET,
    campaign_gcn,
    campaign_lot,
    campaign_terms,
)
from farmtrace.demo.errors import DemoError
from farmtrace.demo.lots import sample_lots
from farmtrace.sim.scenario import load

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 150.0
STOP_TIMEOUT_S = 90.0
ISSUED = sum(b.pledge for b in BACKERS)


def test_the_gcn_is_the_demo_prefix_a_reference_and_a_gs1_check_digit() -> None:
    assert len(GCN) == 13 and GCN.startswith("4012345")
    assert validate_gcn(GCN) == GCN
    assert GCN[12] == check_digit(GCN[:12])
    assert parse_coupon_id(STORY_COUPON) == (GCN, 1)
    with pytest.raises(DemoError, match="expected 12 digits"):
        campaign_gcn("4012345", "123")


def test_the_terms_are_valid_and_cover_every_coupon_issued() -> None:
    now_ms = 1_800_000_000_000
    terms = parse_terms(campaign_terms(now_ms))
    assert terms.campaign == GCN and terms.lot == CAMPAIGN_LOT
    assert terms.opens_ms < now_ms < terms.deadline_ms <= terms.delivery_from_ms
    assert (terms.target, terms.cap) == (TARGET, CAP)
    assert TARGET <= ISSUED <= CAP  # the pledges fund it


def test_the_campaign_lot_grows_in_a_field_the_simulator_watches() -> None:
    start = datetime(2026, 6, 29, 6, 0, tzinfo=UTC)
    lot = campaign_lot(start)
    created = LotCreate.model_validate(lot.body)
    assert created.gtin == sample_lots(start)[0].gtin  # the demo's lettuce, a later lot
    assert created.lot not in {s.lot for s in sample_lots(start)}
    environments = {d.device_id: d.environment for d in load("small-farm").devices}
    (stage,) = created.stages
    assert stage.kind == "field"
    assert {environments[d] for d in stage.device_ids} == {"field-north"}


# -- the whole demo -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def get(url: str, accept: str = "application/json") -> tuple[int, str, bytes]:
    """``(status, content type, body)``; status 0 when nothing answered."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except OSError:
        return 0, "", b""


def get_json(url: str) -> Any:
    status, _, body = get(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_demo_runs_the_campaign_through_the_api(tmp_path: Path) -> None:
    try:
        import iotcore  # noqa: F401  (the embedded broker)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("iotcore is not installed (pip install -e '.[dev]')")
        pytest.skip("iotcore is not installed (the embedded broker)")
    state = tmp_path / "demo"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    argv = [sys.executable, "-m", "farmtrace", "demo", "--state", str(state)]
    argv += ["--broker", "embedded", "--speed", "120", "--port", str(port), "--duration", "300"]
    with log.open("wb") as out:
        demo = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "Live summary:" not in log.read_text("utf-8", errors="replace"):
            assert demo.poll() is None, log.read_text("utf-8", errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the demo printed no links in time"
            time.sleep(0.5)
        output = log.read_text("utf-8", errors="replace")
        check_printed_figures(output)
        check_printed_pages(output, base)
        check_api(base, state)
        check_bundle_verifies(base, state, tmp_path)
        check_commands(output, tmp_path)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)
        try:
            code = demo.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
            raise
    assert code == 0, log.read_text("utf-8", errors="replace")[-3000:]


def check_printed_figures(output: str) -> None:
    line = re.search(rf"campaign {GCN} (\w+): (\d+) pledges paid, (\d+) coupons issued", output)
    assert line is not None, output[-3000:]
    assert line.groups() == ("funded", "3", str(ISSUED))
    assert "1 transferred, 1 sold (1 through the market), 1 redeemed, 4 outstanding" in output


def check_printed_pages(output: str, base: str) -> None:
    """The campaign page and the coupon page are printed (with a QR code each) and answer:
    HTML where the page exists, else the resolver's JSON."""
    campaign_page = f"{base}/campaigns/{GCN}"
    coupon_page = f"{base}/255/{STORY_COUPON}"
    for url in (campaign_page, coupon_page):
        assert f": {url}\n" in output, output[-3000:]
        after = output.split(f": {url}\n", 1)[1]
        assert after.lstrip("\n").startswith("█"), after[:200]  # its QR code follows
        status, kind, body = get(url, "text/html,application/json;q=0.9")
        assert status == 200, (url, status, body[:300])
        assert kind.startswith(("text/html", "application/json")), (url, kind)


def check_api(base: str, state: Path) -> None:
    campaign = get_json(f"{base}/v1/campaigns/{GCN}")
    assert campaign["status"] == "funded"
    assert campaign["totals"] == {"issued": ISSUED, "redeemed": 1, "voided": 0, "outstanding": 4}
    assert campaign["harvested"] == 50
    ops = [e["op"] for e in campaign["entries"]]
    assert ops == ["open", "issue", "issue", "issue", "funded", "harvested", "redeem"], ops
    coupon = get_json(f"{base}/v1/coupons/{STORY_COUPON}")
    assert coupon["status"] == "redeemed"
    kinds = [(h["kind"], h["price"]) for h in coupon["history"]]
    assert kinds == [
        ("issue", None),
        ("transfer", None),
        ("transfer", {"amount": 2000, "currency": "EUR"}),
        ("redeem", None),
    ], kinds
    # The backers' keys are the demo's own, mode 0600, and hold what the story says.
    dave = (state / "wallets" / "dave.key").stat()
    assert dave.st_mode & 0o077 == 0
    # The sale went through the market: carol's listing ended sold when she transferred to dave.
    market = get_json(f"{base}/v1/campaigns/{GCN}/listings")
    assert market["open"] == []
    (sold,) = market["ended"]
    assert (sold["coupon"], sold["ended"]) == (STORY_COUPON, "sold")
    assert sold["price"] == {"amount": 2000, "currency": "EUR"}
    assert market["prices"] == [
        {"coupon": STORY_COUPON, "time_ms": sold["ended_time_ms"], "price": sold["price"]}
    ]
    status, kind, _ = get(f"{base}/campaigns/{GCN}/market", "text/html")
    assert (status, kind.split(";")[0]) == (200, "text/html")
    lot = get_json(f"{base}/v1/lots/04012345000016/{CAMPAIGN_LOT}")
    assert {e["kind"] for e in lot["events"]} == {"harvest", "retail_selling"}


def check_bundle_verifies(base: str, state: Path, tmp_path: Path) -> None:
    """Once the gateway anchored every item, ``farmtrace verify`` accepts the campaign bundle
    with the gateway's key and recounts the same figures."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        bundle = get_json(f"{base}/v1/campaigns/{GCN}/bundle")
        items = bundle["entries"] + bundle["moves"]
        if all(i["status"] == "anchored" for i in items):
            break
        assert time.monotonic() < deadline, "the campaign's entries were not anchored in time"
        time.sleep(1.0)
    prices = [decode_statement(base64.b64decode(m["entry"])).price for m in bundle["moves"]]
    assert sorted(prices, key=str) == sorted([None, (2000, "EUR")], key=str), prices
    path = tmp_path / "campaign-bundle.json"
    path.write_text(json.dumps(bundle), "utf-8")
    key = farmtrace("keys", "show", "--state", str(state / "gateway"))
    assert key.returncode == 0, key.stderr
    done = farmtrace("verify", "--key", key.stdout.strip(), str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"campaign bundle verifies: campaign {GCN} funded, entries 1..7 (9 items anchored, "
        f"0 pending), issued {ISSUED}/{CAP}, redeemed 1, voided 0, outstanding 4"
    ) in done.stdout, done.stdout


def check_commands(output: str, tmp_path: Path) -> None:
    """The campaign commands the demo prints work as printed."""
    printed = re.search(r"try it, from another terminal in .*?:\n((?:  .*\n)+)", output)
    assert printed is not None, output[-3000:]
    commands = [line.strip() for line in printed.group(1).splitlines()]
    campaign = [c for c in commands if "campaign" in c or "wallet" in c]
    assert len(campaign) == 3, commands
    tried = subprocess.run(
        ["bash", "-e", "-c", "\n".join(campaign)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert f"campaign bundle verifies: campaign {GCN}" in tried.stdout, tried.stdout
    assert STORY_COUPON in tried.stdout and "redeemed" in tried.stdout, tried.stdout


def farmtrace(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
