"""The commerce formats (``FC 01``, ``FH 01``) and rules against their published vectors
(``docs/vectors/commerce.json``): each entry's bytes follow the documented layout, decode and
verify, each coupon state is the SHA-256 of the entry that made it, the replay reaches the
recorded campaign and coupon states after every entry, malformed entries are refused for their
reason and refused histories name their first violation word for word."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import make_commerce_vectors
import pytest

from farmtrace.chain.entry import CAMPAIGN, COUPON_MOVE, kind_of
from farmtrace.commerce.canonical import canonical_json
from farmtrace.commerce.entries import (
    CampaignEntry,
    HolderStatement,
    decode_campaign_entry,
    decode_statement,
    farm_signer,
    fingerprint,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.terms import parse_terms

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/commerce.json").read_text("utf-8"))
HISTORY = VECTORS["history"]


def _decode(payload: bytes) -> CampaignEntry | HolderStatement:
    return decode_campaign_entry(payload) if payload[:2] == b"FC" else decode_statement(payload)


ITEMS = [_decode(bytes.fromhex(v["payload_hex"])) for v in HISTORY]


def test_vectors_are_what_the_generator_writes() -> None:
    assert make_commerce_vectors.build() == VECTORS


def test_the_history_has_every_kind_of_step() -> None:
    ops = [v["op"] for v in HISTORY]
    for op in ("open", "issue", "funded", "harvested", "transfer", "redeem"):
        assert op in ops


def test_keys_and_terms() -> None:
    farm = VECTORS["keys"]["farm"]
    public = bytes.fromhex(farm["public_key_hex"])
    assert farm["signer"] == farm_signer(public) == "farm." + fingerprint(public)
    assert fingerprint(public) == hashlib.sha256(public).hexdigest()[:16]
    for holder in VECTORS["keys"]["holders"].values():
        assert holder["fingerprint"] == fingerprint(bytes.fromhex(holder["address"]))
    terms = VECTORS["terms"]
    assert canonical_json(terms["json"]).decode() == terms["canonical"]
    assert hashlib.sha256(terms["canonical"].encode()).hexdigest() == terms["sha256"]
    assert parse_terms(terms["json"]).sha256() == terms["sha256"]


@pytest.mark.parametrize("i", range(len(HISTORY)))
def test_each_entry_follows_the_documented_layout(i: int) -> None:
    vector, item = HISTORY[i], ITEMS[i]
    signed = bytes.fromhex(vector["signed_bytes_hex"])
    payload = bytes.fromhex(vector["payload_hex"])
    assert payload == signed + bytes.fromhex(vector["signature_hex"])
    assert item.signed_bytes == signed
    prefix, kind = (
        (b"FC\x01", CAMPAIGN) if vector["kind"] == "campaign" else (b"FH\x01", COUPON_MOVE)
    )
    assert signed[:3] == prefix and kind_of(payload) == kind
    seq = vector["seq"] if vector["kind"] == "campaign" else vector["move"]
    assert struct.unpack(">Qq", signed[3:19]) == (seq, vector["time_ms"])
    n = signed[19]
    assert signed[20 : 20 + n].decode("ascii") == vector["signer"]
    (length,) = struct.unpack(">I", signed[20 + n : 24 + n])
    body = signed[24 + n :]
    assert len(body) == length and body == canonical_json(vector["body"])
    assert vector["state"] == hashlib.sha256(payload).hexdigest() == item.state
    if isinstance(item, CampaignEntry):
        assert vector["signer"] == VECTORS["keys"]["farm"]["signer"]
        key = bytes.fromhex(VECTORS["keys"]["farm"]["public_key_hex"])
        assert verify_signature(key, signed, item.signature)
        if item.op == "redeem":
            inner = base64.b64decode(item.body["statement"])
            assert inner.hex() == vector["statement_payload_hex"]
            assert decode_statement(inner).op == "redeem"
    else:
        assert vector["signer"] == "coupon." + vector["coupon"]
        # Signed by whoever held the coupon in the state before (the previous item's record).
        before = HISTORY[i - 1]["after"]["coupons"][vector["coupon"]]
        assert before["state"] == item.prev
        assert verify_signature(bytes.fromhex(before["holder"]), signed, item.signature)
        assert item.move == before["moves"] + 1


@pytest.mark.parametrize("i", range(len(HISTORY)))
def test_the_replay_reaches_each_recorded_state(i: int) -> None:
    assert (
        make_commerce_vectors.after(make_commerce_vectors.replay(ITEMS[: i + 1]))
        == (HISTORY[i]["after"])
    )


def test_each_coupon_state_is_the_hash_of_the_entry_that_made_it() -> None:
    made = {v["state"] for v in HISTORY}
    for coupon in HISTORY[-1]["after"]["coupons"].values():
        assert coupon["state"] in made


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_vectors_are_refused_for_their_reason(case: dict[str, str]) -> None:
    decode = decode_campaign_entry if case["kind"] == "campaign" else decode_statement
    with pytest.raises(CommerceError) as caught:
        decode(bytes.fromhex(case["payload_hex"]))
    assert case["reason"] in str(caught.value)


@pytest.mark.parametrize("case", VECTORS["violations"], ids=lambda c: c["name"])
def test_refused_histories_name_their_first_violation(case: dict[str, Any]) -> None:
    items = make_commerce_vectors.resolve(ITEMS, case)
    with pytest.raises(CommerceError) as caught:
        make_commerce_vectors.replay(items)
    assert str(caught.value) == case["want"]
