"""Community entries (``FV 01``) and members' transfer statements (``FW 01``).

Both use the operator-entry framing (:mod:`farmtrace.chain.signed_entry`) with a canonical JSON
body (:mod:`farmtrace.commerce.canonical`); ``docs/community.md`` (section 2) specifies every
field.

* A **community entry** is signed by the operator key of the rules version in force. Its frame's
  signer is ``community.<community ID>`` and its seq the entry's place ``n`` in the community's own
  chain (1, 2, 3...), so a gateway integrates each place once. Its body names the community, the
  previous entry's hash (``prev``), the op and the ``supply`` after it, and exactly the op's
  fields: the inputs of a mint and the tokens ``minted``, a distribution's parts, or a member's
  transfer statement (base64).
* A **transfer statement** is signed by the sender. Its frame's signer is ``member.`` and the
  fingerprint of the sender's key, its seq the sender's move (their transfers so far + 1); its
  ``prev`` is the sender's spend state, the hash of their previous statement (64 zeros for the
  first), so a second statement spending one state is a provable double spend.

This module checks structure (fields, types, hex, addresses); the rules (ranges, sums, the
computations, who signs) are :mod:`farmtrace.commerce.community.replay`'s.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.chain.entry import COMMUNITY_PREFIX, COMMUNITY_TRANSFER_PREFIX
from farmtrace.chain.signed_entry import frame, unframe
from farmtrace.commerce.canonical import MAX_INT, canonical_json, check_value
from farmtrace.commerce.community.rules import validate_address, validate_community_id
from farmtrace.commerce.entries import b64decode_strict, fingerprint, state_of
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import validate_gcn

__all__ = [
    "GENESIS",
    "MAX_BODY",
    "OPS",
    "CommunityEntry",
    "TransferStatement",
    "community_signer",
    "decode_community_entry",
    "decode_transfer",
    "encode_statement",
    "member_signer",
    "sign_community_entry",
    "sign_transfer",
    "statement_of",
]

GENESIS = "0" * 64
"""``prev`` of a community's first entry, and a member's spend state before their first transfer."""
MAX_BODY = 262144
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")

_COMMON = {"community", "prev", "op", "supply"}
_MINT = {"version", "member", "minted"}
_OP_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # op: (required fields beyond the common ones, optional fields)
    "rules": ({"rules", "rules_sha256"}, set()),
    "deposit": (_MINT | {"amount", "payment_sha256"}, set()),
    "service": (_MINT | {"revenue", "ref_sha256"}, {"cost"}),
    "work": (_MINT | {"minutes", "ref_sha256"}, set()),
    "pledge": (_MINT | {"campaign", "pledge", "issue_sha256", "amount"}, set()),
    "transfer": ({"statement"}, set()),
    "distribution": ({"version", "period", "surplus", "parts"}, {"tokens"}),
}
OPS = tuple(_OP_FIELDS)
"""The ops of community entries."""


def community_signer(community: str) -> str:
    """The frame's signer of a community's entries: ``community.<community ID>``."""
    return "community." + community


def member_signer(address: str) -> str:
    """The frame's signer of a member's transfer statements: ``member.<fingerprint>``."""
    return "member." + fingerprint(bytes.fromhex(address))


@dataclass(frozen=True, slots=True)
class CommunityEntry:
    """A decoded community entry (structure checked; rules are the replay's)."""

    n: int  # the frame's seq: the entry's place in the community's chain
    time_ms: int
    signer: str
    community: str
    prev: str
    op: str
    supply: int
    body: dict[str, Any]
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature

    @property
    def hash(self) -> str:
        return state_of(self.payload)


@dataclass(frozen=True, slots=True)
class TransferStatement:
    """A decoded transfer statement: ``sender`` sends ``amount`` tokens to ``to``."""

    move: int  # the frame's seq: the sender's transfers so far + 1
    time_ms: int
    community: str
    sender: str  # the body's ``from``
    to: str
    amount: int
    prev: str  # the sender's spend state this statement spends
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature

    @property
    def hash(self) -> str:
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


def _check_body(body: Any) -> tuple[str, str, str, int]:
    what = "community entry"
    if not isinstance(body, dict):
        raise CommerceError(f"{what}: body is not a JSON object")
    op = _need(body, "op", str, what)
    if op not in _OP_FIELDS:
        raise CommerceError(f"{what}: unknown op {op!r}")
    required, optional = _OP_FIELDS[op]
    what = f"community entry ({op})"
    extra = sorted(set(body) - _COMMON - required - optional)
    if extra:
        raise CommerceError(f"{what}: unknown field {extra[0]!r}")
    missing = sorted((_COMMON | required) - set(body))
    if missing:
        raise CommerceError(f"{what}: field {missing[0]!r} missing")
    community = validate_community_id(body["community"], f"{what}: community")
    prev = _hex(body, "prev", what)
    supply = _need(body, "supply", int, what)
    for key in ("version", "minted", "amount", "revenue", "cost", "minutes", "surplus", "tokens"):
        if key in body:
            _need(body, key, int, what)
    if "member" in body:
        validate_address(body["member"], f"{what}: member")
    for key in ("payment_sha256", "ref_sha256", "issue_sha256", "rules_sha256"):
        if key in body:
            _hex(body, key, what)
    if op == "rules":
        _need(body, "rules", dict, what)
    elif op == "pledge":
        validate_gcn(body["campaign"])
        _hex(body, "pledge", what, _HEX32)
    elif op == "transfer":
        _need(body, "statement", str, what)
    elif op == "distribution":
        period = _need(body, "period", dict, what)
        if set(period) != {"from_ms", "until_ms"}:
            raise CommerceError(f"{what}: period must hold exactly from_ms and until_ms")
        _need(period, "from_ms", int, f"{what}: period")
        _need(period, "until_ms", int, f"{what}: period")
        parts = _need(body, "parts", list, what)
        for i, item in enumerate(parts):
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], str)
                or isinstance(item[1], bool)
                or not isinstance(item[1], int)
            ):
                raise CommerceError(f"{what}: parts[{i}] is not [address, amount]")
            validate_address(item[0], f"{what}: parts[{i}]")
    return op, community, prev, supply


