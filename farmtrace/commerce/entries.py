"""Commerce entries on the chain: campaign entries (``FC``) and holder statements (``FH``).

Both use the operator-entry framing (:mod:`farmtrace.chain.signed_entry`) with a canonical JSON
body (:mod:`farmtrace.commerce.canonical`); ``docs/commerce.md`` specifies every field.

* A **campaign entry** is signed by the farm's key. Its body names the campaign (GCN), its place
  in the campaign's own chain (``cseq`` from 1 and ``prev``, the SHA-256 of the previous campaign
  entry's bytes; 64 zeros for the first), the operation and the running ``totals`` (coupons
  issued, redeemed, voided) after it. The frame's ``signer`` is the farm key's ID and its ``seq``
  the key's own sequence number, the ``(device_id, seq)`` under which a gateway integrates it.
* A **holder statement** is signed by a coupon's holder. A ``transfer`` names the coupon, the
  state it spends (``prev``: the SHA-256 of the entry that made the coupon's current state) and
  the new holder's key; a ``redeem`` statement is what the wallet shows at pickup, and reaches the
  chain inside the farm's ``redeem`` entry. The frame's ``signer`` is ``coupon.<coupon ID>`` and
  its ``seq`` the coupon's move number, so one state can be integrated once.

A coupon's *state* is the hex SHA-256 of the entry that last changed it: issue, transfer,
redeem or void.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from farmtrace.chain.entry import CAMPAIGN_PREFIX, COUPON_MOVE_PREFIX
from farmtrace.chain.signed_entry import frame, unframe
from farmtrace.commerce.canonical import MAX_INT, canonical_json, check_value
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import MAX_SERIAL, parse_coupon_id, validate_gcn
from farmtrace.commerce.points import address_problem
from farmtrace.commerce.units import validate_currency

__all__ = [
    "CAMPAIGN_OPS",
    "GENESIS",
    "MAX_VOIDS_PER_ENTRY",
    "SHORTFALL_POLICIES",
    "VOID_REASONS",
    "CampaignEntry",
    "HolderStatement",
    "Totals",
    "b64decode_strict",
    "decode_campaign_entry",
    "decode_statement",
    "farm_signer",
    "fingerprint",
    "parse_address",
    "sign_campaign_entry",
    "sign_statement",
    "state_of",
    "statement_signer",
    "verify_signature",
]

GENESIS = "0" * 64
"""``prev`` of a campaign's first entry."""
MAX_VOIDS_PER_ENTRY = 64
"""A void entry names at most this many coupons (a failed campaign needs several)."""
MAX_BODY = 16384
CAMPAIGN_OPS = (
    "open", "issue", "funded", "failed", "void", "refund", "harvested", "shortfall", "redeem",
    "closed",
)  # fmt: skip
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def fingerprint(public_key: bytes) -> str:
    """16 hex digits of the key's SHA-256: how pages name a holder without a name."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def farm_signer(public_key: bytes) -> str:
    """The signer ID of a farm key: ``farm.`` and its fingerprint."""
    return "farm." + fingerprint(public_key)


def statement_signer(coupon: str) -> str:
    """The stream ID of a coupon's holder statements: ``coupon.<coupon ID>``."""
    return "coupon." + coupon


def parse_address(value: object, where: str = "address") -> bytes:
    """A wallet address (64 lowercase hex digits: the raw Ed25519 public key) as its 32 bytes.

    Refuses keys that are not valid curve points as well as malformed text, so a coupon is never
    issued or sent to a key nobody can sign for."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise CommerceError(f"{where}: expected 64 lowercase hex digits (an Ed25519 public key)")
    raw = bytes.fromhex(value)
    problem = address_problem(raw)
    if problem is not None:
        raise CommerceError(f"{where}: not a usable Ed25519 public key: {problem}")
    return raw


def verify_signature(public_key: bytes, signed: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def state_of(payload: bytes) -> str:
    """A coupon state (or campaign ``prev``): hex SHA-256 of the entry's bytes."""
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class Totals:
    """Coupons issued, redeemed and voided so far; outstanding is the rest."""

    issued: int = 0
    redeemed: int = 0
    voided: int = 0

    @property
    def outstanding(self) -> int:
        return self.issued - self.redeemed - self.voided

    def to_json(self) -> dict[str, int]:
        return {"issued": self.issued, "redeemed": self.redeemed, "voided": self.voided}


