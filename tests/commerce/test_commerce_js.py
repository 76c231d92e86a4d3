"""The browser's commerce verifier (``verify/commerce.js``, ``page/commerce_bundle.js``) against
the Python reference (``farmtrace/commerce``, ``farmtrace verify``), case by case under node
(``tests/js/commerce_run.mjs``):

* the published vectors (``docs/vectors/commerce.json``): every entry decodes to the same fields
  and state; after every prefix of the history the replay reaches the recorded campaign and
  coupons; every malformed entry is refused for its reason; every refused history names the
  same first violation, word for word;
* entries the vectors do not hold: every byte of each vector entry flipped, JSON the reference
  reads in its own way (floats, integers past 2**53, duplicate keys, escapes, NaN), wallet
  addresses off the curve, of small order or non-canonical, more histories (failed campaigns,
  shortfalls, expiry, bad terms) and random edits of valid ones: both refuse or accept alike,
  with the same message;
* real bundles over a real chain (``tests/support/commerce_chain.py``), plain, pending and
  tampered each way ``tests/commerce/test_commerce_bundle.py`` tampers them: the same verdict,
  the same first failure and the same findings.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce import DAY, T0, Farm, redeem_statement, terms_json, transfer
from support.commerce_chain import Anchored, anchor, failed_history, funded_history, seed_key
from test_commerce_bundle import CASES as BUNDLE_TAMPERS
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.chain.entry import CAMPAIGN_PREFIX, COUPON_MOVE_PREFIX
from farmtrace.chain.signed_entry import frame
from farmtrace.commerce.entries import (
    CampaignEntry,
    HolderStatement,
    Totals,
    decode_campaign_entry,
    decode_statement,
    farm_signer,
    fingerprint,
    statement_signer,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.replay import CampaignReplay

pytestmark = pytest.mark.slow  # runs node

VECTORS: dict[str, Any] = json.loads((REPO_ROOT / "docs/vectors/commerce.json").read_text("utf-8"))
HISTORY = VECTORS["history"]
Case = dict[str, Any]


def run_js(cases: list[Case], tmp: Path) -> list[dict[str, Any]]:
    """The JS verdict of each case, in order."""
    node = require_node()
    path = tmp / "commerce-cases.json"
    path.write_text(json.dumps({"cases": cases}))
    done = subprocess.run(
        [node, "tests/js/commerce_run.mjs", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    verdicts: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(verdicts) == len(cases)
    return verdicts


# -- the reference's verdicts, in the shape commerce_run.mjs prints ---------------------------


def _kind(payload: bytes) -> str:
    return "campaign" if payload[:2] == b"FC" else "statement"


def decode_case(payload: bytes) -> Case:
    return {"kind": _kind(payload), "payload_hex": payload.hex()}


def python_decode(case: Case) -> dict[str, Any]:
    payload = bytes.fromhex(case["payload_hex"])
    try:
        if case["kind"] == "campaign":
            e = decode_campaign_entry(payload)
            fields: dict[str, Any] = {
                "seq": e.seq, "time_ms": e.time_ms, "signer": e.signer, "campaign": e.campaign,
                "cseq": e.cseq, "prev": e.prev, "op": e.op, "totals": e.totals.to_json(),
                "body": e.body, "state": e.state,
            }  # fmt: skip
        else:
            s = decode_statement(payload)
            fields = {
                "move": s.move, "time_ms": s.time_ms, "signer": statement_signer(s.coupon), "op": s.op,
                "coupon": s.coupon, "prev": s.prev, "to": s.to,
                "price": None if s.price is None else list(s.price), "body": _body(s.signed_bytes),
                "state": s.state,
            }  # fmt: skip
    except CommerceError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "fields": fields}


def _body(signed: bytes) -> Any:
    (n,) = struct.unpack_from(">B", signed, 19)
    return json.loads(signed[20 + n + 4 :])


def history_case(items: list[bytes], farm_key: bytes | None = None) -> Case:
    case: Case = {"kind": "history", "items": [p.hex() for p in items]}
    if farm_key is not None:
        case["farm_key_hex"] = farm_key.hex()
    return case


def python_history(case: Case) -> dict[str, Any]:
    """The vectors' procedure: decode all, queue the transfers, apply the entries, finish."""
    key = case.get("farm_key_hex")
    replay = CampaignReplay(None if key is None else bytes.fromhex(key))
    try:
        decoded: list[CampaignEntry | HolderStatement] = []
        for hexed in case["items"]:
            payload = bytes.fromhex(hexed)
            is_entry = _kind(payload) == "campaign"
            decoded.append(
                decode_campaign_entry(payload) if is_entry else decode_statement(payload)
            )
        for d in decoded:
            if isinstance(d, HolderStatement):
                replay.add_transfer(d)
        for d in decoded:
            if isinstance(d, CampaignEntry):
                replay.apply(d)
        replay.finish()
    except CommerceError as exc:
        return {"ok": False, "error": str(exc)}
    t = replay.totals
    return {
        "ok": True,
        "campaign": {
            "cseq": replay.cseq,
            "head": replay.head,
            "status": replay.status,
            "totals": t.to_json() | {"outstanding": t.outstanding},
            "harvested": replay.harvested,
        },
        "coupons": {
            c.coupon: {
                "holder": c.holder,
                "holder_fingerprint": fingerprint(bytes.fromhex(c.holder)),
                "state": c.state,
                "moves": c.moves,
                "status": c.status,
            }
            for c in replay.coupons.values()
        },
        "shortfall": None
        if replay.shortfall is None
        else {
            "policy": replay.shortfall.policy,
            "covered": replay.shortfall.covered,
            "uncovered": replay.shortfall.uncovered,
            "voided": replay.shortfall.voided,
        },
    }


