"""The drop floor format against its published test vectors and its documented byte layout,
and the properties the gateway relies on: one encoding per floor, strict decoding, and no
signature that counts for both a floor and a reading."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import make_dropfloor_vectors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.wire import dropfloor, protocol
from farmtrace.wire.dropfloor import DropFloor
from farmtrace.wire.protocol import ProtocolError

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/dropfloor.json").read_text("utf-8"))
READINGS: dict[str, Any] = json.loads((ROOT / "docs/vectors/readings.json").read_text("utf-8"))
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed_hex"]))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(32))


def _layout(floor: DropFloor) -> bytes:
    """The signed bytes built straight from the table in docs/wire-format.md."""
    device = floor.device_id.encode("ascii")
    return (
        b"FD"
        + bytes((1,))
        + struct.pack(">Q", floor.floor)
        + struct.pack(">q", floor.timestamp_ms)
        + bytes((len(device),))
        + device
    )


def test_key_is_the_readings_rfc8032_key() -> None:
    assert VECTORS["key"]["seed_hex"] == READINGS["key"]["seed_hex"]
    assert KEY.public_key().public_bytes_raw().hex() == VECTORS["key"]["public_key_hex"]


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: str(c["floor"]["floor"]))
def test_valid_vector(case: dict[str, Any]) -> None:
    floor = DropFloor(**case["floor"])
    signed = bytes.fromhex(case["signed_bytes_hex"])
    payload = bytes.fromhex(case["payload_hex"])
    assert _layout(floor) == signed == dropfloor.encode(floor)
    assert dropfloor.sign(floor, KEY) == payload == signed + bytes.fromhex(case["signature_hex"])
    decoded = dropfloor.decode(payload)
    assert decoded.statement == floor
    assert (decoded.signed_bytes, decoded.payload) == (signed, payload)
    assert dropfloor.verify(decoded, bytes.fromhex(VECTORS["key"]["public_key_hex"]))
    assert not dropfloor.verify(decoded, OTHER.public_key())


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_vector(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as raised:
        dropfloor.decode(bytes.fromhex(case["payload_hex"]))
    assert raised.value.reason == case["reason"]


def test_vectors_are_what_the_generator_writes() -> None:
    assert make_dropfloor_vectors.build() == VECTORS


def test_a_floor_is_never_a_reading_and_a_reading_never_a_floor() -> None:
    """Distinct magic bytes: the device key's signature over one kind cannot be replayed as
    the other, because neither decoder accepts the other's bytes."""
    floor = bytes.fromhex(VECTORS["valid"][0]["payload_hex"])
    measurements = (protocol.Measurement("Temperature", 4.0, "CEL"),)
    reading = protocol.sign(protocol.Reading("d", 41, 0, "s", "", measurements), KEY)
    assert len(reading) < dropfloor.MAX_PAYLOAD
    with pytest.raises(ProtocolError) as raised:
        protocol.decode(floor)
    assert raised.value.reason == "bad-magic"
    with pytest.raises(ProtocolError) as raised:
        dropfloor.decode(reading)
    assert raised.value.reason == "bad-magic"


@pytest.mark.parametrize(
    ("floor", "field"),
    [
        (DropFloor("d", -1, 0), "floor"),
        (DropFloor("d", 2**64, 0), "floor"),
        (DropFloor("d", True, 0), "floor"),
        (DropFloor("d", 1, 2**63), "timestamp_ms"),
        (DropFloor("", 1, 0), "device_id"),
        (DropFloor("a/b", 1, 0), "device_id"),
        (DropFloor("d" * 129, 1, 0), "device_id"),
    ],
)
def test_encode_refuses_what_decode_would(floor: DropFloor, field: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        dropfloor.encode(floor)
    assert raised.value.field == field


_DEVICE = st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=128)


@settings(max_examples=examples(300), deadline=None)
@given(_DEVICE, st.integers(0, 2**64 - 1), st.integers(-(2**63), 2**63 - 1))
def test_round_trip(device: str, floor: int, timestamp_ms: int) -> None:
    statement = DropFloor(device, floor, timestamp_ms)
    decoded = dropfloor.decode(dropfloor.sign(statement, KEY))
    assert decoded.statement == statement
    assert dropfloor.encode(decoded.statement) == decoded.signed_bytes
    assert dropfloor.verify(decoded, KEY.public_key())


@settings(max_examples=examples(1000), deadline=None)
@given(st.binary(max_size=2 * dropfloor.MAX_PAYLOAD))
def test_decode_raises_only_protocol_error(data: bytes) -> None:
    try:
        decoded = dropfloor.decode(data)
    except ProtocolError as exc:
        assert exc.reason
    else:
        assert dropfloor.encode(decoded.statement) == decoded.signed_bytes


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_any_changed_byte_breaks_the_signature_or_the_format(data: st.DataObject) -> None:
    payload = bytearray(bytes.fromhex(VECTORS["valid"][0]["payload_hex"]))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] ^= 1 << data.draw(st.integers(0, 7))
    try:
        decoded = dropfloor.decode(payload)
    except ProtocolError:
        return
    assert not dropfloor.verify(decoded, KEY.public_key())