@dataclass(frozen=True, slots=True)
class CampaignEntry:
    """A decoded campaign entry (structure checked; rules are :mod:`~farmtrace.commerce.replay`'s)."""

    seq: int
    time_ms: int
    signer: str
    campaign: str
    cseq: int
    prev: str
    op: str
    totals: Totals
    body: dict[str, Any]
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature

    @property
    def state(self) -> str:
        return state_of(self.payload)


@dataclass(frozen=True, slots=True)
class HolderStatement:
    """A decoded holder statement: a transfer or a redeem request."""

    move: int  # the coupon's move number (the frame's seq)
    time_ms: int
    op: str  # "transfer" or "redeem"
    coupon: str
    prev: str
    to: str | None  # new holder's address (transfer only)
    price: tuple[int, str] | None  # declared price (minor units, currency)
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature

    @property
    def state(self) -> str:
        return state_of(self.payload)


def _frame_checks(seq: int, time_ms: int, what: str) -> None:
    if not 1 <= seq <= MAX_INT:
        raise CommerceError(f"{what} seq {seq} out of range 1..2**53-1")
    if not 0 <= time_ms <= MAX_INT:
        raise CommerceError(f"{what} time {time_ms} out of range")


def _need(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise CommerceError(f"{what}: field {key!r} missing or not a {kind.__name__}")
    return value


def _hex(body: dict[str, Any], key: str, what: str, pattern: re.Pattern[str] = _HEX64) -> str:
    value = _need(body, key, str, what)
    if not pattern.fullmatch(value):
        raise CommerceError(f"{what}: field {key!r} is not lowercase hex of the right length")
    return str(value)


def _count(body: dict[str, Any], key: str, what: str, low: int = 0) -> int:
    value = _need(body, key, int, what)
    if not low <= value <= MAX_INT:
        raise CommerceError(f"{what}: field {key!r} = {value} out of range")
    return int(value)


_OP_FIELDS: dict[str, set[str]] = {
    "open": {"terms", "terms_sha256", "farm_key"},
    "issue": {"pledge", "holder", "first", "count", "payment_sha256"},
    "funded": set(),
    "failed": set(),
    "void": {"reason", "coupons"},
    "refund": {"pledge", "amount", "currency"},
    "harvested": {"quantity"},
    "shortfall": {"policy", "covered", "uncovered", "share"},
    "redeem": {"serial", "statement", "event"},
    "closed": set(),
}
_COMMON = {"campaign", "cseq", "prev", "op", "totals"}
VOID_REASONS = ("campaign-failed", "shortfall-refund", "expired")
SHORTFALL_POLICIES = ("pro-rata", "refund")


def _check_campaign_body(body: Any) -> tuple[str, int, str, str, Totals]:
    what = "campaign entry"
    if not isinstance(body, dict):
        raise CommerceError(f"{what}: body is not a JSON object")
    op = _need(body, "op", str, what)
    if op not in _OP_FIELDS:
        raise CommerceError(f"{what}: unknown op {op!r}")
    extra = sorted(set(body) - _COMMON - _OP_FIELDS[op])
    if extra:
        raise CommerceError(f"{what} ({op}): unknown field {extra[0]!r}")
    what = f"campaign entry ({op})"
    campaign = validate_gcn(body.get("campaign"))
    cseq = _count(body, "cseq", what, 1)
    prev = _hex(body, "prev", what)
    raw_totals = _need(body, "totals", dict, what)
    if set(raw_totals) != {"issued", "redeemed", "voided"}:
        raise CommerceError(f"{what}: totals must hold exactly issued, redeemed, voided")
    totals = Totals(*(_count(raw_totals, k, what) for k in ("issued", "redeemed", "voided")))
    if totals.outstanding < 0:
        raise CommerceError(f"{what}: totals redeem or void more coupons than were issued")
    if op == "open":
        _need(body, "terms", dict, what)
        _hex(body, "terms_sha256", what)
        _hex(body, "farm_key", what)
    elif op == "issue":
        _hex(body, "pledge", what, _HEX32)
        _hex(body, "holder", what)
        _hex(body, "payment_sha256", what)
        first = _count(body, "first", what, 1)
        count = _count(body, "count", what, 1)
        if first + count - 1 > MAX_SERIAL:
            raise CommerceError(f"{what}: serials run past {MAX_SERIAL}")
    elif op == "void":
        if body.get("reason") not in VOID_REASONS:
            raise CommerceError(f"{what}: reason must be one of {', '.join(VOID_REASONS)}")
        coupons = _need(body, "coupons", list, what)
        if not 1 <= len(coupons) <= MAX_VOIDS_PER_ENTRY:
            raise CommerceError(f"{what}: names 1..{MAX_VOIDS_PER_ENTRY} coupons")
        for item in coupons:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or isinstance(item[0], bool)
                or not isinstance(item[0], int)
                or not 1 <= item[0] <= MAX_SERIAL
                or not isinstance(item[1], str)
                or not _HEX64.fullmatch(item[1])
            ):
                raise CommerceError(f"{what}: each coupon is [serial, state]")
    elif op == "refund":
        _hex(body, "pledge", what, _HEX32)
        _count(body, "amount", what)
        validate_currency(body.get("currency"), f"{what}: currency")
    elif op == "harvested":
        _count(body, "quantity", what)
    elif op == "shortfall":
        if body.get("policy") not in SHORTFALL_POLICIES:
            raise CommerceError(f"{what}: policy must be one of {', '.join(SHORTFALL_POLICIES)}")
        _count(body, "covered", what)
        _count(body, "uncovered", what, 1)
        share = _need(body, "share", dict, what)
        if set(share) != {"quantity", "coupons"}:
            raise CommerceError(f"{what}: share must hold exactly quantity and coupons")
        _count(share, "quantity", what)
        _count(share, "coupons", what)
    elif op == "redeem":
        _count(body, "serial", what, 1)
        _need(body, "statement", str, what)
        event = _need(body, "event", dict, what)
        if set(event) != {"signer", "seq", "sha256"}:
            raise CommerceError(f"{what}: event must hold exactly signer, seq, sha256")
        _need(event, "signer", str, what)
        _count(event, "seq", what, 1)
        _hex(event, "sha256", what)
    return op, cseq, campaign, prev, totals