def python_verdict(case: Case) -> dict[str, Any]:
    return python_history(case) if case["kind"] == "history" else python_decode(case)


# -- cases beyond the vectors ------------------------------------------------------------------


def _vector_payloads() -> list[bytes]:
    return [bytes.fromhex(v["payload_hex"]) for v in HISTORY]


def byte_flips() -> list[Case]:
    """Every byte of every vector entry flipped (one bit), and every entry cut short."""
    cases = []
    for payload in _vector_payloads():
        for i in range(len(payload)):
            flipped = bytearray(payload)
            flipped[i] ^= 0x01 << (i % 8)
            cases.append(decode_case(bytes(flipped)))
        for cut in (1, 64, 65, len(payload) // 2):
            cases.append(decode_case(payload[:-cut]))
    return cases


FARM = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["keys"]["farm"]["seed_hex"]))
ALICE = Ed25519PrivateKey.from_private_bytes(bytes(32 * [0x11]))


def _signed(
    prefix: bytes, signer: str, data: bytes, seq: int = 2, key: Ed25519PrivateKey = FARM
) -> bytes:
    signed = frame(prefix, seq, 1_800_086_400_000, signer, data)
    return signed + key.sign(signed)


def raw_json_cases() -> list[Case]:
    """Bodies as exact bytes: what Python's json reads and canonical JSON then refuses or not."""
    issue = HISTORY[1]
    signer = issue["signer"]
    text = json.dumps(issue["body"], sort_keys=True, separators=(",", ":"))
    variants = [
        text,
        text.replace('"count":2', '"count":2.0'),
        text.replace('"count":2', '"count":2e0'),
        text.replace('"count":2', '"count":20E-1'),
        text.replace('"count":2', '"count":-0'),
        text.replace('"count":2', '"count":9007199254740991'),
        text.replace('"count":2', '"count":9007199254740992'),
        text.replace('"count":2', '"count":-9007199254740992'),
        text.replace('"count":2', '"count":123456789012345678901234567890'),
        text.replace('"count":2', '"count":NaN'),
        text.replace('"count":2', '"count":Infinity'),
        text.replace('"count":2', '"count":-Infinity'),
        text.replace('"count":2', '"count":true'),
        text.replace('"count":2', '"count":null'),
        text.replace('"count":2', '"count":"2"'),
        text.replace('"count":2', '"count":[2]'),
        text.replace('"count":2', '"count":2,"count":2'),
        text.replace('"count":2', '"count":3,"count":2'),
        text.replace('"count":2', '"count" : 2'),
        text.replace('"count":2', '"count":02'),
        text.replace('"count":2', '"count":+2'),
        text.replace('"op":"issue"', '"op":"iss\\u0075e"'),
        text.replace('"op":"issue"', '"op":"\\ud800"'),
        text.replace('"op":"issue"', '"op":"caf\u00e9"'),
        text.replace('"op":"issue"', '"op":"\\u00e9"'),
        text.replace('"op":"issue"', '"op":"a\\/b"'),
        text.replace('"op":"issue"', '"op":"a\tb"'),
        text.replace('"op":"issue"', '"op":"\U0001f600"'),
        text.replace('"op":"issue"', '"op":"\\ud83d\\ude00"'),
        text.replace('"op":"issue"', '"op":"issue","\\ud800":1'),
        text.replace('"op":"issue"', '"op":"issue","note":1.5'),
        text.replace('"op":"issue"', '"op":"issue","x":{"b":1,"a":[1,{"d":null}]}'),
        text.replace('"op":"issue"', '"op":"issue","__proto__":{"a":1}'),
        text.replace('"op":"issue"', '"op":"issue","10":1,"2":2'),
        text.replace('"holder":"', '"holder":"D'),
        text.replace('"pledge":"', '"pledge":"0'),
        "\ufeff" + text,
        text + " ",
        " " + text,
        text + "x",
        "[" + text + "]",
        '"issue"',
        "1",
        "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
        "[" * 2000 + "]" * 2000,
        "{}",
        "",
    ]
    cases = [
        decode_case(_signed(CAMPAIGN_PREFIX, signer, v.encode("utf-8", "surrogatepass")))
        for v in variants
    ]
    cases.append(decode_case(_signed(CAMPAIGN_PREFIX, signer, b'{"op":"\xff"}')))
    raw_signer = "farm.\u00e9".encode()  # not ASCII: framed by hand
    signed = CAMPAIGN_PREFIX + struct.pack(">QqB", 2, 1, len(raw_signer)) + raw_signer
    signed += struct.pack(">I", len(text)) + text.encode()
    cases.append(decode_case(signed + FARM.sign(signed)))
    for seq in (0, 2**53 - 1, 2**53, 2**64 - 1):
        cases.append(decode_case(_signed(CAMPAIGN_PREFIX, signer, text.encode(), seq=seq)))
    for time_ms in (-1, 2**53, 2**63 - 1):
        signed = frame(CAMPAIGN_PREFIX, 2, time_ms, signer, text.encode())
        cases.append(decode_case(signed + FARM.sign(signed)))
    return cases


SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


def address_cases() -> list[Case]:
    """Transfers to addresses of every kind: random bytes (about half are off the curve), small
    order, y >= p, x = 0 with the sign bit, upper-case hex, wrong lengths."""
    rng = random.Random(15)
    prev = HISTORY[1]["state"]
    coupon = "06141410000121"
    addresses = [rng.randbytes(32).hex() for _ in range(60)]
    addresses += SMALL_ORDER
    p = 2**255 - 19
    for y in (p, p + 1, 2**255 - 1, 1):
        for sign in (0, 1):
            addresses.append((y | (sign << 255)).to_bytes(32, "little").hex())
    addresses += ["D" * 64, "ab" * 31, "ab" * 33, VECTORS["keys"]["holders"]["bob"]["address"]]
    cases = []
    for to in addresses:
        body = {"coupon": coupon, "op": "transfer", "prev": prev, "to": to}
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        cases.append(
            decode_case(_signed(COUPON_MOVE_PREFIX, statement_signer(coupon), data, 1, ALICE))
        )
    return cases


def statement_cases() -> list[Case]:
    """Holder statement bodies the vectors do not hold."""
    coupon = "06141410000121"
    prev = HISTORY[1]["state"]
    bob = VECTORS["keys"]["holders"]["bob"]["address"]
    bodies: list[Any] = [
        {
            "coupon": coupon,
            "op": "transfer",
            "prev": prev,
            "to": bob,
            "price": {"amount": 5, "currency": "EUR"},
        },
        {
            "coupon": coupon,
            "op": "transfer",
            "prev": prev,
            "to": bob,
            "price": {"amount": -5, "currency": "EUR"},
        },
        {"coupon": coupon, "op": "transfer", "prev": prev, "to": bob, "price": {"amount": 5}},
        {"coupon": coupon, "op": "transfer", "prev": prev, "to": bob, "price": [5, "EUR"]},
        {
            "coupon": coupon,
            "op": "transfer",
            "prev": prev,
            "to": bob,
            "price": {"amount": 5, "currency": 978},
        },
        {"coupon": coupon, "op": "transfer", "prev": prev},
        {"coupon": coupon, "op": "transfer", "prev": prev, "to": 7},
        {"coupon": coupon, "op": "redeem", "prev": prev},
        {"coupon": coupon, "op": "redeem", "prev": prev.upper()},
        {"coupon": coupon, "op": "burn", "prev": prev},
        {"coupon": "0614141000012", "op": "redeem", "prev": prev},
        {"coupon": "061414100001201", "op": "redeem", "prev": prev},
        {"coupon": "06141410000131", "op": "redeem", "prev": prev},
        {"coupon": 614141000012, "op": "redeem", "prev": prev},
        {"op": "redeem", "prev": prev},
        [coupon],
    ]
    cases = []
    for body in bodies:
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        cases.append(
            decode_case(_signed(COUPON_MOVE_PREFIX, statement_signer(coupon), data, 1, ALICE))
        )
    return cases


