"""``farmtrace wallet`` against a real ``farmtrace api`` process: a farm opens a campaign and
issues a backer's coupons, the backer's wallet lists and transfers them, a second spend of one
state gets the server's 409 message and exit 1, and the redeem statement the wallet prints is
what the farm confirms at pickup."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, ORIGIN, lot_body
from support.commerce import terms_json
from support.readings import batch, devices
from support.tiles_serving import api_process

from farmtrace.cli import main
from farmtrace.commerce.entries import decode_statement
from farmtrace.store.ledger import Ledger
from farmtrace.wallet import command as wallet_command
from farmtrace.wallet.client import ApiClient
from farmtrace.wallet.keyfile import address_of, save_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts `farmtrace api` on a port

SCOPES = ("lots:write", "events:write", "campaigns:write", "coupons:redeem")


def farmtrace(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def call(base: str, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {key}"} if key else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read()!r}") from None


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An API process over a chain with one lot (and its shipping event), a funded campaign for
    that lot and two coupons issued to Alice's wallet."""
    db_url = f"sqlite:///{tmp_path / 'chain.db'}"
    devs = devices(2)
    with Ledger.open(db_url, tmp_path / "gw", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        ledger.append_batch(batch(devs, range(1, 21)))
    made = farmtrace("api-keys", "create", "--db", db_url, "--name", "farm",
                     *(a for s in SCOPES for a in ("--scope", s)))  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    alice, bob = tmp_path / "alice.key", tmp_path / "bob.key"
    addresses = {}
    for name, path in (("alice", alice), ("bob", bob)):
        holder_key = Ed25519PrivateKey.generate()
        save_key(path, holder_key)
        addresses[name] = address_of(holder_key)
    with api_process(db_url, tmp_path / "api") as base:
        call(base, "POST", "/v1/lots", lot_body([d.device_id for d in devs]), key)
        event = call(base, "POST", f"/v1/lots/{GTIN}/{LOT}/events", {
            "kind": "shipping", "time": "2024-06-10T14:00:00+08:00",
            "read_point": "urn:epc:id:sgln:9506000.00001.0", "actor": "Li Wei",
        }, key)  # fmt: skip
        now = int(time.time() * 1000)
        hour = 3_600_000
        terms = terms_json(
            gtin=GTIN, lot=LOT, target=2, cap=10, opens_ms=now - hour, deadline_ms=now + hour,
            delivery={"from_ms": now + hour, "until_ms": now + 2 * hour},
        )  # fmt: skip
        campaign = call(base, "POST", "/v1/campaigns", terms, key)
        gcn = terms["campaign"]
        assert campaign["status"] == "open"
        pledge = call(base, "POST", f"/v1/campaigns/{gcn}/pledges",
                      {"holder": addresses["alice"], "count": 2})  # fmt: skip
        issued = call(base, "POST", f"/v1/campaigns/{gcn}/pledges/{pledge['pledge']}/confirm",
                      {"payment_reference": "bank transfer 2026-12-07 #17"}, key)  # fmt: skip
        yield {
            "base": base, "key": key, "gcn": gcn, "coupons": issued["coupons"], "event": event,
            "alice": str(alice), "bob": str(bob), "addresses": addresses,
        }  # fmt: skip


def test_the_wallet_lists_transfers_and_redeems_against_the_api(
    farm: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, first, second = farm["base"], *farm["coupons"]
    env = {"FARMTRACE_API": base}

    listed = farmtrace("wallet", "coupons", "--file", farm["alice"], env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [(first, "active", "0"), (second, "active", "0")]
    assert rows[0][3] == call(base, "GET", f"/v1/coupons/{first}")["state"]

    # A transfer with a declared price: the new holder, state and move count as the API has them.
    bob = farm["addresses"]["bob"]
    sent = farmtrace("wallet", "transfer", first, "--to", bob, "--price", "4800", "CNY",
                     "--file", farm["alice"], env=env)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    view = call(base, "GET", f"/v1/coupons/{first}")
    assert (view["holder"], view["moves"]) == (bob, 1)
    assert sent.stdout.splitlines() == [
        f"coupon {first} now held by {bob}",
        f"state: {view['state']}",
        "moves: 1",
    ]
    held = call(base, "GET", f"/v1/coupons?holder={bob}")
    assert [c["coupon"] for c in held] == [first]

    # Two spends of one state: the other device's lands between this wallet's read and its
    # post, so the API refuses this one (409) naming the current head; exit 1, nothing changes.
    carol = address_of(Ed25519PrivateKey.generate())

    class Raced(ApiClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            other = farmtrace("wallet", "transfer", second, "--to", bob, "--file", farm["alice"],
                              env=env)  # fmt: skip
            assert other.returncode == 0, other.stderr
            return super().post(path, body)

    monkeypatch.setattr(wallet_command, "ApiClient", Raced)
    code = main(
        ["wallet", "transfer", second, "--to", carol, "--file", farm["alice"], "--api", base]
    )
    out, err = capsys.readouterr()
    head = call(base, "GET", f"/v1/coupons/{second}")
    assert code == 1 and out == ""
    assert "the API refused the transfer (HTTP 409)" in err and head["state"] in err
    assert "Traceback" not in err
    assert (head["holder"], head["moves"]) == (bob, 1)
    monkeypatch.undo()

    # Redemption: the farm settles (target reached), records the harvest, scans Bob's redeem
    # statement and confirms it with the lot's shipping event.
    call(base, "POST", f"/v1/campaigns/{farm['gcn']}/settle", None, farm["key"])
    call(base, "POST", f"/v1/campaigns/{farm['gcn']}/harvest", {"quantity": 50}, farm["key"])
    shown = farmtrace("wallet", "redeem", first, "--qr", "--file", farm["bob"], env=env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.splitlines()[0]
    statement = decode_statement(base64.b64decode(text, validate=True))
    assert (statement.op, statement.prev, statement.move) == ("redeem", view["state"], 2)
    event = {"signer": farm["event"]["signer"], "seq": farm["event"]["seq"]}
    confirmed = call(base, "POST", f"/v1/coupons/{first}/redemptions",
                     {"statement": text, "event": event}, farm["key"])  # fmt: skip
    assert confirmed["state"] == call(base, "GET", f"/v1/coupons/{first}")["state"]
    assert call(base, "GET", f"/v1/coupons/{first}")["status"] == "redeemed"

    # A redeemed coupon never moves again: the wallet says so and signs nothing.
    again = farmtrace("wallet", "transfer", first, "--to", farm["addresses"]["alice"],
                      "--file", farm["bob"], env=env)  # fmt: skip
    assert again.returncode == 1 and "it is redeemed and never moves again" in again.stderr
    unknown = farmtrace("wallet", "redeem", farm["gcn"] + "99", "--file", farm["bob"], env=env)
    assert unknown.returncode == 1 and f"coupon {farm['gcn']}99" in unknown.stderr
    assert "Traceback" not in again.stderr + unknown.stderr