def sign_community_entry(
    n: int, time_ms: int, body: dict[str, Any], key: Ed25519PrivateKey
) -> CommunityEntry:
    """Encode ``body`` (checked as :func:`decode_community_entry` would) as entry ``n`` of its
    community and sign it with the operator's ``key``."""
    _frame_checks(n, time_ms, "community entry")
    check_value(body)
    op, community, prev, supply = _check_body(body)
    data = canonical_json(body)
    if len(data) > MAX_BODY:
        raise CommerceError(f"community entry body is {len(data)} bytes, more than {MAX_BODY}")
    signer = community_signer(community)
    signed = frame(COMMUNITY_PREFIX, n, time_ms, signer, data)
    return CommunityEntry(
        n, time_ms, signer, community, prev, op, supply, body, signed, key.sign(signed)
    )


def decode_community_entry(payload: bytes) -> CommunityEntry:
    """Parse a community entry strictly; :class:`CommerceError` naming the flaw. The signature is
    checked by the replay, which knows the operator key in force."""
    n, time_ms, signer, body, signed, signature = unframe(
        payload,
        COMMUNITY_PREFIX,
        "community",
        "not a community entry (it does not start with FV 01)",
        CommerceError,
    )
    _frame_checks(n, time_ms, "community entry")
    check_value(body, "community entry")
    data = canonical_json(body)
    if len(data) > MAX_BODY:
        raise CommerceError(f"community entry body is {len(data)} bytes, more than {MAX_BODY}")
    if frame(COMMUNITY_PREFIX, n, time_ms, signer, data) != signed:
        raise CommerceError("community entry: not in canonical form")
    op, community, prev, supply = _check_body(body)
    if signer != community_signer(community):
        raise CommerceError("community entry: its signer does not name its community")
    return CommunityEntry(n, time_ms, signer, community, prev, op, supply, body, signed, signature)


def _check_statement(body: Any) -> tuple[str, str, str, int, str]:
    what = "transfer statement"
    if not isinstance(body, dict):
        raise CommerceError(f"{what}: body is not a JSON object")
    keys = {"op", "community", "from", "to", "amount", "prev"}
    extra = sorted(set(body) - keys)
    if extra:
        raise CommerceError(f"{what}: unknown field {extra[0]!r}")
    if body.get("op") != "transfer":
        raise CommerceError(f"{what}: op must be transfer")
    community = validate_community_id(body.get("community"), f"{what}: community")
    sender = validate_address(body.get("from"), f"{what}: from")
    to = validate_address(body.get("to"), f"{what}: to")
    amount = _need(body, "amount", int, what)
    prev = _hex(body, "prev", what)
    return community, sender, to, amount, prev


def sign_transfer(
    move: int,
    time_ms: int,
    community: str,
    to: str,
    amount: int,
    prev: str,
    key: Ed25519PrivateKey,
) -> TransferStatement:
    """The sender (``key``) sends ``amount`` tokens to address ``to``, spending their spend state
    ``prev`` as their ``move``-th transfer."""
    _frame_checks(move, time_ms, "transfer statement")
    sender = key.public_key().public_bytes_raw().hex()
    body = {
        "op": "transfer",
        "community": community,
        "from": sender,
        "to": to,
        "amount": amount,
        "prev": prev,
    }
    check_value(body, "transfer statement")
    _check_statement(body)
    signed = frame(
        COMMUNITY_TRANSFER_PREFIX, move, time_ms, member_signer(sender), canonical_json(body)
    )
    return TransferStatement(
        move, time_ms, community, sender, to, amount, prev, signed, key.sign(signed)
    )


def decode_transfer(payload: bytes) -> TransferStatement:
    """Parse a transfer statement strictly; the signature is checked against ``from`` by the
    replay."""
    move, time_ms, signer, body, signed, signature = unframe(
        payload,
        COMMUNITY_TRANSFER_PREFIX,
        "transfer statement",
        "not a transfer statement (it does not start with FW 01)",
        CommerceError,
    )
    _frame_checks(move, time_ms, "transfer statement")
    check_value(body, "transfer statement")
    community, sender, to, amount, prev = _check_statement(body)
    if signer != member_signer(sender):
        raise CommerceError("transfer statement: its signer does not name its sender")
    if frame(COMMUNITY_TRANSFER_PREFIX, move, time_ms, signer, canonical_json(body)) != signed:
        raise CommerceError("transfer statement: not in canonical form")
    return TransferStatement(move, time_ms, community, sender, to, amount, prev, signed, signature)


def statement_of(entry: CommunityEntry) -> TransferStatement:
    """The transfer statement a ``transfer`` entry carries (strict base64, strict decoding)."""
    return decode_transfer(b64decode_strict(entry.body["statement"], "statement"))


def encode_statement(statement: TransferStatement) -> str:
    """The ``statement`` field of a ``transfer`` entry: standard padded base64."""
    return base64.b64encode(statement.payload).decode("ascii")
