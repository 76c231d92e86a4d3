"""Market statements: what a holder signs to list or withdraw a coupon, and a buyer to offer.

The coupon market is off the chain (a listing moves no coupon), but every change to it is
signed by the key it speaks for, so the server cannot invent a listing, a price or an offer.
A statement's signed bytes are the domain line and the canonical JSON body
(:mod:`farmtrace.commerce.canonical`)::

    farmtrace/market/v1\\n{canonical JSON body}

The domain line keeps these bytes from ever being valid as any other farmtrace message (chain
entries and holder statements start with two ASCII letters and a version byte, ``FH 01``), so a
signature over a listing can never be replayed as a transfer. Bodies (every field required,
nothing else allowed; integers within ±(2**53-1)):

* ``list`` (by the holder): ``{"op":"list","coupon":ID,"state":S,"seller":A,
  "price":{"amount":N,"currency":C},"time_ms":T}``: coupon ``ID`` in state ``S`` (the coupon's
  head: the hex SHA-256 of the entry that made it), held by address ``A``, for ``N`` minor units
  of ISO 4217 currency ``C``, stated at ``T`` ms since the epoch.
* ``withdraw`` (by the seller): ``{"op":"withdraw","listing":L,"time_ms":T}``.
* ``offer`` (by a buyer): ``{"op":"offer","listing":L,"buyer":B,"time_ms":T}``: address ``B``
  asks to buy listing ``L``; the seller completes a sale by transferring the coupon to ``B``.

A listing's ID ``L`` is the first 32 hex digits of the SHA-256 of its signed ``list`` bytes:
anyone can recompute it, and the same statement posted twice names the same listing.
``static/market/listing.js`` builds byte-identical statements in the browser (cross-checked by
``tests/commerce/test_listing_statement.py``). Signatures are Ed25519 (RFC 8032) over exactly
these bytes by the named address's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.commerce.canonical import MAX_INT, canonical_json
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import parse_coupon_id
from farmtrace.commerce.units import validate_currency

__all__ = [
    "DOMAIN",
    "list_statement",
    "listing_id",
    "listing_problem",
    "offer_statement",
    "withdraw_statement",
]

DOMAIN = b"farmtrace/market/v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _time(time_ms: object) -> int:
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or not 0 < time_ms <= MAX_INT:
        raise CommerceError("time_ms: expected a positive integer of milliseconds since the epoch")
    return time_ms


def _hex(value: object, where: str, pattern: re.Pattern[str] = _HEX64) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        digits = 64 if pattern is _HEX64 else 32
        raise CommerceError(f"{where}: expected {digits} lowercase hex digits")
    return value


def _signed(body: dict[str, Any]) -> bytes:
    return DOMAIN + canonical_json(body)


def list_statement(
    coupon: str, state: str, seller: str, amount: int, currency: str, time_ms: int
) -> bytes:
    """The bytes a holder signs to list ``coupon`` in ``state`` at ``amount`` minor units of
    ``currency``. Raises :class:`CommerceError` naming the first malformed field."""
    parse_coupon_id(coupon)
    _hex(state, "state")
    _hex(seller, "seller")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_INT:
        raise CommerceError("price.amount: expected a non-negative integer of minor units")
    validate_currency(currency, "price.currency")
    body = {
        "op": "list",
        "coupon": coupon,
        "state": state,
        "seller": seller,
        "price": {"amount": amount, "currency": currency},
        "time_ms": _time(time_ms),
    }
    return _signed(body)


def withdraw_statement(listing: str, time_ms: int) -> bytes:
    """The bytes a seller signs to withdraw listing ``listing``."""
    return _signed(
        {"op": "withdraw", "listing": _hex(listing, "listing", _HEX32), "time_ms": _time(time_ms)}
    )


def offer_statement(listing: str, buyer: str, time_ms: int) -> bytes:
    """The bytes a buyer signs to ask to buy listing ``listing`` with address ``buyer``."""
    return _signed(
        {
            "op": "offer",
            "listing": _hex(listing, "listing", _HEX32),
            "buyer": _hex(buyer, "buyer"),
            "time_ms": _time(time_ms),
        }
    )


def listing_id(signed: bytes) -> str:
    """A listing's ID: the first 32 hex digits of the SHA-256 of its signed ``list`` bytes."""
    return hashlib.sha256(signed).hexdigest()[:32]


def listing_problem(
    listing: str,
    coupon: str,
    state: str,
    seller: str,
    amount: int,
    currency: str,
    time_ms: int,
    signature: str,
) -> str | None:
    """Why a listing as served does not check out, or ``None`` if it does: its statement
    rebuilt from the fields, its ID recomputed, and the seller's Ed25519 signature (base64)
    over the statement. The first problem found, in that order, with the words the browser's
    ``verifyListing`` (static/market/listing.js) uses."""
    try:
        signed = list_statement(coupon, state, seller, amount, currency, time_ms)
    except CommerceError as exc:
        return f"malformed listing: {exc}"
    if listing_id(signed) != listing:
        return "the listing's ID is not the hash of its statement"
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not base64"
    if len(raw) != 64:
        return "the signature is not 64 bytes"
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(seller)).verify(raw, signed)
    except (InvalidSignature, ValueError):
        return "the seller's signature does not verify"
    return None