def campaign_body_cases() -> list[Case]:
    """Campaign entry bodies for every op, well and badly formed (signed by the vectors' farm)."""
    base = {
        "campaign": "0614141000012", "cseq": 2, "prev": "ab" * 32,
        "totals": {"issued": 2, "redeemed": 0, "voided": 0},
    }  # fmt: skip
    statement = base64.b64encode(bytes.fromhex(HISTORY[7]["statement_payload_hex"])).decode()
    ops: list[dict[str, Any]] = [
        {"op": "funded"}, {"op": "failed"}, {"op": "closed"}, {"op": "closed", "x": 1},
        {"op": "void", "reason": "expired", "coupons": [[1, "ab" * 32]]},
        {"op": "void", "reason": "expired", "coupons": []},
        {"op": "void", "reason": "expired", "coupons": [[1, "ab" * 32]] * 65},
        {"op": "void", "reason": "lost", "coupons": [[1, "ab" * 32]]},
        {"op": "void", "reason": "expired", "coupons": [[0, "ab" * 32]]},
        {"op": "void", "reason": "expired", "coupons": [[1, "AB" * 32]]},
        {"op": "void", "reason": "expired", "coupons": [[1]]},
        {"op": "void", "reason": "expired", "coupons": "1"},
        {"op": "refund", "pledge": "a1" * 16, "amount": 9000, "currency": "CNY"},
        {"op": "refund", "pledge": "a1" * 16, "amount": 9000, "currency": "cny"},
        {"op": "refund", "pledge": "a1" * 15, "amount": 9000, "currency": "CNY"},
        {"op": "refund", "pledge": "a1" * 16, "amount": -1, "currency": "CNY"},
        {"op": "harvested", "quantity": 0}, {"op": "harvested", "quantity": -3},
        {"op": "harvested", "quantity": "3"}, {"op": "harvested"},
        {"op": "shortfall", "policy": "refund", "covered": 1, "uncovered": 1, "share": {"quantity": 5, "coupons": 1}},
        {"op": "shortfall", "policy": "lottery", "covered": 1, "uncovered": 1, "share": {"quantity": 5, "coupons": 1}},
        {"op": "shortfall", "policy": "refund", "covered": 1, "uncovered": 0, "share": {"quantity": 5, "coupons": 1}},
        {"op": "shortfall", "policy": "refund", "covered": 1, "uncovered": 1, "share": {"quantity": 5}},
        {"op": "redeem", "serial": 1, "statement": statement,
         "event": {"signer": "farmtrace-api.0123456789abcdef", "seq": 1, "sha256": "cd" * 32}},
        {"op": "redeem", "serial": 1, "statement": statement, "event": {"signer": "x", "seq": 0, "sha256": "cd" * 32}},
        {"op": "redeem", "serial": 1, "statement": statement, "event": {"signer": "x", "seq": 1}},
        {"op": "redeem", "serial": 1, "statement": 5, "event": {"signer": "x", "seq": 1, "sha256": "cd" * 32}},
        {"op": "issue", "pledge": "a1" * 16, "holder": "ab" * 32, "first": 999999999999, "count": 2,
         "payment_sha256": "ab" * 32},
        {"op": "issue", "pledge": "a1" * 16, "holder": "ab" * 32, "first": 1, "count": 0,
         "payment_sha256": "ab" * 32},
        {"op": "open", "terms": [], "terms_sha256": "ab" * 32, "farm_key": "ab" * 32},
        {"op": 5},
    ]  # fmt: skip
    cases = []
    for fields in ops:
        data = json.dumps(base | fields, sort_keys=True, separators=(",", ":")).encode()
        cases.append(decode_case(_signed(CAMPAIGN_PREFIX, HISTORY[0]["signer"], data)))
    for tweak in (
        {"totals": {"issued": 2, "redeemed": 0}},
        {"totals": {"issued": 2, "redeemed": 3, "voided": 0}},
        {"totals": [2, 0, 0]},
        {"cseq": 0},
        {"cseq": "2"},
        {"prev": "ab" * 31},
        {"campaign": "0614141000013"},
        {"campaign": 614141000012},
    ):
        data = json.dumps(
            base | {"op": "funded"} | tweak, sort_keys=True, separators=(",", ":")
        ).encode()
        cases.append(decode_case(_signed(CAMPAIGN_PREFIX, HISTORY[0]["signer"], data)))
    return cases


def _payloads(farm: Farm, moves: list[HolderStatement] | tuple[()] = ()) -> list[bytes]:
    return [e.payload for e in farm.entries] + [m.payload for m in moves]


