"""The commit watermark wire format: a gateway's signed statement of how far a device is stored.

A gateway publishes, retained on ``farm/<farm>/<device>/committed``, the device's highest
contiguous settled seq ``W`` (every seq ``1..W`` is durably stored, a signed rejection, or below
the device's drop floor). A device running ``--until-committed`` then forgets its readings up to
``W``, so a false watermark destroys readings: the statement is signed with the gateway's
watermark key, which the device pinned when it was registered (``docs/wire-format.md``,
"Commit watermark"). Layout, all integers big-endian::

    46 57                 "FW" (readings start "FT", drop floors "FD", lot events "FE": a
                          signature over one can never be taken for another)
    01                    version
    seq                   uint64, the watermark W
    timestamp_ms          int64, the gateway's clock when it signed
    device_id             1-byte length + 1-128 bytes, the same rule as a reading's
    origin                1-byte length + 1-255 bytes of printable ASCII (0x21-0x7e): the chain
                          of the gateway that signed (for logs; the key is what is checked)
    signature             64 bytes, Ed25519 over everything before it

Contracts: :func:`decode` accepts any bytes and either returns a :class:`SignedWatermark` or
raises :class:`~farmtrace.wire.protocol.ProtocolError` (with a stable ``reason``); it does not
check the signature (:func:`verify_any` does, against the pinned keys). Every statement has
exactly one encoding. :func:`judge` is the device's whole acceptance rule. :func:`sign` is the
plain reference; :func:`sign_many` makes the same payloads for many statements with one call to
a bulk signer the caller passes (the gateway's: ``rust_core.sign_ed25519``). Only the standard
library and ``cryptography`` are imported, as in :mod:`farmtrace.wire.protocol` (this module
runs on a bare Pi, without the Rust extension).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
    "MAX_ORIGIN_BYTES",
    "MAX_PAYLOAD",
    "VERSION",
    "SignedWatermark",
    "Watermark",
    "decode",
    "encode",
    "judge",
    "parse_pins",
    "sign",
    "sign_many",
    "verify_any",
]

MAGIC = b"FW"
VERSION = 1
MAX_ORIGIN_BYTES = 255
# magic, version, seq (uint64), timestamp_ms (int64): the fixed-size head.
_HEAD = struct.Struct(">2sBQq")
MAX_PAYLOAD = _HEAD.size + 1 + MAX_DEVICE_ID_BYTES + 1 + MAX_ORIGIN_BYTES + SIGNATURE_BYTES
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Watermark:
    """What a gateway states: every seq of ``device_id`` up to ``seq`` is settled."""

    device_id: str
    seq: int
    timestamp_ms: int
    origin: str


@dataclass(frozen=True, slots=True)
class SignedWatermark:
    """A decoded payload; ``signature`` is not yet checked (:func:`verify_any` does that)."""

    device_id: str
    seq: int
    timestamp_ms: int
    origin: str
    signed_bytes: bytes
    signature: bytes
    payload: bytes

    @property
    def statement(self) -> Watermark:
        return Watermark(self.device_id, self.seq, self.timestamp_ms, self.origin)


def _check_origin(origin: str) -> bytes:
    try:
        raw = origin.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        raise ProtocolError("bad-origin", "origin", "only printable ASCII is allowed") from None
    if not raw:
        raise ProtocolError("empty-field", "origin", "must not be empty")
    if len(raw) > MAX_ORIGIN_BYTES:
        raise ProtocolError(
            "field-too-long", "origin", f"{len(raw)} bytes, at most {MAX_ORIGIN_BYTES}"
        )
    if any(b < 0x21 or b > 0x7E for b in raw):
        raise ProtocolError("bad-origin", "origin", "only printable ASCII is allowed")
    return raw


def encode(statement: Watermark) -> bytes:
    """The signed bytes of ``statement``; ProtocolError if a field breaks a rule."""
    seq, ts = statement.seq, statement.timestamp_ms
    if type(seq) is not int or not 0 <= seq <= _U64_MAX:
        raise ProtocolError("out-of-range", "seq", "must be an integer in 0..2^64-1")
    if type(ts) is not int or not _I64_MIN <= ts <= _I64_MAX:
        raise ProtocolError("out-of-range", "timestamp_ms", "must be a 64-bit signed integer")
    device = check_device_id(statement.device_id).encode("ascii")
    origin = _check_origin(statement.origin)
    return (
        _HEAD.pack(MAGIC, VERSION, seq, ts)
        + bytes((len(device),))
        + device
        + bytes((len(origin),))
        + origin
    )


def sign(statement: Watermark, private_key: Ed25519PrivateKey) -> bytes:
    """The payload ``encode(statement) || Ed25519 signature``."""
    signed = encode(statement)
    return signed + private_key.sign(signed)


def sign_many(
    statements: Sequence[Watermark], sign_messages: Callable[[list[bytes]], Sequence[bytes]]
) -> list[bytes]:
    """The payloads ``[sign(s, key) for s in statements]``, with the signatures made in one call
    ``sign_messages(encoded statements)``, which must return one Ed25519 signature of ``key``
    per message, in order. The gateway passes ``rust_core.sign_ed25519`` bound to the key's
    seed (the key expanded once, the GIL released while it signs); Ed25519 signatures are
    deterministic, so the payloads are byte for byte those of :func:`sign`.

    Every statement is encoded first: a ProtocolError for any of them signs none. ValueError
    when ``sign_messages`` returns a wrong number of signatures or one that is not 64 bytes.
    """
    signed = [encode(statement) for statement in statements]
    if not signed:
        return []
    signatures = sign_messages(signed)
    if len(signatures) != len(signed) or any(len(s) != SIGNATURE_BYTES for s in signatures):
        raise ValueError(
            f"the signer returned {len(signatures)} signatures for {len(signed)} statements, "
            "or one that is not 64 bytes"
        )
    return [message + signature for message, signature in zip(signed, signatures, strict=True)]


def decode(payload: bytes | bytearray | memoryview) -> SignedWatermark:
    """Parse a watermark payload; raise ProtocolError (and nothing else) for malformed bytes."""
    payload = bytes(payload)
    size = len(payload)
    check_head(payload, MAGIC, VERSION, MAX_PAYLOAD)
    if size < _HEAD.size:
        raise ProtocolError.truncated("seq" if size < 11 else "timestamp_ms")
    _, _, seq, timestamp_ms = _HEAD.unpack_from(payload)
    device_raw, pos = _field(payload, _HEAD.size, "device_id", MAX_DEVICE_ID_BYTES)
    origin_raw, end = _field(payload, pos, "origin", MAX_ORIGIN_BYTES)
    if size < end + SIGNATURE_BYTES:
        raise ProtocolError.truncated("signature")
    if size > end + SIGNATURE_BYTES:
        raise ProtocolError(
            "trailing-bytes", "payload", f"{size - end - SIGNATURE_BYTES} bytes after the signature"
        )
    try:
        device_id = check_device_id(device_raw.decode("ascii"))
    except UnicodeDecodeError:
        raise ProtocolError(
            "bad-device-id", "device_id", "only ASCII letters, digits and . _ : - are allowed"
        ) from None
    origin = origin_raw.decode("latin-1")
    _check_origin(origin)
    return SignedWatermark(
        device_id, seq, timestamp_ms, origin, payload[:end], payload[end:], payload
    )


def _field(payload: bytes, pos: int, name: str, limit: int) -> tuple[bytes, int]:
    """A 1-byte-length-prefixed field at ``pos``: its bytes and the position after it."""
    if len(payload) <= pos:
        raise ProtocolError.truncated(name)
    length = payload[pos]
    if length == 0:
        raise ProtocolError("empty-field", name, "must not be empty")
    if length > limit:
        raise ProtocolError("field-too-long", name, f"{length} bytes, at most {limit}")
    end = pos + 1 + length
    if len(payload) < end:
        raise ProtocolError.truncated(name)
    return payload[pos + 1 : end], end


def verify_any(signed: SignedWatermark, keys: Iterable[bytes | Ed25519PublicKey]) -> bool:
    """True when one of the pinned ``keys`` signed ``signed`` (a device pins every key of the
    gateways it trusts: several during a rotation or behind a share group)."""
    return any(verify(signed, key) for key in keys)


def judge(
    payload: bytes,
    device_id: str,
    keys: Iterable[bytes | Ed25519PublicKey],
    committed: int,
    last_seq: int,
) -> tuple[SignedWatermark | None, str | None]:
    """The device's acceptance rule: ``(statement, None)`` for a watermark it may act on, or
    ``(None | statement, reason)`` naming why it must be ignored. ``committed`` is the highest
    watermark the device already acted on, ``last_seq`` the highest seq it has made.

    Reasons (stable, counted in the simulator's report): ``unsigned`` (not this format at all,
    such as the plain-text watermark of old), ``malformed`` (the format, broken),
    ``bad-signature`` (no pinned key signed it), ``other-device`` (it names another device),
    ``backwards`` (below ``committed``), ``beyond-last-seq`` (above ``last_seq``: nothing the
    device sent can be stored there).
    """
    try:
        statement = decode(payload)
    except ProtocolError as err:
        return None, "unsigned" if err.reason in ("bad-magic", "truncated") else "malformed"
    if not verify_any(statement, keys):
        return statement, "bad-signature"
    if statement.device_id != device_id:
        return statement, "other-device"
    if statement.seq < committed:
        return statement, "backwards"
    if statement.seq > last_seq:
        return statement, "beyond-last-seq"
    return statement, None


def parse_pins(text: str, where: str = "pin file") -> list[Ed25519PublicKey]:
    """The gateway keys of a pin file: one base64 Ed25519 public key (32 bytes) a line, an
    optional label after it, ``#`` comments and blank lines ignored. ValueError names the line."""
    keys: list[Ed25519PublicKey] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            raw = base64.b64decode(words[0], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}, line {number}: not a base64 key") from None
        if len(raw) != 32:
            raise ValueError(f"{where}, line {number}: {len(raw)} bytes, an Ed25519 key is 32")
        keys.append(Ed25519PublicKey.from_public_bytes(raw))
    if not keys:
        raise ValueError(f"{where}: no gateway key in it")
    return keys
