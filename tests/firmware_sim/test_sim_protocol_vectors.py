"""The wire format against its published test vectors and its documented byte layout."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import make_vectors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.wire.protocol import (
    MAX_PAYLOAD,
    Measurement,
    ProtocolError,
    Reading,
    decode,
    encode,
    sign,
    verify,
)

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/readings.json").read_text("utf-8"))


def _reading(data: dict[str, Any]) -> Reading:
    return Reading(
        device_id=data["device_id"],
        seq=data["seq"],
        timestamp_ms=data["timestamp_ms"],
        site=data["site"],
        lot=data["lot"],
        measurements=tuple(
            Measurement(m["type"], m["value"], m["uom"]) for m in data["measurements"]
        ),
    )


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes((len(raw),)) + raw


def _layout(reading: Reading) -> bytes:
    """The signed bytes built straight from the table in docs/wire-format.md."""
    out = (
        b"FT"
        + bytes((1,))
        + struct.pack(">Q", reading.seq)
        + struct.pack(">q", reading.timestamp_ms)
    )
    out += _string(reading.device_id) + _string(reading.site) + _string(reading.lot)
    out += bytes((len(reading.measurements),))
    for m in reading.measurements:
        out += _string(m.type) + _string(m.uom) + struct.pack(">d", m.value)
    return out


def _key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed_hex"]))


def test_key_is_rfc8032_test1() -> None:
    public = _key().public_key().public_bytes_raw()
    assert public.hex() == VECTORS["key"]["public_key_hex"]
    assert public.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["reading"]["device_id"])
def test_valid_vector(case: dict[str, Any]) -> None:
    reading = _reading(case["reading"])
    signed = bytes.fromhex(case["signed_bytes_hex"])
    payload = bytes.fromhex(case["payload_hex"])
    assert _layout(reading) == signed
    assert encode(reading) == signed
    assert sign(reading, _key()) == payload
    assert payload == signed + bytes.fromhex(case["signature_hex"])
    decoded = decode(payload)
    assert decoded.reading == reading
    assert (decoded.device_id, decoded.seq) == (reading.device_id, reading.seq)
    assert decoded.signed_bytes == signed
    assert decoded.signature.hex() == case["signature_hex"]
    assert decoded.payload == payload
    assert verify(decoded, bytes.fromhex(VECTORS["key"]["public_key_hex"]))
    assert verify(decoded, _key().public_key())


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_vector(case: dict[str, str]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(bytes.fromhex(case["payload_hex"]))
    assert caught.value.reason == case["reason"]
    assert caught.value.field in str(caught.value)


def test_altered_value_fails_verification() -> None:
    payload = bytearray(bytes.fromhex(VECTORS["valid"][0]["payload_hex"]))
    payload[-64 - 1] ^= 0x01  # last byte of the last value
    decoded = decode(bytes(payload))
    assert not verify(decoded, bytes.fromhex(VECTORS["key"]["public_key_hex"]))


def test_verify_with_other_key_fails() -> None:
    decoded = decode(bytes.fromhex(VECTORS["valid"][0]["payload_hex"]))
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verify(decoded, other)


def test_verify_rejects_malformed_key() -> None:
    decoded = decode(bytes.fromhex(VECTORS["valid"][0]["payload_hex"]))
    with pytest.raises(ValueError):
        verify(decoded, b"\x00" * 31)


def test_vectors_file_is_current() -> None:
    assert make_vectors.build() == VECTORS


def test_max_payload_documented() -> None:
    doc = (ROOT / "docs/wire-format.md").read_text("utf-8")
    assert MAX_PAYLOAD == 1024
    assert f"| `MAX_PAYLOAD` (whole payload, checked first) | {MAX_PAYLOAD} bytes |" in doc
    for case in VECTORS["valid"][:1]:
        wrapped = case["signed_bytes_hex"][:64]
        assert wrapped in doc