def sign_campaign_entry(
    seq: int, time_ms: int, body: dict[str, Any], key: Ed25519PrivateKey
) -> CampaignEntry:
    """Encode ``body`` (checked as :func:`decode_campaign_entry` would) and sign it with the
    farm's ``key`` under the key's ``seq``."""
    _frame_checks(seq, time_ms, "campaign entry")
    check_value(body)
    op, cseq, campaign, prev, totals = _check_campaign_body(body)
    data = canonical_json(body)
    if len(data) > MAX_BODY:
        raise CommerceError(f"campaign entry body is {len(data)} bytes, more than {MAX_BODY}")
    signer = farm_signer(key.public_key().public_bytes_raw())
    signed = frame(CAMPAIGN_PREFIX, seq, time_ms, signer, data)
    return CampaignEntry(
        seq, time_ms, signer, campaign, cseq, prev, op, totals, body, signed, key.sign(signed)
    )


def decode_campaign_entry(payload: bytes) -> CampaignEntry:
    """Parse a campaign entry strictly; :class:`CommerceError` naming the flaw."""
    seq, time_ms, signer, body, signed, signature = unframe(
        payload,
        CAMPAIGN_PREFIX,
        "campaign",
        "not a campaign entry (it does not start with FC 01)",
        CommerceError,
    )
    _frame_checks(seq, time_ms, "campaign entry")
    check_value(body, "campaign entry")
    if frame(CAMPAIGN_PREFIX, seq, time_ms, signer, canonical_json(body)) != signed:
        raise CommerceError("campaign entry: not in canonical form")
    op, cseq, campaign, prev, totals = _check_campaign_body(body)
    return CampaignEntry(
        seq, time_ms, signer, campaign, cseq, prev, op, totals, body, signed, signature
    )


