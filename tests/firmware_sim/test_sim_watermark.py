"""The commit watermark format (``FW 01``) against its published vectors and documented byte
layout, the device's acceptance rule (:func:`farmtrace.wire.watermark.judge`), and the pin file."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import make_watermark_vectors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.wire import dropfloor, watermark
from farmtrace.wire.protocol import ProtocolError
from farmtrace.wire.watermark import Watermark

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/watermark.json").read_text("utf-8"))
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed_hex"]))
PUBLIC = bytes.fromhex(VECTORS["key"]["public_key_hex"])
OTHER_PUBLIC = bytes.fromhex(VECTORS["other_key"]["public_key_hex"])


def _layout(mark: Watermark) -> bytes:
    """The signed bytes built straight from the table in docs/wire-format.md."""
    device, origin = mark.device_id.encode("ascii"), mark.origin.encode("ascii")
    return (
        b"FW\x01"
        + struct.pack(">Q", mark.seq)
        + struct.pack(">q", mark.timestamp_ms)
        + bytes((len(device),))
        + device
        + bytes((len(origin),))
        + origin
    )


def test_vectors_file_is_what_the_script_makes() -> None:
    assert make_watermark_vectors.build() == VECTORS


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: str(c["watermark"]["seq"]))
def test_valid_vector(case: dict[str, Any]) -> None:
    mark = Watermark(**case["watermark"])
    signed = bytes.fromhex(case["signed_bytes_hex"])
    payload = bytes.fromhex(case["payload_hex"])
    assert _layout(mark) == signed == watermark.encode(mark)
    assert watermark.sign(mark, KEY) == payload == signed + bytes.fromhex(case["signature_hex"])
    decoded = watermark.decode(payload)
    assert decoded.statement == mark
    assert (decoded.signed_bytes, decoded.payload) == (signed, payload)
    assert watermark.verify_any(decoded, [OTHER_PUBLIC, PUBLIC])
    assert not watermark.verify_any(decoded, [OTHER_PUBLIC])
    assert not watermark.verify_any(decoded, [])


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_vector(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        watermark.decode(bytes.fromhex(case["payload_hex"]))
    assert caught.value.reason == case["reason"]


@pytest.mark.parametrize(
    "case", VECTORS["judge"]["cases"], ids=lambda c: f"{c['outcome']}-{c['payload_hex'][:24]}"
)
def test_judge_vector(case: dict[str, Any]) -> None:
    rule = VECTORS["judge"]
    keys = [bytes.fromhex(k) for k in rule["pinned_public_keys_hex"]]
    statement, refused = watermark.judge(
        bytes.fromhex(case["payload_hex"]),
        rule["device_id"],
        keys,
        rule["committed"],
        rule["last_seq"],
    )
    assert (refused or "accepted") == case["outcome"]
    if refused is None:
        assert statement is not None and rule["committed"] <= statement.seq <= rule["last_seq"]


def test_a_signature_over_a_drop_floor_never_counts_as_a_watermark() -> None:
    floor = dropfloor.sign(dropfloor.DropFloor("d", 5, 0), KEY)
    with pytest.raises(ProtocolError) as caught:
        watermark.decode(floor)
    assert caught.value.reason == "bad-magic"


@given(st.binary(max_size=watermark.MAX_PAYLOAD + 8))
@settings(max_examples=examples(300), deadline=None)
def test_decode_takes_any_bytes(data: bytes) -> None:
    try:
        decoded = watermark.decode(data)
    except ProtocolError:
        return
    assert watermark.encode(decoded.statement) == decoded.signed_bytes


@given(st.integers(0, 2**64 - 1), st.integers(-(2**63), 2**63 - 1))
@settings(max_examples=examples(100), deadline=None)
def test_round_trip(seq: int, ts: int) -> None:
    mark = Watermark("urn:x:1", seq, ts, "farmtrace.example/gw")
    assert watermark.decode(watermark.sign(mark, KEY)).statement == mark


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no gateway key"),
        ("# only a comment\n\n", "no gateway key"),
        ("not-base64!\n", "line 1: not a base64 key"),
        ("AAAA\n", "line 1: 3 bytes"),
    ],
)
def test_pin_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        watermark.parse_pins(text)


def test_pin_file_lists_several_keys_with_labels() -> None:
    import base64

    lines = [
        f"{base64.b64encode(PUBLIC).decode()} gateway:gw-1  # current",
        f"{base64.b64encode(OTHER_PUBLIC).decode()} gateway:gw-2",
    ]
    keys = watermark.parse_pins("\n".join(lines))
    assert [k.public_bytes_raw() for k in keys] == [PUBLIC, OTHER_PUBLIC]