def scenario_histories() -> list[Case]:
    """Histories through every op and rule, valid and not (fixed keys, so fixed bytes)."""
    cases: list[Case] = []
    alice, bob, carol = seed_key(1), seed_key(2), seed_key(3)
    after = T0 + 11 * DAY

    def funded(quantity: int | None = None) -> Farm:
        farm = Farm(key=seed_key(9))
        farm.open()
        farm.issue(alice, 2)
        farm.issue(bob, 2)
        farm.sign("funded", at=T0 + DAY)
        if quantity is not None:
            farm.sign("harvested", at=T0 + 20 * DAY, quantity=quantity)
        return farm

    # Failed, voided, refunded, closed; and the same with each step wrong.
    for history in (
        failed_history(),
        funded_history(),
        funded_history(over_cap=True),
        funded_history(forged=True),
    ):
        cases.append(history_case([s.payload for s in history.order]))
    farm = Farm(key=seed_key(9))
    farm.open()
    issue = farm.issue(alice, 2)
    farm.sign("failed", at=T0 + DAY)  # before the deadline
    cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    issue = farm.issue(alice, 2)
    farm.sign("failed", at=after)
    farm.void([(1, issue.state), (1, issue.state)], at=after)
    cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    issue = farm.issue(alice, 2)
    farm.sign("failed", at=after)
    farm.void([(1, issue.state)], at=after)
    farm.sign("refund", pledge=issue.body["pledge"], amount=9001, currency="CNY")
    cases.append(history_case(_payloads(farm)))
    farm.entries.pop()
    farm.head, farm.seq = farm.entries[-1].state, farm.seq - 1
    farm.sign("refund", pledge="ff" * 16, amount=1, currency="CNY")
    cases.append(history_case(_payloads(farm)))
    farm.entries.pop()
    farm.head, farm.seq = farm.entries[-1].state, farm.seq - 1
    farm.sign("closed")  # coupon 2 still outstanding
    cases.append(history_case(_payloads(farm)))
    # Redeem after void; redeem before harvest; a transfer of a voided coupon.
    farm = Farm(key=seed_key(9))
    farm.open()
    issue = farm.issue(alice, 2)
    farm.sign("failed", at=after)
    void = farm.void([(1, issue.state)], at=after)
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), void.state, 1))
    cases.append(history_case(_payloads(farm)))
    late = transfer(alice, farm.coupon(1), void.state, 1, bob)
    farm.entries.pop()
    cases.append(history_case(_payloads(farm, [late])))
    farm = funded()
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    cases.append(history_case(_payloads(farm)))
    # Shortfalls: pro-rata, refund with voids and refunds, misstated, twice, without harvest.
    farm = funded(12)
    farm.sign(
        "shortfall", policy="pro-rata", covered=2, uncovered=2, share={"quantity": 12, "coupons": 4}
    )
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    cases.append(history_case(_payloads(farm)))
    farm = funded(12)
    farm.sign(
        "shortfall", policy="refund", covered=2, uncovered=2, share={"quantity": 12, "coupons": 4}
    )
    farm.void([(3, farm.entries[2].state), (4, farm.entries[2].state)], reason="shortfall-refund")
    farm.sign("refund", pledge=farm.entries[2].body["pledge"], amount=9000, currency="CNY")
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    farm.redeem(2, redeem_statement(alice, farm.coupon(2), farm.entries[1].state, 1))
    farm.sign("closed")
    cases.append(history_case(_payloads(farm)))
    farm = funded(12)
    farm.sign(
        "shortfall", policy="refund", covered=2, uncovered=2, share={"quantity": 12, "coupons": 4}
    )
    farm.void([(3, farm.entries[2].state)], reason="shortfall-refund")
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    farm.redeem(2, redeem_statement(alice, farm.coupon(2), farm.entries[1].state, 1))
    farm.redeem(4, redeem_statement(bob, farm.coupon(4), farm.entries[2].state, 1))
    cases.append(history_case(_payloads(farm)))
    farm = funded(12)
    farm.sign(
        "shortfall", policy="refund", covered=3, uncovered=1, share={"quantity": 12, "coupons": 4}
    )
    cases.append(history_case(_payloads(farm)))
    farm = funded()
    farm.sign(
        "shortfall", policy="refund", covered=0, uncovered=4, share={"quantity": 0, "coupons": 4}
    )
    cases.append(history_case(_payloads(farm)))
    farm = funded(40)
    farm.sign(
        "shortfall", policy="refund", covered=8, uncovered=1, share={"quantity": 40, "coupons": 4}
    )
    cases.append(history_case(_payloads(farm)))
    farm = funded(12)
    farm.sign("harvested", quantity=12)
    cases.append(history_case(_payloads(farm)))
    # Expiry: too early, then after the delivery window; an issue after the deadline.
    terms = terms_json()
    until = terms["delivery"]["until_ms"]
    for at in (until, until + 1):
        farm = funded()
        farm.void([(1, farm.entries[1].state)], reason="expired", at=at)
        cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    farm.sign("issue", Totals(1, 0, 0), at=terms["deadline_ms"] + 1, first=1, count=1,
              holder=_addr(alice), pledge="0" * 32, payment_sha256="ab" * 32)  # fmt: skip
    cases.append(history_case(_payloads(farm)))
    # Issues to bad holders, a reused pledge, a gap in serials, time going back.
    for holder in [*SMALL_ORDER[:2], "ff" * 32]:
        farm = Farm(key=seed_key(9))
        farm.open()
        farm.sign("issue", Totals(1, 0, 0), first=1, count=1, holder=holder, pledge="0" * 32,
                  payment_sha256="ab" * 32)  # fmt: skip
        cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    farm.issue(alice, 1, pledge="1" * 32)
    farm.issue(bob, 1, pledge="1" * 32)
    cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    farm.sign("issue", Totals(2, 0, 0), first=2, count=1, holder=_addr(alice), pledge="0" * 32,
              payment_sha256="ab" * 32)  # fmt: skip
    cases.append(history_case(_payloads(farm)))
    farm = funded()
    farm.sign("harvested", at=T0, quantity=20)
    cases.append(history_case(_payloads(farm)))
    farm = funded()
    farm.sign("funded")
    cases.append(history_case(_payloads(farm)))
    farm = Farm(key=seed_key(9))
    farm.open()
    farm.issue(alice, 1)
    farm.sign("funded")  # short of the target
    cases.append(history_case(_payloads(farm)))
    # Transfers: wrong move, chains, a redeem statement alone, another campaign's coupon.
    farm = funded()
    t1 = transfer(alice, farm.coupon(1), farm.entries[1].state, 2, bob)
    cases.append(history_case(_payloads(farm, [t1])))
    t1 = transfer(alice, farm.coupon(1), farm.entries[1].state, 1, bob)
    t2 = transfer(bob, farm.coupon(1), t1.state, 2, carol, price=(1, "EUR"))
    t3 = transfer(carol, farm.coupon(1), t2.state, 3, alice)
    cases.append(history_case(_payloads(farm, [t3, t1, t2])))
    cases.append(history_case(_payloads(farm, [t3, t2])))
    stray = redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1)
    cases.append(history_case(_payloads(farm, [stray])))
    other = transfer(alice, "06141410000297", farm.entries[1].state, 1, bob)
    cases.append(history_case(_payloads(farm, [other])))
    unissued = transfer(alice, farm.coupon(9), farm.entries[1].state, 1, bob)
    cases.append(history_case(_payloads(farm, [unissued])))
    # Terms the open entry carries, each broken one way; a farm key the verifier does not expect.
    for change in (
        {"cap": 0}, {"target": 11}, {"price": {"amount": 10**12, "currency": "CNY"}},
        {"per_coupon": {"quantity": 5, "unit": "XXX"}}, {"gtin": "00614141000037"},
        {"lot": "L 1"}, {"farm": ""}, {"text": {"zh": " ", "en": "x"}},
        {"text": {"zh": "\u00e9" * 4001, "en": "x"}}, {"text": {"zh": "\U0001f600" * 4000, "en": "x"}},
        {"deadline_ms": 1}, {"delivery": {"from_ms": 1, "until_ms": 2}}, {"extra": 1},
        {"campaign": "0614141000029"}, {"price": {"amount": 1, "currency": "CNY", "x": 1}},
    ):  # fmt: skip
        raw = terms_json() | change
        body = {
            "campaign": "0614141000012", "cseq": 1, "prev": "0" * 64, "op": "open",
            "totals": {"issued": 0, "redeemed": 0, "voided": 0}, "terms": raw,
            "terms_sha256": hashlib.sha256(
                json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            ).hexdigest(),
            "farm_key": seed_key(9).public_key().public_bytes_raw().hex(),
        }  # fmt: skip
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        signer = farm_signer(seed_key(9).public_key().public_bytes_raw())
        cases.append(history_case([_signed(CAMPAIGN_PREFIX, signer, data, 1, seed_key(9))]))
    farm = funded()
    cases.append(
        history_case(_payloads(farm), farm_key=seed_key(8).public_key().public_bytes_raw())
    )
    cases.append(
        history_case(_payloads(farm), farm_key=seed_key(9).public_key().public_bytes_raw())
    )
    return cases


