"""The reading wire format: the one definition shared by the simulator and the gateway.

A payload is ``signed_bytes || signature``: ``signed_bytes`` is the deterministic encoding of a
:class:`Reading` (layout in ``docs/wire-format.md``) and ``signature`` the device's 64-byte
Ed25519 signature over exactly those bytes. Every reading has exactly one encoding, and
``encode(decode(p).reading) == decode(p).signed_bytes`` for every payload ``decode`` accepts.

Contracts:

* :func:`decode` accepts any bytes and either returns a :class:`SignedReading` or raises
  :class:`ProtocolError`; it never raises anything else for bytes input. It does not check the
  signature: call :func:`verify` with the device's public key.
* :func:`encode` applies the same rules as :func:`decode` and raises :class:`ProtocolError`
  for a reading that could not be decoded again.

Only the standard library and ``cryptography`` are imported here, so the gateway and a device
on a Raspberry Pi can share this module unchanged.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "MAGIC",
    "MAX_DEVICE_ID_BYTES",
    "MAX_LOT_BYTES",
    "MAX_MEASUREMENTS",
    "MAX_PAYLOAD",
    "MAX_SIGNED_BYTES",
    "MAX_SITE_BYTES",
    "MAX_TYPE_BYTES",
    "SIGNATURE_BYTES",
    "VERSION",
    "Measurement",
    "ProtocolError",
    "Reading",
    "SignedMessage",
    "SignedReading",
    "check_device_id",
    "check_head",
    "decode",
    "encode",
    "sign",
    "verify",
]

MAGIC = b"FT"
VERSION = 1
SIGNATURE_BYTES = 64
MAX_PAYLOAD = 1024
MAX_DEVICE_ID_BYTES = 128
MAX_SITE_BYTES = 64
MAX_LOT_BYTES = 64
MAX_TYPE_BYTES = 40
MAX_MEASUREMENTS = 12
# The largest reading the limits above allow; it fits MAX_PAYLOAD with its signature, so every
# valid reading can be sent and "oversized" always means a payload nobody could have encoded.
MAX_SIGNED_BYTES = (
    19 + 1 + MAX_DEVICE_ID_BYTES + 1 + MAX_SITE_BYTES + 1 + MAX_LOT_BYTES + 1
) + MAX_MEASUREMENTS * (1 + MAX_TYPE_BYTES + 1 + 3 + 8)
assert MAX_SIGNED_BYTES + SIGNATURE_BYTES <= MAX_PAYLOAD

# magic, version, seq (uint64), timestamp_ms (int64): the fixed-size head of every reading.
_HEAD = struct.Struct(">2sBQq")
_VALUE = struct.Struct(">d")
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

_DEVICE_ID = re.compile(rb"[A-Za-z0-9._:-]+")
_TYPE = re.compile(rb"[A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9_]*)?")
_UNIT = re.compile(rb"[A-Z0-9]{2,3}")
# C0 and C1 control characters and DEL: invisible in logs and pages, so never in a tag.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# Measurement types and units repeat across millions of readings; caching the validated pair
# keeps decode from running two regular expressions per measurement. Bounded so hostile input
# cannot grow it without limit.
_KIND_CACHE: dict[bytes, tuple[str, str]] = {}
_KIND_CACHE_LIMIT = 4096


class ProtocolError(ValueError):
    """A payload or reading that breaks the wire format.

    ``reason`` is a stable machine-readable code (listed in ``docs/wire-format.md``), ``field``
    names the offending field, and the message says what was wrong in words.
    """

    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.reason = reason
        self.field = field

    @classmethod
    def truncated(cls, field: str) -> ProtocolError:
        """The payload ended inside ``field`` (reason ``truncated``)."""
        return cls("truncated", field, "payload ends inside this field")


class SignedMessage(Protocol):
    """What any decoded signed payload offers: the exact bytes signed and the signature."""

    @property
    def signed_bytes(self) -> bytes: ...

    @property
    def signature(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Measurement:
    """One sensor value: EPCIS sensorReport ``type``, ``value`` and UN/ECE Rec 20 ``uom``."""

    type: str
    value: float
    uom: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What a device measured and signs. ``timestamp_ms`` is UTC milliseconds since 1970."""

    device_id: str
    seq: int
    timestamp_ms: int
    site: str
    lot: str
    measurements: tuple[Measurement, ...]


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A decoded payload: the reading's fields plus the exact bytes that were signed.

    ``signature`` is not yet checked; :func:`verify` does that.
    """

    device_id: str
    seq: int
    timestamp_ms: int
    site: str
    lot: str
    measurements: tuple[Measurement, ...]
    signed_bytes: bytes
    signature: bytes
    payload: bytes

    @property
    def reading(self) -> Reading:
        return Reading(
            self.device_id, self.seq, self.timestamp_ms, self.site, self.lot, self.measurements
        )


def _text_bytes(value: str, field: str, lowest: int, highest: int) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError("bad-field-type", field, f"expected str, got {type(value).__name__}")
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) < lowest:
        raise ProtocolError("empty-field", field, "must not be empty")
    if len(raw) > highest:
        raise ProtocolError("field-too-long", field, f"{len(raw)} bytes, at most {highest}")
    return raw


def _check_text(value: str, field: str) -> None:
    if _CONTROL.search(value):
        raise ProtocolError("bad-text", field, "contains a control character")


def _check_device_id(raw: bytes) -> None:
    if not _DEVICE_ID.fullmatch(raw):
        raise ProtocolError(
            "bad-device-id", "device_id", "only ASCII letters, digits and . _ : - are allowed"
        )


def check_device_id(device_id: str) -> str:
    """Return ``device_id`` if it is a valid device ID, else raise ProtocolError."""
    _check_device_id(_text_bytes(device_id, "device_id", 1, MAX_DEVICE_ID_BYTES))
    return device_id


def _check_kind(type_raw: bytes, uom_raw: bytes, index: int) -> None:
    if not _TYPE.fullmatch(type_raw):
        raise ProtocolError(
            "bad-measurement-type",
            f"measurements[{index}].type",
            "expected an EPCIS type such as Temperature or prefix:Name",
        )
    if not _UNIT.fullmatch(uom_raw):
        raise ProtocolError(
            "bad-unit",
            f"measurements[{index}].uom",
            "expected a UN/ECE Rec 20 code of 2-3 characters A-Z 0-9",
        )


def _encode_tags(reading: Reading) -> bytes:
    """device_id, site and lot, validated and length-prefixed."""
    device = _text_bytes(reading.device_id, "device_id", 1, MAX_DEVICE_ID_BYTES)
    _check_device_id(device)
    site = _text_bytes(reading.site, "site", 1, MAX_SITE_BYTES)
    lot = _text_bytes(reading.lot, "lot", 0, MAX_LOT_BYTES)
    _check_text(reading.site, "site")
    _check_text(reading.lot, "lot")
    _check_utf8(site, "site")
    _check_utf8(lot, "lot")
    return b"".join(
        (bytes((len(device),)), device, bytes((len(site),)), site, bytes((len(lot),)), lot)
    )


def _encode_kind(m: Measurement, index: int) -> bytes:
    """A measurement's type and unit, validated and length-prefixed."""
    field = f"measurements[{index}]"
    type_raw = _text_bytes(m.type, f"{field}.type", 1, MAX_TYPE_BYTES)
    uom_raw = _text_bytes(m.uom, f"{field}.uom", 1, 3)
    _check_kind(type_raw, uom_raw, index)
    return bytes((len(type_raw),)) + type_raw + bytes((len(uom_raw),)) + uom_raw