def _statement_body(
    op: str, coupon: str, prev: str, to: str | None, price: tuple[int, str] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"op": op, "coupon": coupon, "prev": prev}
    if to is not None:
        body["to"] = to
    if price is not None:
        body["price"] = {"amount": price[0], "currency": price[1]}
    return body


def _check_statement_body(body: Any) -> tuple[str, str, str, str | None, tuple[int, str] | None]:
    what = "holder statement"
    if not isinstance(body, dict):
        raise CommerceError(f"{what}: body is not a JSON object")
    op = body.get("op")
    if op not in ("transfer", "redeem"):
        raise CommerceError(f"{what}: op must be transfer or redeem")
    allowed = {"op", "coupon", "prev"} | ({"to", "price"} if op == "transfer" else set())
    extra = sorted(set(body) - allowed)
    if extra:
        raise CommerceError(f"{what} ({op}): unknown field {extra[0]!r}")
    coupon = body.get("coupon")
    parse_coupon_id(coupon)
    prev = _hex(body, "prev", what)
    to = None
    price = None
    if op == "transfer":
        to = _need(body, "to", str, what)
        parse_address(to, f"{what}: to")
        if "price" in body:
            raw = _need(body, "price", dict, what)
            if set(raw) != {"amount", "currency"}:
                raise CommerceError(f"{what}: price must hold exactly amount and currency")
            price = (
                _count(raw, "amount", f"{what}: price"),
                validate_currency(raw.get("currency")),
            )
    return op, str(coupon), prev, to, price


def sign_statement(
    move: int,
    time_ms: int,
    op: str,
    coupon: str,
    prev: str,
    key: Ed25519PrivateKey,
    to: str | None = None,
    price: tuple[int, str] | None = None,
) -> HolderStatement:
    """Sign a holder statement with the holder's ``key``: a ``transfer`` of ``coupon`` from state
    ``prev`` to address ``to`` (with an optional declared price), or a ``redeem`` request."""
    _frame_checks(move, time_ms, "holder statement")
    body = _statement_body(op, coupon, prev, to, price)
    _check_statement_body(body)
    signed = frame(
        COUPON_MOVE_PREFIX, move, time_ms, statement_signer(coupon), canonical_json(body)
    )
    return HolderStatement(move, time_ms, op, coupon, prev, to, price, signed, key.sign(signed))


def decode_statement(payload: bytes) -> HolderStatement:
    """Parse a holder statement strictly; :class:`CommerceError` naming the flaw. The signature
    is checked by whoever knows the holder's key (:func:`verify_signature`)."""
    move, time_ms, signer, body, signed, signature = unframe(
        payload,
        COUPON_MOVE_PREFIX,
        "holder statement",
        "not a holder statement (it does not start with FH 01)",
        CommerceError,
    )
    _frame_checks(move, time_ms, "holder statement")
    check_value(body, "holder statement")
    op, coupon, prev, to, price = _check_statement_body(body)
    if signer != statement_signer(coupon):
        raise CommerceError("holder statement: its stream ID does not name its coupon")
    if frame(COUPON_MOVE_PREFIX, move, time_ms, signer, canonical_json(body)) != signed:
        raise CommerceError("holder statement: not in canonical form")
    return HolderStatement(move, time_ms, op, coupon, prev, to, price, signed, signature)


def b64decode_strict(value: str, what: str) -> bytes:
    """Standard base64 with padding, nothing else allowed."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CommerceError(f"{what}: not valid base64") from None