def _addr(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def random_edits(n: int = 300) -> list[Case]:
    """Valid histories with items dropped, repeated, swapped or taken from another history."""
    rng = random.Random(16)
    sources = [_vector_payloads(), [s.payload for s in failed_history().order]]
    pool = [p for source in sources for p in source]
    cases = []
    for _ in range(n):
        items = list(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(items))
            edit = rng.choice(("drop", "repeat", "swap", "foreign"))
            if edit == "drop" and len(items) > 1:
                del items[i]
            elif edit == "repeat":
                items.insert(rng.randrange(len(items) + 1), items[i])
            elif edit == "swap":
                j = rng.randrange(len(items))
                items[i], items[j] = items[j], items[i]
            else:
                items.insert(i, rng.choice(pool))
        cases.append(history_case(items))
    return cases


# -- the tests ---------------------------------------------------------------------------------


def test_js_reads_the_vectors_as_the_reference_does(tmp_path: Path) -> None:
    decodes = [decode_case(p) for p in _vector_payloads()]
    invalid = [{"kind": v["kind"], "payload_hex": v["payload_hex"]} for v in VECTORS["invalid"]]
    prefixes = [history_case(_vector_payloads()[: i + 1]) for i in range(len(HISTORY))]
    violations = [
        history_case(
            [
                bytes.fromhex(HISTORY[i["ref"]]["payload_hex"] if "ref" in i else i["payload_hex"])
                for i in v["items"]
            ]
        )
        for v in VECTORS["violations"]
    ]
    verdicts = run_js(decodes + invalid + prefixes + violations, tmp_path)
    got = iter(verdicts)
    for case, vector in zip(decodes, HISTORY, strict=True):
        js = next(got)
        assert js == python_decode(case)
        assert js["fields"]["state"] == vector["state"]
        assert js["fields"]["body"] == vector["body"]
    for case, vector in zip(invalid, VECTORS["invalid"], strict=True):
        js = next(got)
        assert not js["ok"] and vector["reason"] in js["error"], (vector, js)
        assert js == python_decode(case)
    for case, vector in zip(prefixes, HISTORY, strict=True):
        js = next(got)
        assert js["ok"], js
        assert js["campaign"] == vector["after"]["campaign"]
        assert js["coupons"] == vector["after"]["coupons"]
        assert js == python_history(case)
    for case, vector in zip(violations, VECTORS["violations"], strict=True):
        js = next(got)
        assert js == {"ok": False, "error": vector["want"]}, vector["name"]
        assert js == python_history(case)


def test_js_and_python_agree_beyond_the_vectors(tmp_path: Path) -> None:
    groups = {
        "byte flips": byte_flips(),
        "raw JSON": raw_json_cases(),
        "addresses": address_cases(),
        "statements": statement_cases(),
        "campaign bodies": campaign_body_cases(),
        "scenarios": scenario_histories(),
        "random edits": random_edits(),
    }
    cases = [c for group in groups.values() for c in group]
    verdicts = iter(run_js(cases, tmp_path))
    for name, group in groups.items():
        outcomes: set[bool] = set()
        for case in group:
            js = next(verdicts)
            want = python_verdict(case)
            assert js == want, (name, case, js, want)
            outcomes.add(want["ok"])
        # Each group holds both accepted and refused cases, except the all-malformed one.
        assert outcomes == ({True, False} if name not in ("raw JSON",) else outcomes), name
    addresses = [python_decode(c) for c in address_cases()]
    reasons = {a.get("error", "ok").split(": ")[-1] for a in addresses}
    assert {"it is not a point on the curve", "ok"} <= reasons
    assert any("small order" in r for r in reasons) and any("non-canonical" in r for r in reasons)


# -- bundles -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def funded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    tmp = tmp_path_factory.mktemp("funded-js")
    anchored = anchor(funded_history(), f"sqlite:///{tmp}/db.sqlite", tmp)
    yield anchored
    anchored.state.database.close()


def python_bundle(bundle: dict[str, Any] | str, vkey: str) -> dict[str, Any]:
    """The reference's verdict in the shape commerce_run.mjs prints (summary fields compared)."""
    data = bundle.encode() if isinstance(bundle, str) else json.dumps(bundle).encode()
    try:
        report = verify_bundle(data, [vkey], say=lambda _line: None)
    except BundleError as exc:
        return {"ok": False, "first": str(exc)}
    s = report.commerce
    assert s is not None
    t = s.totals
    coupon = None
    if s.coupon is not None:
        c = s.coupon
        coupon = {
            "coupon": c.coupon, "status": c.status, "state": c.state, "holder": c.holder,
            "holderFingerprint": c.holder_fingerprint, "moves": c.moves,
            "history": [{"kind": k, "state": st, "anchored": a} for k, st, a in c.history],
        }  # fmt: skip
    return {
        "ok": True,
        "first": None,
        "summary": {
            "format": s.format,
            "campaign": s.campaign,
            "entries": s.entries,
            "anchored": s.anchored,
            "pending": s.pending,
            "transfers": s.transfers,
            "status": s.status,
            "head": s.head,
            "totals": t.to_json() | {"outstanding": t.outstanding},
            "cap": s.cap,
            "target": s.target,
            "harvested": s.harvested,
            "covered": s.covered,
            "shortfall": s.shortfall,
            "coupon": coupon,
            "verdict": s.verdict(),
        },
    }


def _flip_proof(bundle: dict[str, Any], _: Anchored) -> None:
    proof = bundle["entries"][2]["inclusion_proof"]
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 1
    proof[0] = base64.b64encode(bytes(raw)).decode()


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any], Anchored], None]:
    def apply(bundle: dict[str, Any], _: Anchored) -> None:
        target: Any = bundle
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


