"""``farmtrace verify`` for a member's community statement bundle
(``farmtrace-community-statement/v1``, ``docs/community.md`` section 5), offline, plain Python
only (``farmtrace.tlog`` and the one rules engine,
:class:`~farmtrace.commerce.community.replay.CommunityReplay`; no Rust, no network).

Checked, in order, stopping at the first failure with a :class:`BundleError` naming the item:

1. ``format``, ``community`` (an ID), ``member`` (an address), ``operator_key`` (32 bytes);
2. each chain's checkpoint and each block header in its chain log (as for a lot bundle:
   :mod:`farmtrace.api.services.bundle_proofs`);
3. each entry decodes strictly; each anchored entry is in its block's batch tree at the stated
   place (pending entries are counted, not proven);
4. the replay, with ``operator_key``, of the entries in bundle order (the first must be entry
   1): signatures, the hash chain, every mint recomputed from its inputs and the rules in force,
   every transfer's signature and spend state, every distribution's parts by the rounding rule,
   and the supply after each entry;
5. the member was credited at least once; their balance, spend state, moves, history and their
   part of each distribution are reported.

A bundle proves what it holds: entries 1..N. An entry N+1 may exist; a newer bundle would hold it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from farmtrace.api.services.bundle_proofs import (
    BundleError,
    check_blocks,
    check_checkpoints,
    check_inclusion,
    get_field,
)
from farmtrace.commerce.community.entries import CommunityEntry, decode_community_entry
from farmtrace.commerce.community.replay import CommunityReplay
from farmtrace.commerce.community.rules import validate_address, validate_community_id
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.replay import Violation
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.policy import Policy

__all__ = ["COMMUNITY_STATEMENT", "StatementSummary", "verify_statement"]

COMMUNITY_STATEMENT = "farmtrace-community-statement/v1"
ANCHORED = "anchored"
PENDING = "pending-anchoring"


@dataclass
class StatementSummary:
    """What a statement bundle was found to prove about its member."""

    community: str
    member: str
    entries: int = 0
    anchored: int = 0
    pending: int = 0
    version: int = 0
    supply: int = 0
    holders: int = 0
    currency: str = ""
    balance: int = 0
    spend_state: str = ""
    moves: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    distributions: list[dict[str, Any]] = field(default_factory=list)

    def verdict(self) -> str:
        """One line for the end of ``farmtrace verify``."""
        parts = self.distributions
        shares = ", ".join(
            f"{d['kind']} {d['part']}"
            + (f" {self.currency} minor units" if d["kind"] == "dividend" else " tokens")
            for d in parts
        )
        return (
            f"community statement verifies: community {self.community}, entries "
            f"1..{self.entries} ({self.anchored} anchored, {self.pending} pending), rules "
            f"version {self.version}, supply {self.supply}, {self.holders} members; member "
            f"{fingerprint(bytes.fromhex(self.member))} balance {self.balance}, {len(parts)} "
            f"distribution part{'' if len(parts) == 1 else 's'}"
            + (f" ({shares})" if shares else "")
        )


def verify_statement(
    bundle: dict[str, Any],
    verifiers: list[Verifier],
    ok: Callable[[str], None],
    policy: Policy | None = None,
) -> StatementSummary:
    """Check a parsed statement bundle against the verifier keys; raise :class:`BundleError`."""
    fmt = get_field(bundle, "format", str, "bundle")
    if fmt != COMMUNITY_STATEMENT:
        raise BundleError(f"bundle format is {fmt!r}, expected {COMMUNITY_STATEMENT!r}")
    try:
        community = validate_community_id(bundle.get("community"), "bundle: field 'community'")
        member = validate_address(bundle.get("member"), "bundle: field 'member'")
    except CommerceError as exc:
        raise BundleError(str(exc)) from None
    operator_key = _key(bundle)
    ok(
        f"community statement for member {fingerprint(bytes.fromhex(member))} of community "
        f"{community}; operator key {fingerprint(operator_key)}"
    )
    summary = StatementSummary(community, member)
    checkpoints, trusted = check_checkpoints(bundle, verifiers, ok, policy)
    headers = check_blocks(bundle, checkpoints, trusted, ok)
    items = get_field(bundle, "entries", list, "bundle")
    if not items:
        raise BundleError("bundle: no community entries (entry 1, the rules, is missing)")
    entries: list[CommunityEntry] = []
    for i, item in enumerate(items):
        what = f"entries[{i}]"
        payload = _b64(get_field(item, "entry", str, what), what)
        try:
            entry = decode_community_entry(payload)
        except CommerceError as exc:
            raise BundleError(f"{what}: community entry does not decode: {exc}") from None
        what = f"community entry {entry.n} ({entry.op}) at {what}"
        status = get_field(item, "status", str, what)
        if status == PENDING:
            summary.pending += 1
        elif status == ANCHORED:
            check_inclusion(item, what, entry.payload, headers)
            summary.anchored += 1
        else:
            raise BundleError(f"{what}: unknown status {status!r}")
        entries.append(entry)
    ok(
        f"{len(entries)} community entries: each decodes; {summary.anchored} in their block's "
        f"batch tree (RFC 9162 inclusion), {summary.pending} pending anchoring (signed, not yet "
        "proven on a chain)"
    )
    replay = CommunityReplay(operator_key)
    try:
        for entry in entries:
            replay.apply(entry)
    except Violation as exc:
        raise BundleError(str(exc)) from None
    if community != replay.community:
        raise BundleError(
            f"community entry 1 (rules): founds community {replay.community}, not {community}"
        )
    rules = replay.rules
    assert rules is not None
    summary.entries = replay.n
    summary.version = rules.version
    summary.supply = replay.supply
    summary.holders = replay.holders
    summary.currency = rules.currency
    ok(
        f"entries 1..{replay.n} replayed with the rules (docs/community.md section 4): each "
        f"signed by the operator key in force and naming the one before (head {replay.head}); "
        f"every mint recomputed from its inputs, every transfer's signature and spend state, "
        f"{len(replay.distributions)} distributions' parts by the rounding rule; supply "
        f"{replay.supply} = the sum of {len(replay.members)} balances; rules version "
        f"{rules.version} in force; an entry {replay.n + 1} may exist beyond the bundle"
    )
    if member not in replay.members:
        raise BundleError(
            f"member {fingerprint(bytes.fromhex(member))}: no entry of the bundle credits or "
            "debits this address"
        )
    view = replay.member_view(member)
    summary.balance = view["balance"]
    summary.spend_state = view["spend_state"]
    summary.moves = view["moves"]
    summary.history = view["history"]
    summary.distributions = view["distributions"]
    ok(
        f"member {view['fingerprint']}: balance {summary.balance}, spend state "
        f"{summary.spend_state}, {summary.moves} transfers sent"
    )
    for line in summary.history:
        ok(f"  entry {line['n']} {line['op']}: {line['delta']:+d} tokens {_detail(line)}")
    for part in summary.distributions:
        unit = f"{rules.currency} minor units" if part["kind"] == "dividend" else "tokens"
        ok(
            f"  distribution at entry {part['n']} ({part['kind']}): part {part['part']} of "
            f"{part['total']} {unit}"
        )
    return summary


def _detail(line: dict[str, Any]) -> str:
    detail = line["detail"]
    if not detail:
        return ""
    return "(" + ", ".join(f"{k} {_short(v)}" for k, v in sorted(detail.items())) + ")"


def _short(value: object) -> str:
    if isinstance(value, str) and len(value) == 64:
        try:
            return fingerprint(bytes.fromhex(value))
        except ValueError:
            return value
    return str(value)


def _key(bundle: dict[str, Any]) -> bytes:
    value = get_field(bundle, "operator_key", str, "bundle")
    key = _b64(value, "bundle: field 'operator_key'")
    if len(key) != 32:
        raise BundleError("bundle: field 'operator_key' is not a 32-byte Ed25519 public key")
    return key


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what}: not valid base64") from None