# A device repeats its tags and measurement kinds in every reading: validating them once
# keeps encode at struct-packing cost. Only validated strings are cached, and never too many.
_TAGS_CACHE: dict[tuple[str, str, str], bytes] = {}
_KIND_OUT_CACHE: dict[tuple[str, str], bytes] = {}
_ENCODE_CACHE_LIMIT = 65536


def encode(reading: Reading) -> bytes:
    """Return the signed bytes of ``reading``; raise ProtocolError if it breaks a rule."""
    seq, ts = reading.seq, reading.timestamp_ms
    if type(seq) is not int or not 0 <= seq <= _U64_MAX:
        raise ProtocolError("out-of-range", "seq", "must be an integer in 0..2^64-1")
    if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
        raise ProtocolError("out-of-range", "timestamp_ms", "must be a 64-bit signed integer")
    key = (reading.device_id, reading.site, reading.lot)
    tags = _TAGS_CACHE.get(key) if all(type(k) is str for k in key) else None
    if tags is None:
        tags = _encode_tags(reading)
        if len(_TAGS_CACHE) < _ENCODE_CACHE_LIMIT:
            _TAGS_CACHE[key] = tags
    measurements = reading.measurements
    count = len(measurements)
    if count == 0:
        raise ProtocolError("no-measurements", "measurements", "at least one is required")
    if count > MAX_MEASUREMENTS:
        raise ProtocolError(
            "too-many-measurements", "measurements", f"{count}, at most {MAX_MEASUREMENTS}"
        )
    parts = [_HEAD.pack(MAGIC, VERSION, seq, ts), tags, bytes((count,))]
    for index, m in enumerate(measurements):
        kind_key = (m.type, m.uom)
        kind = _KIND_OUT_CACHE.get(kind_key) if type(m.type) is str and type(m.uom) is str else None
        if kind is None:
            kind = _encode_kind(m, index)
            if len(_KIND_OUT_CACHE) < _ENCODE_CACHE_LIMIT:
                _KIND_OUT_CACHE[kind_key] = kind
        value = m.value
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ProtocolError(
                    "bad-field-type", f"measurements[{index}].value", "expected a float"
                )
            value = float(value)
        if not math.isfinite(value):
            raise ProtocolError(
                "non-finite-value", f"measurements[{index}].value", f"{value} is not finite"
            )
        parts.append(kind)
        parts.append(_VALUE.pack(value))
    if count > 1 and len({m.type for m in measurements}) != count:
        seen: set[str] = set()
        for index, m in enumerate(measurements):
            if m.type in seen:
                raise ProtocolError(
                    "duplicate-type", f"measurements[{index}].type", f"{m.type} appears twice"
                )
            seen.add(m.type)
    return b"".join(parts)


