"""The barbershop through the chain: founded from its shipped rule file over the API, a 1,000
deposit minting 25,000 tokens, a 100 service with cost 50 minting 250, a member's transfer and
a dividend; a gateway's ledger anchors every entry; ``farmtrace verify`` passes on a member's
statement bundle and names the failure in a tampered one; ``farmtrace audit`` passes and names
the first row altered behind the API's back."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from support.api import ORIGIN
from support.community_api import ADDR, Community
from support.tamper import update_row

from farmtrace.audit import run_audit
from farmtrace.cli import main
from farmtrace.store.ledger import Ledger

BASE = "/v1/communities/barbershop"


def _life(c: Community) -> None:
    c.found()
    client, op = c.client, c.operator
    deposit = client.post(
        f"{BASE}/deposits",
        json={"member": ADDR["customer"], "amount": 100_000, "payment_reference": "till 1"},
        headers=op,
    ).json()
    assert deposit["minted"] == 25_000  # 1,000.00 CNY -> 25,000 tokens, from the rule file
    served = client.post(
        f"{BASE}/services",
        json={"member": ADDR["barber"], "revenue": 10_000, "cost": 5_000, "reference": "t7"},
        headers=op,
    ).json()
    assert served["minted"] == 250  # a 100.00 service with cost 50.00 -> 250 tokens
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


def _anchor(c: Community) -> None:
    with Ledger.open(c.served.db_url, c.served.tmp / "gw", ORIGIN) as ledger:
        result = ledger.append_batch([])
        # The five community entries and the served lot's declaration, queued when it was made.
        assert result.block is not None and result.block.size == 6


@pytest.mark.slow
def test_statement_bundle_verifies_through_the_chain(
    community: Community, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = community
    _life(c)
    _anchor(c)
    entries = c.client.get(f"{BASE}/entries").json()
    assert all(e["anchored"] is not None for e in entries)
    bundle = c.client.get(f"{BASE}/members/{ADDR['customer']}/statement").json()
    assert [e["status"] for e in bundle["entries"]] == ["anchored"] * 5
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", c.served.ledger_vkey]) == 0
    out = capsys.readouterr().out
    assert "community statement verifies: community barbershop, entries 1..5 (5 anchored" in out
    assert "balance 20000" in out
    assert "entry 2 deposit: +25000 tokens" in out
    # A dividend of 1,002,525 fen over 10,025,250 tokens: 0.1 fen a token, 2,000 to 20,000.
    assert "dividend 2000 CNY minor units" in out

    # One byte of the deposit entry changed: verify names that entry and fails.
    tampered = json.loads(path.read_text())
    raw = bytearray(base64.b64decode(tampered["entries"][1]["entry"]))
    raw[-70] ^= 0x01
    tampered["entries"][1]["entry"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(tampered))
    assert main(["verify", str(path), "--key", c.served.ledger_vkey]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "entries[1]" in out

    # The stated dividend parts forged in a pending copy: the rules name the part.
    forged = json.loads(json.dumps(bundle))
    path.write_text(json.dumps(forged | {"member": ADDR["operator"]}))
    assert main(["verify", str(path), "--key", c.served.ledger_vkey]) == 1
    assert "no entry of the bundle credits or debits this address" in capsys.readouterr().out


@pytest.mark.slow
def test_audit_recomputes_and_names_altered_rows(community_on_both: Community) -> None:
    c = community_on_both
    _life(c)
    _anchor(c)
    url = c.served.db_url
    report = run_audit(url)
    assert report.ok, report.failure
    assert report.community.communities == 1 and report.community.entries == 5
    assert report.community.mints == 2 and report.community.anchored == 5
    assert "1 community (5 entries: 2 mints, 1 transfer, 1 distribution)" in report.to_text()

    update_row(url, "community_members", {"address": ADDR["barber"]}, {"balance": 99_999})
    report = run_audit(url)
    assert not report.ok and report.failure is not None
    assert report.failure["item"] == f"community barbershop: member {ADDR['barber']}" or (
        "stored balances sum to" in report.failure["reason"]
    )
    update_row(url, "community_members", {"address": ADDR["barber"]}, {"balance": 5_250})

    assert run_audit(url).ok
    head = c.state.communities.head("barbershop")
    update_row(url, "communities", {"id": head.id}, {"supply": head.supply + 1})
    report = run_audit(url)
    assert report.failure is not None and "says supply=10025251" in report.failure["reason"]
    update_row(url, "communities", {"id": head.id}, {"supply": head.supply})
    where = {"community_id": head.id, "eseq": 3, "address": ADDR["barber"]}
    update_row(url, "community_postings", where, {"delta": 251})
    report = run_audit(url)
    assert report.failure is not None
    assert report.failure["item"] == (
        f"community barbershop: posting of entry 3 (service) to {ADDR['barber']}"
    )
    update_row(url, "community_postings", where, {"delta": 250})
    assert run_audit(url).ok
    stored = c.state.communities.communities.entries(head.id, with_anchors=False)
    payload = bytearray(stored[1].payload)
    payload[-70] ^= 0x01
    update_row(
        url, "community_entries", {"community_id": head.id, "eseq": 2}, {"payload": bytes(payload)}
    )
    report = run_audit(url)
    assert not report.ok and report.failure is not None
    assert report.failure["item"] == "community barbershop: community entry 2 (deposit)"