MORE_TAMPERS: list[tuple[str, Callable[[dict[str, Any], Anchored], None]]] = [
    ("inclusion proof altered", _flip_proof),
    ("global index moved", _set(["entries", 1, "global_index"], 99)),
    ("block height unknown", _set(["entries", 1, "block_height"], 7)),
    ("status unknown", _set(["entries", 1, "status"], "lost")),
    ("claims a place without proof", _set(["entries", 1, "inclusion_proof"], None)),
    ("entry not base64", _set(["entries", 1, "entry"], "not base64!")),
    (
        "entry not a campaign entry",
        _set(["entries", 1, "entry"], base64.b64encode(b"FH\x01" + bytes(90)).decode()),
    ),
    (
        "move not a statement",
        _set(["moves", 0, "entry"], base64.b64encode(b"FC\x01" + bytes(90)).decode()),
    ),
    ("format unknown", _set(["format"], "farmtrace-coupon-bundle/v9")),
    ("campaign malformed", _set(["campaign"], "0614141000013")),
    ("farm keys missing", _set(["farm_keys"], None)),
    ("farm key not base64", lambda b, _: b.update(farm_keys={k: "!" for k in b["farm_keys"]})),
    ("moves malformed", _set(["moves"], {})),
    ("entries empty", _set(["entries"], [])),
    ("open entry missing", lambda b, _: b["entries"].pop(0)),
    ("blocks missing", _set(["blocks"], None)),
    (
        "block header altered",
        lambda b, _: b["blocks"][0].update(header=b["blocks"][0]["header"] + "x"),
    ),
]


