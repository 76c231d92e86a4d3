"""A campaign's whole life through the real processes, the chain and ``farmtrace verify``.

Mosquitto, ``farmtrace gateway`` and ``farmtrace api`` run as processes on one SQLite
database, with no sensor traffic. Over HTTP: a lot declared, a campaign opened, two pledges
confirmed, the campaign settled funded, a holder-signed transfer, the harvest, a shipping
event and the redemption linked to it. The gateway's idle sweep seals every entry the API
queued; once the coupon and the campaign show every entry anchored, both bundles are
downloaded over HTTP and ``farmtrace verify`` (a subprocess, with the gateway's verifier key
from ``farmtrace keys show``) passes on each, saying nothing is pending. One byte changed in
the coupon bundle's transfer makes it fail, naming that transfer.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, lot_body
from support.commerce import address
from support.mosquitto import Mosquitto
from support.tiles_serving import api_process

from farmtrace.api.auth import create_key
from farmtrace.commerce.entries import sign_statement
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.store.database import open_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GCN = "950600013436" + check_digit("950600013436")
DAY_MS = 86_400_000
BATCH_AGE_S = 0.3
ANCHOR_TIMEOUT_S = 120.0


def _call(
    base: str, method: str, path: str, body: object | None = None, token: str | None = None
) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _ok(found: tuple[int, object], status: int = 200) -> dict[str, object]:
    code, body = found
    assert code == status, (code, body)
    assert isinstance(body, dict)
    return body


def _farmtrace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


@contextmanager
def _gateway(broker: Mosquitto, db_url: str, state: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``farmtrace gateway`` on ``broker`` and ``db_url`` until the block ends."""
    log = state.parent / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "farmtrace", "gateway", "--broker", broker.url),
                *("--db", db_url, "--state", str(state), "--batch-age", str(BATCH_AGE_S)),
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_for(
            lambda: "subscribed to" in log.read_text("utf-8", "replace"),
            "the gateway's subscription",
            process,
            log,
        )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + ANCHOR_TIMEOUT_S
    while not condition():
        assert process.poll() is None, f"the gateway exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{what} within {ANCHOR_TIMEOUT_S} s"
        time.sleep(0.1)


def test_a_campaign_anchored_by_the_gateway_verifies_offline(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'farm.db'}"
    with open_database(db_url) as database:
        farm = create_key(database, "farm", ["campaigns:write"])
        till = create_key(database, "till", ["coupons:redeem"])
        events = create_key(database, "events", ["lots:write", "events:write"])
    gateway_state = tmp_path / "gateway"
    with (
        _gateway(mosquitto, db_url, gateway_state) as gateway,
        api_process(db_url, tmp_path / "api") as base,
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
        alice, bob, carol = (Ed25519PrivateKey.generate() for _ in range(3))
        for n, (holder, count) in enumerate(((alice, 2), (bob, 1))):
            pledge = _ok(
                _call(
                    base,
                    "POST",
                    f"/v1/campaigns/{GCN}/pledges",
                    {"holder": address(holder), "count": count},
                ),
                201,
            )
            _ok(
                _call(
                    base,
                    "POST",
                    f"/v1/campaigns/{GCN}/pledges/{pledge['pledge']}/confirm",
                    {"payment_reference": f"bank-ref-{n}"},
                    farm,
                )
            )
        assert _ok(_call(base, "POST", f"/v1/campaigns/{GCN}/settle", None, farm))["status"] == (
            "funded"
        )

        c2 = coupon_id(GCN, 2)
        issued = _ok(_call(base, "GET", f"/v1/coupons/{c2}"))
        moved = sign_statement(
            1, int(time.time() * 1000), "transfer", c2, str(issued["state"]), alice,
            to=address(carol), price=(4000, "CNY"),
        )  # fmt: skip
        body = {"statement": base64.b64encode(moved.payload).decode()}
        after = _ok(_call(base, "POST", f"/v1/coupons/{c2}/transfers", body), 201)
        _ok(_call(base, "POST", f"/v1/campaigns/{GCN}/harvest", {"quantity": 30}, farm))
        shipping = {
            "kind": "shipping",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "read_point": "urn:epc:id:sgln:9506000.00001.0",
            "actor": "Li Wei",
        }
        event = _ok(_call(base, "POST", f"/v1/lots/{GTIN}/{LOT}/events", shipping, events), 201)
        redeem = sign_statement(
            2, int(time.time() * 1000), "redeem", c2, str(after["state"]), carol
        )
        redemption = {
            "statement": base64.b64encode(redeem.payload).decode(),
            "event": {"signer": event["signer"], "seq": event["seq"]},
        }
        _ok(_call(base, "POST", f"/v1/coupons/{c2}/redemptions", redemption, till))

        def all_anchored() -> bool:
            coupon = _ok(_call(base, "GET", f"/v1/coupons/{c2}"))
            campaign = _ok(_call(base, "GET", f"/v1/campaigns/{GCN}"))
            history = coupon["history"]
            entries = campaign["entries"]
            assert isinstance(history, list) and isinstance(entries, list)
            return all(h["anchored"] for h in history) and all(e["anchored"] for e in entries)

        _wait_for(all_anchored, "every campaign entry and transfer anchored", gateway, tmp_path)
        coupon = _ok(_call(base, "GET", f"/v1/coupons/{c2}"))
        assert coupon["status"] == "redeemed" and coupon["holder"] == address(carol)
        assert [h["kind"] for h in coupon["history"]] == ["issue", "transfer", "redeem"]  # type: ignore[attr-defined]
        campaign = _ok(_call(base, "GET", f"/v1/campaigns/{GCN}"))
        assert [e["op"] for e in campaign["entries"]] == [  # type: ignore[attr-defined]
            "open", "issue", "issue", "funded", "harvested", "redeem",
        ]  # fmt: skip
        bundles = {}
        for name, path in (
            ("coupon", f"/v1/coupons/{c2}/bundle"),
            ("campaign", f"/v1/campaigns/{GCN}/bundle"),
        ):
            with urllib.request.urlopen(base + path, timeout=60) as answer:
                bundles[name] = answer.read()

    shown = _farmtrace("keys", "show", "--state", str(gateway_state))
    assert shown.returncode == 0, shown.stderr
    key = shown.stdout.strip()
    for name, raw in bundles.items():
        saved = tmp_path / f"{name}.json"
        saved.write_bytes(raw)
        verified = _farmtrace("verify", "--key", key, str(saved))
        assert verified.returncode == 0, (name, verified.stdout + verified.stderr)
        assert " 0 pending" in verified.stdout, (name, verified.stdout)
        assert "redeemed 1" in verified.stdout, (name, verified.stdout)

    # One byte of the coupon bundle's transfer changed (inside its base64, so the JSON stays
    # valid): verify fails and names the transfer (``moves[0]``).
    bundle = json.loads(bundles["coupon"])
    move = bundle["moves"][0]
    payload = bytearray(base64.b64decode(move["entry"]))
    payload[len(payload) // 2] ^= 0x01
    move["entry"] = base64.b64encode(bytes(payload)).decode()
    tampered = tmp_path / "coupon-tampered.json"
    tampered.write_text(json.dumps(bundle), "utf-8")
    refused = _farmtrace("verify", "--key", key, str(tampered))
    assert refused.returncode != 0, refused.stdout
    assert "FAIL  moves[0]: holder statement" in refused.stdout, refused.stdout