def _check_utf8(raw: bytes, field: str) -> None:
    # Lone surrogates encode (with surrogatepass) but are not UTF-8; decode would reject them.
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad-utf8", field, "not valid UTF-8") from None


def sign(reading: Reading, private_key: Ed25519PrivateKey) -> bytes:
    """Return the payload ``encode(reading) || Ed25519 signature``."""
    signed = encode(reading)
    return signed + private_key.sign(signed)


def verify(signed: SignedMessage, public_key: bytes | Ed25519PublicKey) -> bool:
    """True when ``signed.signature`` is the key's signature over ``signed.signed_bytes``
    (a reading, or any other signed statement of the wire format such as a drop floor).

    ``public_key`` is the raw 32-byte key (as exported) or an already loaded key; a raw key of
    the wrong length raises ValueError, since that is a registry fault, not a bad reading.
    """
    key = (
        public_key
        if isinstance(public_key, Ed25519PublicKey)
        else Ed25519PublicKey.from_public_bytes(public_key)
    )
    try:
        key.verify(signed.signature, signed.signed_bytes)
    except InvalidSignature:
        return False
    return True


def _string(body: bytes, pos: int, field: str, lowest: int, highest: int) -> tuple[bytes, int]:
    """The length-prefixed string at ``pos`` and the position after it."""
    if pos >= len(body):
        raise ProtocolError.truncated(field)
    length = body[pos]
    if length < lowest:
        raise ProtocolError("empty-field", field, "must not be empty")
    if length > highest:
        raise ProtocolError("field-too-long", field, f"{length} bytes, at most {highest}")
    end = pos + 1 + length
    if end > len(body):
        raise ProtocolError.truncated(field)
    return body[pos + 1 : end], end