def test_js_and_python_agree_on_real_bundles(funded: Anchored, tmp_path: Path) -> None:
    farm = funded.history.farm
    coupons = [None, farm.coupon(1), farm.coupon(2), farm.coupon(3), farm.coupon(9)]
    cases: list[tuple[str, dict[str, Any] | str, str]] = []
    for coupon in coupons:
        plain = funded.bundle(coupon)
        cases.append((f"{coupon} plain", plain, funded.vkey))
        if coupon is None or coupon == farm.coupon(1):
            for name, tamper, _want in BUNDLE_TAMPERS:
                changed = copy.deepcopy(plain)
                tamper(changed, funded)
                cases.append((f"{coupon} {name}", changed, funded.vkey))
            for name, tamper in MORE_TAMPERS:
                changed = copy.deepcopy(plain)
                tamper(changed, funded)
                cases.append((f"{coupon} {name}", changed, funded.vkey))
    bad = funded.bundle(farm.coupon(1))
    bad["coupon"] = "06141410000291"
    cases.append(("coupon of another campaign", bad, funded.vkey))
    cases.append(("not JSON", "{", funded.vkey))
    other = anchor(funded_history(), f"sqlite:///{tmp_path}/other.sqlite", tmp_path / "other")
    try:
        cases.append(("another gateway's key", funded.bundle(), other.vkey))
    finally:
        other.state.database.close()
    for name, history, unanchored in (
        ("failed, pending", failed_history(), 2),
        ("forged transfer", funded_history(forged=True), 0),
        ("over cap", funded_history(over_cap=True), 0),
    ):
        sub = tmp_path / name.replace(" ", "-").replace(",", "")
        sub.mkdir()
        anchored = anchor(history, f"sqlite:///{sub}/db.sqlite", sub, unanchored=unanchored)
        try:
            cases.append((name, anchored.bundle(), anchored.vkey))
            cases.append(
                (f"{name}, coupon 1", anchored.bundle(history.farm.coupon(1)), anchored.vkey)
            )
        finally:
            anchored.state.database.close()
    verdicts = run_js([{"kind": "bundle", "bundle": b, "vkey": k} for _, b, k in cases], tmp_path)
    oks = 0
    for (name, bundle, vkey), js in zip(cases, verdicts, strict=True):
        want = python_bundle(bundle, vkey)
        got = {k: v for k, v in js.items() if k in want}
        if name == "not JSON":  # each JSON parser words its own complaint
            assert not got["ok"] and not want["ok"]
            assert got["first"].startswith("bundle is not JSON: ") and want["first"].startswith(
                "bundle is not JSON: "
            )
            continue
        assert got == want, name
        oks += want["ok"]
        if want["ok"]:
            assert js["lines"][-1].startswith("caps recounted") or js["lines"][-1].startswith(
                "coupon "
            )
    assert 5 < oks < len(cases) - 40
