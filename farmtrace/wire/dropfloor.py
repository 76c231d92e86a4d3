"""The drop floor wire format: a device's signed statement that it gave up its oldest readings.

A device whose outbox overflowed publishes, retained, the highest seq it discarded, ``floor``:
it will never send a seq ``<= floor`` that it has not sent already, so the gateway may count
the missing ones as lost and move the device's commit watermark past them. That changes what
is stored (later readings at or below the watermark are refused), so the statement is signed
with the device's key like a reading. Layout (``docs/wire-format.md``, "Drop floor"), all
integers big-endian::

    46 44                 "FD" (readings start "FT", lot events "FE": a signature over one
                          can never be taken for the other)
    01                    version
    floor                 uint64, the highest seq discarded
    timestamp_ms          int64, the device's clock when it stated the floor
    device_id             1-byte length + 1-128 bytes, the same rule as a reading's
    signature             64 bytes, Ed25519 over everything before it

Contracts: :func:`decode` accepts any bytes and either returns a :class:`SignedDropFloor` or
raises :class:`~farmtrace.wire.protocol.ProtocolError` (with a stable ``reason``); it does not
check the signature (:func:`verify` does). Every floor has exactly one encoding. Only the
standard library and ``cryptography`` are imported, as in :mod:`farmtrace.wire.protocol`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.wire.protocol import (
    MAX_DEVICE_ID_BYTES,
    SIGNATURE_BYTES,
    ProtocolError,
    check_device_id,
    check_head,
    verify,
)

__all__ = [
    "MAGIC",
    "MAX_PAYLOAD",
    "VERSION",
    "DropFloor",
    "SignedDropFloor",
    "decode",
    "encode",
    "sign",
    "verify",
]

MAGIC = b"FD"
VERSION = 1
# magic, version, floor (uint64), timestamp_ms (int64): the fixed-size head.
_HEAD = struct.Struct(">2sBQq")
MAX_PAYLOAD = _HEAD.size + 1 + MAX_DEVICE_ID_BYTES + SIGNATURE_BYTES
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class DropFloor:
    """What a device states: it discarded every unsent seq up to ``floor``."""

    device_id: str
    floor: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class SignedDropFloor:
    """A decoded payload; ``signature`` is not yet checked (:func:`verify` does that)."""

    device_id: str
    floor: int
    timestamp_ms: int
    signed_bytes: bytes
    signature: bytes
    payload: bytes

    @property
    def statement(self) -> DropFloor:
        return DropFloor(self.device_id, self.floor, self.timestamp_ms)


def encode(statement: DropFloor) -> bytes:
    """The signed bytes of ``statement``; ProtocolError if a field breaks a rule."""
    floor, ts = statement.floor, statement.timestamp_ms
    if type(floor) is not int or not 0 <= floor <= _U64_MAX:
        raise ProtocolError("out-of-range", "floor", "must be an integer in 0..2^64-1")
    if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
        raise ProtocolError("out-of-range", "timestamp_ms", "must be a 64-bit signed integer")
    device = check_device_id(statement.device_id).encode("ascii")
    return _HEAD.pack(MAGIC, VERSION, floor, ts) + bytes((len(device),)) + device


def sign(statement: DropFloor, private_key: Ed25519PrivateKey) -> bytes:
    """The payload ``encode(statement) || Ed25519 signature``."""
    signed = encode(statement)
    return signed + private_key.sign(signed)


def decode(payload: bytes | bytearray | memoryview) -> SignedDropFloor:
    """Parse a drop floor payload; raise ProtocolError (and nothing else) for malformed bytes."""
    payload = bytes(payload)
    size = len(payload)
    check_head(payload, MAGIC, VERSION, MAX_PAYLOAD)
    if size < _HEAD.size:
        raise ProtocolError.truncated("floor" if size < 11 else "timestamp_ms")
    _, _, floor, timestamp_ms = _HEAD.unpack_from(payload)
    if size == _HEAD.size:
        raise ProtocolError.truncated("device_id")
    length = payload[_HEAD.size]
    if length == 0:
        raise ProtocolError("empty-field", "device_id", "must not be empty")
    if length > MAX_DEVICE_ID_BYTES:
        raise ProtocolError(
            "field-too-long", "device_id", f"{length} bytes, at most {MAX_DEVICE_ID_BYTES}"
        )
    end = _HEAD.size + 1 + length
    if size < end:
        raise ProtocolError.truncated("device_id")
    if size < end + SIGNATURE_BYTES:
        raise ProtocolError.truncated("signature")
    if size > end + SIGNATURE_BYTES:
        raise ProtocolError(
            "trailing-bytes", "payload", f"{size - end - SIGNATURE_BYTES} bytes after the signature"
        )
    device_raw = payload[_HEAD.size + 1 : end]
    try:
        device_id = check_device_id(device_raw.decode("ascii"))
    except UnicodeDecodeError:
        raise ProtocolError(
            "bad-device-id", "device_id", "only ASCII letters, digits and . _ : - are allowed"
        ) from None
    return SignedDropFloor(device_id, floor, timestamp_ms, payload[:end], payload[end:], payload)
