"""Lot events as chain entries: a canonical byte encoding signed with the API's event key.

Layout (all integers big-endian; see ``docs/bundle.md``)::

    46 45 01              "FE", version 1 (the entry kind's prefix; no other kind starts so)
    seq        uint64     per-signer sequence number, from 1, strictly increasing
    time_ms    int64      the event's time (ms since the epoch, UTC)
    signer     1 + n      ASCII ID of the signing key (device-ID character set)
    body       4 + n      the event as canonical JSON: UTF-8, keys sorted, no spaces, strings only
    signature  64         Ed25519 over everything before it

The body holds only strings, so its canonical JSON is unique; :func:`decode` re-encodes and
refuses any entry whose bytes differ, so an event has exactly one encoding.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from farmtrace.chain.entry import EVENT_PREFIX as GATEWAY_EVENT_PREFIX
from farmtrace.chain.signed_entry import frame, unframe
from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = [
    "EVENT_PREFIX",
    "EventEntry",
    "EventEntryError",
    "canonical_body",
    "decode",
    "frame",
    "sign_event",
    "signature_ok",
    "signer_id",
    "unframe",
    "verify",
]

EVENT_PREFIX = GATEWAY_EVENT_PREFIX
_MAX_BODY = 8192


class EventEntryError(ValueError):
    """An event entry that is malformed; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class EventEntry:
    """A decoded event entry: its fields, the bytes signed and the signature."""

    seq: int
    time_ms: int
    signer: str
    body: dict[str, str]
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature


def signer_id(public_key: bytes) -> str:
    """The signer ID of an event key: ``farmtrace-api.`` and 16 hex digits of its SHA-256."""
    return "farmtrace-api." + hashlib.sha256(public_key).hexdigest()[:16]


def canonical_body(body: dict[str, str]) -> bytes:
    """The canonical JSON of an event body (string values only)."""
    for key, value in body.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EventEntryError(f"event field {key!r} must be a string")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_ok(signer: str, signed: bytes, signature: bytes, public_key: bytes) -> bool:
    """Whether ``signature`` over ``signed`` verifies with the 32-byte Ed25519 ``public_key``,
    whose signer ID must also be ``signer``."""
    if signer_id(public_key) != signer:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def _encode(seq: int, time_ms: int, signer: str, body: dict[str, str]) -> bytes:
    if not 1 <= seq < 2**64:
        raise EventEntryError(f"event seq {seq} out of range")
    if not -(2**63) <= time_ms < 2**63:
        raise EventEntryError(f"event time {time_ms} out of range")
    try:
        check_device_id(signer)
    except ProtocolError as exc:
        raise EventEntryError(f"signer: {exc}") from None
    try:
        data = canonical_body(body)
    except UnicodeEncodeError:  # a lone surrogate (``"\ud800"`` in JSON) has no UTF-8 form
        raise EventEntryError("event body holds text with no UTF-8 form") from None
    if len(data) > _MAX_BODY:
        raise EventEntryError(f"event body is {len(data)} bytes, more than {_MAX_BODY}")
    return frame(EVENT_PREFIX, seq, time_ms, signer, data)


def sign_event(seq: int, time_ms: int, body: dict[str, str], key: Ed25519PrivateKey) -> EventEntry:
    """Encode and sign one event with ``key`` (its signer ID is derived from the key)."""
    signer = signer_id(key.public_key().public_bytes_raw())
    signed = _encode(seq, time_ms, signer, body)
    return EventEntry(seq, time_ms, signer, dict(body), signed, key.sign(signed))


def decode(payload: bytes) -> EventEntry:
    """Parse an event entry strictly; raise :class:`EventEntryError` naming the flaw."""
    seq, time_ms, signer, body, signed, signature = unframe(
        payload,
        EVENT_PREFIX,
        "event",
        "not an event entry (it does not start with FE 01)",
        EventEntryError,
    )
    if not isinstance(body, dict):
        raise EventEntryError("event body is not a JSON object")
    if _encode(seq, time_ms, signer, body) != signed:
        raise EventEntryError("event entry is not in canonical form")
    return EventEntry(seq, time_ms, signer, body, signed, signature)


def verify(entry: EventEntry, public_key: bytes) -> bool:
    """Whether the entry's signature verifies with the 32-byte Ed25519 ``public_key``, whose
    signer ID must also be the entry's."""
    return signature_ok(entry.signer, entry.signed_bytes, entry.signature, public_key)