def _text(raw: bytes, field: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad-utf8", field, "not valid UTF-8") from None
    _check_text(text, field)
    return text


def _measurement(body: bytes, pos: int, index: int) -> tuple[Measurement, int]:
    field = f"measurements[{index}]"
    type_raw, pos = _string(body, pos, f"{field}.type", 1, MAX_TYPE_BYTES)
    uom_raw, pos = _string(body, pos, f"{field}.uom", 1, 3)
    key = type_raw + b"/" + uom_raw
    kind = _KIND_CACHE.get(key)
    if kind is None:
        _check_kind(type_raw, uom_raw, index)
        kind = (type_raw.decode("ascii"), uom_raw.decode("ascii"))
        if len(_KIND_CACHE) < _KIND_CACHE_LIMIT:
            _KIND_CACHE[key] = kind
    if pos + 8 > len(body):
        raise ProtocolError.truncated(f"{field}.value")
    (value,) = _VALUE.unpack_from(body, pos)
    if not math.isfinite(value):
        raise ProtocolError("non-finite-value", f"{field}.value", f"{value} is not finite")
    return Measurement(kind[0], value, kind[1]), pos + 8


def check_head(payload: bytes, magic: bytes, version: int, max_payload: int) -> None:
    """The checks every signed statement of the wire format starts with (readings, drop floors,
    watermarks): at most ``max_payload`` bytes, then the 2-byte ``magic`` and the ``version``
    byte; raise :class:`ProtocolError` naming the first that fails."""
    size = len(payload)
    if size > max_payload:
        raise ProtocolError("oversized", "payload", f"{size} bytes, at most {max_payload}")
    if size < 2:
        raise ProtocolError.truncated("magic")
    if payload[:2] != magic:
        raise ProtocolError("bad-magic", "magic", f"expected {magic!r}, got {payload[:2]!r}")
    if size < 3:
        raise ProtocolError.truncated("version")
    if payload[2] != version:
        raise ProtocolError(
            "unsupported-version", "version", f"{payload[2]}, this decoder reads {version}"
        )


def decode(payload: bytes | bytearray | memoryview) -> SignedReading:
    """Parse a payload; raise ProtocolError (and nothing else) for any malformed bytes."""
    payload = bytes(payload)
    size = len(payload)
    check_head(payload, MAGIC, VERSION, MAX_PAYLOAD)
    if size < _HEAD.size + SIGNATURE_BYTES:
        raise ProtocolError.truncated(
            "seq" if size < 11 else "timestamp_ms" if size < 19 else "signature"
        )
    body = payload[:-SIGNATURE_BYTES]
    _, _, seq, timestamp_ms = _HEAD.unpack_from(body)
    device_raw, pos = _string(body, _HEAD.size, "device_id", 1, MAX_DEVICE_ID_BYTES)
    _check_device_id(device_raw)
    site_raw, pos = _string(body, pos, "site", 1, MAX_SITE_BYTES)
    lot_raw, pos = _string(body, pos, "lot", 0, MAX_LOT_BYTES)
    if pos >= len(body):
        raise ProtocolError.truncated("measurements")
    count = body[pos]
    pos += 1
    if count == 0:
        raise ProtocolError("no-measurements", "measurements", "at least one is required")
    if count > MAX_MEASUREMENTS:
        raise ProtocolError(
            "too-many-measurements", "measurements", f"{count}, at most {MAX_MEASUREMENTS}"
        )
    measurements = []
    for index in range(count):
        measurement, pos = _measurement(body, pos, index)
        measurements.append(measurement)
    if pos != len(body):
        raise ProtocolError(
            "trailing-bytes", "payload", f"{len(body) - pos} bytes after the last measurement"
        )
    if count > 1 and len({m.type for m in measurements}) != count:
        raise ProtocolError("duplicate-type", "measurements", "a measurement type appears twice")
    return SignedReading(
        device_raw.decode("ascii"),
        seq,
        timestamp_ms,
        _text(site_raw, "site"),
        _text(lot_raw, "lot"),
        tuple(measurements),
        body,
        payload[-SIGNATURE_BYTES:],
        payload,
    )
