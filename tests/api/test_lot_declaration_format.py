"""The lot declaration format (``FL 01``) against its published vectors
(``docs/vectors/declaration.json``, which the browser verifier's node tests also read) and its
documented byte layout: one encoding per declaration, strict decoding, the version chain and the
field-by-field comparison with a bundle's ``lot``."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import make_declaration_vectors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.api.services.lots.declaration import (
    DeclarationError,
    chain_problem,
    decode,
    first_difference,
    sign_declaration,
    verify,
)
from farmtrace.chain.entry import DECLARATION, kind_of

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/declaration.json").read_text("utf-8"))
VALID = [decode(bytes.fromhex(v["payload_hex"])) for v in VECTORS["valid"]]


def test_vectors_are_what_the_generator_writes() -> None:
    assert make_declaration_vectors.build() == VECTORS


def test_valid_vectors_decode_and_verify_and_follow_the_documented_layout() -> None:
    key = bytes.fromhex(VECTORS["key"]["public_key_hex"])
    for vector, entry in zip(VECTORS["valid"], VALID, strict=True):
        signed = bytes.fromhex(vector["signed_bytes_hex"])
        assert entry.signed_bytes == signed and entry.body == vector["body"]
        assert kind_of(entry.payload) == DECLARATION
        assert signed[:3] == b"FL\x01"
        assert struct.unpack(">Qq", signed[3:19]) == (vector["seq"], vector["time_ms"])
        n = signed[19]
        assert signed[20 : 20 + n].decode() == VECTORS["key"]["signer"]
        (length,) = struct.unpack(">I", signed[20 + n : 24 + n])
        assert json.loads(signed[24 + n :]) == vector["body"] and len(signed) == 24 + n + length
        assert verify(entry, key)
        flipped = bytearray(entry.payload)
        flipped[-1] ^= 1
        assert not verify(decode(bytes(flipped)), key)


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_vectors_are_refused_for_their_reason(case: dict[str, str]) -> None:
    with pytest.raises(DeclarationError, match=case["reason"].replace("(", r"\(")):
        decode(bytes.fromhex(case["payload_hex"]))


@pytest.mark.parametrize("case", VECTORS["chains"], ids=lambda c: c["name"])
def test_version_chains(case: dict[str, Any]) -> None:
    assert chain_problem([VALID[i] for i in case["versions"]]) == case["want"]


@pytest.mark.parametrize("case", VECTORS["comparisons"]["cases"], ids=lambda c: c["name"])
def test_bundle_lot_against_the_declaration(case: dict[str, Any]) -> None:
    declaration = VALID[VECTORS["comparisons"]["declaration"]]
    assert first_difference(case["lot"], declaration) == case["want"]


def test_signing_refuses_a_malformed_body() -> None:
    body = dict(VALID[0].body)
    with pytest.raises(DeclarationError, match="exactly the keys"):
        sign_declaration(1, 0, dict(body, extra=None), make_declaration_vectors.KEY)
    with pytest.raises(DeclarationError, match="names a previous version"):
        sign_declaration(1, 0, dict(body, previous=VALID[1].previous), make_declaration_vectors.KEY)


@settings(max_examples=examples(200), deadline=None)
@given(
    text=st.text(min_size=1, max_size=40),
    seq=st.integers(1, 2**64 - 1),
    time_ms=st.integers(-(2**63), 2**63 - 1),
)
def test_any_text_round_trips_with_one_encoding(text: str, seq: int, time_ms: int) -> None:
    lot = dict(VALID[0].lot, product_name=text, farm=text)
    body = {"version": 1, "previous": None, "lot": lot}
    try:
        entry = sign_declaration(seq, time_ms, body, make_declaration_vectors.KEY)
    except DeclarationError as exc:
        assert "no UTF-8 form" in str(exc)  # a lone surrogate: refused, never mis-encoded
        return
    again = decode(entry.payload)
    assert again == entry and again.lot["product_name"] == text
