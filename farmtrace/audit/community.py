"""Auditing value communities: replay every community from the database and cross-check it.

For each community (``communities`` by ID) the audit reads its ``community_entries`` in
``eseq`` order, decodes them (:mod:`farmtrace.commerce.community.entries`) and feeds them to
the one rules engine, :class:`~farmtrace.commerce.community.replay.CommunityReplay`, with the
operator key the key history records for the community (kind ``community``): every signature
(operator and member), the hash chain, every mint recomputed from its inputs and the rules in
force, every transfer's spend state and balance, every distribution's parts by the rounding
rule, and the supply after each entry. A ``pledge`` input is also checked against the campaign
it names: the campaign's ``issue`` entry with the stated hash exists, issues that pledge to the
member, and its coupons at the terms' price are the amount minted on. The first broken rule is
named (``community X: community entry n (op): reason``).

Then what the API keeps beside the signed entries must agree with them:

* each stored entry's columns (eseq, op, signer, seq, time, state) equal what its bytes say;
* the ``communities`` row (operator, operator key, rules version, eseq, head, supply, member
  count) equals the replay's result, and the supply equals the sum of the stored balances;
* ``community_rules`` holds each published version (its canonical bytes, hash, first entry);
* each ``community_members`` row (balance, spend state, moves) equals the replay's member, and
  no row exists that no entry made; ``community_postings`` are exactly the replay's balance
  changes; ``community_transfers`` exactly its transfers;
* each entry is queued in ``pending_entries`` with the very same bytes and, once anchored, the
  chain holds those bytes under its signer and seq; every community entry on a chain or queued
  for one is stored (nothing removed).

The first failure is raised as :class:`CommunityFailure`.
"""

from __future__ import annotations

import base64
from contextlib import suppress
from dataclasses import dataclass

from farmtrace.chain.entry import COMMUNITY, kind_of
from farmtrace.commerce.community.entries import (
    CommunityEntry,
    community_signer,
    decode_community_entry,
    statement_of,
)
from farmtrace.commerce.community.pledges import campaign_pledge_check
from farmtrace.commerce.community.replay import CommunityReplay, PledgeCheck
from farmtrace.commerce.entries import CampaignEntry, decode_campaign_entry
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.replay import Violation
from farmtrace.store.audit_reads import AuditReads
from farmtrace.store.communities import CommunityAuditRows, CommunityHead, PostingRecord

__all__ = ["CommunityAuditSummary", "CommunityFailure", "audit_communities"]


class CommunityFailure(Exception):
    """``item`` (a community, one of its entries or rows) failed for ``reason``."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item, self.reason = item, reason


@dataclass
class CommunityAuditSummary:
    """What the community audit checked."""

    communities: int = 0
    entries: int = 0
    mints: int = 0
    transfers: int = 0
    distributions: int = 0
    anchored: int = 0
    pending: int = 0

    def text(self) -> str:
        communities = "community" if self.communities == 1 else "communities"
        return (
            f"{self.communities} {communities} ({_count(self.entries, 'entry', 'entries')}: "
            f"{_count(self.mints, 'mint')}, {_count(self.transfers, 'transfer')}, "
            f"{_count(self.distributions, 'distribution')}) replayed under their rules, every "
            f"mint and part recomputed; {self.anchored} of their entries anchored, "
            f"{self.pending} waiting for a block"
        )


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def audit_communities(reads: AuditReads, summary: CommunityAuditSummary) -> None:
    """Run the checks of the module docstring, filling ``summary``; raise
    :class:`CommunityFailure` at the first failure."""
    rows = reads.communities()
    communities = rows.communities()
    operator_keys: dict[str, bytes] = {}
    for _, kind, scope, public_key, _key_id in reads.signing_keys():
        if kind == "community" and scope not in operator_keys:
            operator_keys[scope] = base64.b64decode(public_key)
    anchored = rows.anchored(COMMUNITY)
    pending = {
        (device_id, seq): payload
        for device_id, seq, _, payload in reads.pending()
        if kind_of(payload) == COMMUNITY
    }
    pledges = campaign_pledge_check(_campaign_entries(reads) if communities else [])
    accounted: set[tuple[str, int]] = set()
    for head in communities:
        _audit_one(rows, head, operator_keys, pledges, anchored, pending, accounted, summary)
        summary.communities += 1
    for (signer, seq), (chain_id, index, _) in sorted(anchored.items()):
        if (signer, seq) not in accounted:
            raise CommunityFailure(
                f"entry {index} of chain {chain_id} (signer {signer} seq {seq})",
                "is a community entry on the chain that no community stores (its row was removed)",
            )
    for signer, seq in sorted(pending):
        if (signer, seq) not in accounted:
            raise CommunityFailure(
                f"pending entry (signer {signer} seq {seq})",
                "is a community entry queued for the chain that no community stores (its row "
                "was removed)",
            )


def _campaign_entries(reads: AuditReads) -> list[CampaignEntry]:
    """Every campaign's ``open`` and ``issue`` entries: what a ``pledge`` input may name."""
    found: list[CampaignEntry] = []
    for campaign in reads.campaigns():
        for _, op, _, _, _, _, payload in reads.campaign_entries(campaign.id):
            if op in ("open", "issue"):
                with suppress(CommerceError):  # the campaign audit names it
                    found.append(decode_campaign_entry(payload))
    return found


def _audit_one(
    rows: CommunityAuditRows,
    head: CommunityHead,
    operator_keys: dict[str, bytes],
    pledges: PledgeCheck,
    anchored: dict[tuple[str, int], tuple[int, int, bytes]],
    pending: dict[tuple[str, int], bytes],
    accounted: set[tuple[str, int]],
    summary: CommunityAuditSummary,
) -> None:
    name = f"community {head.community}"
    stored = rows.entries(head.id)
    if not stored:
        raise CommunityFailure(name, "has no entries (its rules entry was removed)")
    key = operator_keys.get(head.community)
    if key is None:
        raise CommunityFailure(name, "has no operator key in the key history")
    replay = CommunityReplay(key, pledge_check=pledges)
    entries: list[CommunityEntry] = []
    for row in stored:
        item = f"{name}: community entry {row.eseq} ({row.op})"
        try:
            entry = decode_community_entry(row.payload)
        except CommerceError as exc:
            raise CommunityFailure(item, f"does not decode: {exc}") from None
        for column, value, signed in (
            ("eseq", row.eseq, entry.n),
            ("op", row.op, entry.op),
            ("signer", row.signer, entry.signer),
            ("seq", row.seq, entry.n),
            ("time_ms", row.time_ms, entry.time_ms),
            ("state", row.state, entry.hash),
            ("community", head.community, entry.community),
        ):
            if value != signed:
                raise CommunityFailure(
                    item, f"column {column}={value!r} but the signed entry says {signed!r}"
                )
        try:
            replay.apply(entry)
        except Violation as exc:
            raise CommunityFailure(f"{name}: {exc.item}", exc.reason) from None
        entries.append(entry)
        _check_queued(item, (row.signer, row.seq), row.payload, anchored, pending, summary)
        accounted.add((row.signer, row.seq))
    _check_rows(name, rows, head, replay, entries, key)
    summary.entries += len(entries)
    summary.mints += sum(1 for e in entries if e.op in ("deposit", "service", "work", "pledge"))
    summary.transfers += sum(1 for e in entries if e.op == "transfer")
    summary.distributions += len(replay.distributions)


def _check_rows(
    name: str,
    rows: CommunityAuditRows,
    head: CommunityHead,
    replay: CommunityReplay,
    entries: list[CommunityEntry],
    key: bytes,
) -> None:
    rules = replay.rules
    assert rules is not None
    for column, value, expected in (
        ("operator", head.operator, community_signer(head.community)),
        ("operator_key", head.operator_key, key.hex()),
        ("rules_version", head.rules_version, rules.version),
        ("eseq", head.eseq, replay.n),
        ("head", head.head, replay.head),
        ("supply", head.supply, replay.supply),
        ("members", head.members, replay.holders),
    ):
        if value != expected:
            raise CommunityFailure(
                name,
                f"its communities row says {column}={value!r}, but replaying its entries gives "
                f"{expected!r}",
            )
    members = rows.members(head.id)
    total = sum(m.balance for m in members)
    if total != replay.supply:
        raise CommunityFailure(
            name, f"the stored balances sum to {total}, not the supply {replay.supply}"
        )
    stored_rules = rows.rules(head.id)
    expected_rules = [(r.version, r.canonical, r.sha256, n + 1) for n, r in replay.versions]
    got_rules = [(r.version, r.document, r.sha256, r.from_eseq) for r in stored_rules]
    if got_rules != expected_rules:
        first = next(
            (i for i, (a, b) in enumerate(zip(got_rules, expected_rules, strict=False)) if a != b),
            min(len(got_rules), len(expected_rules)),
        )
        raise CommunityFailure(
            f"{name}: rules version {first + 1}",
            "its community_rules row is not the version its rules entry published",
        )
    by_address = {m.address: m for m in members}
    for address, member in sorted(replay.members.items()):
        item = f"{name}: member {address}"
        found = by_address.pop(address, None)
        if found is None:
            raise CommunityFailure(item, "holds tokens by the entries but has no members row")
        for column, value, expected in (
            ("balance", found.balance, member.balance),
            ("state", found.state, member.spend_state),
            ("moves", found.moves, member.moves),
        ):
            if value != expected:
                raise CommunityFailure(
                    item,
                    f"its community_members row says {column}={value!r}, but replaying the "
                    f"entries gives {expected!r}",
                )
    if by_address:
        raise CommunityFailure(
            f"{name}: member {min(by_address)}", "has a members row, but no entry made it"
        )
    ops = {e.n: e.op for e in entries}
    expected_postings = sorted(
        (line.n, address, line.delta, ops[line.n])
        for address, member in replay.members.items()
        for line in member.history
        if line.delta
    )
    got_postings = sorted(_posting(p) for p in rows.postings(head.id))
    if got_postings != expected_postings:
        difference = sorted(set(got_postings) ^ set(expected_postings))
        n, address, delta, op = difference[0] if difference else got_postings[0]
        raise CommunityFailure(
            f"{name}: posting of entry {n} ({op}) to {address}",
            f"community_postings and the replayed balance changes differ (delta {delta})",
        )
    expected_transfers = []
    for entry in entries:
        if entry.op == "transfer":
            s = statement_of(entry)
            expected_transfers.append((entry.n, s.sender, s.prev, s.to, s.amount))
    got_transfers = [
        (n, t.sender, t.prev, t.recipient, t.amount) for n, t in rows.transfers(head.id)
    ]
    if got_transfers != expected_transfers:
        odd = sorted(set(got_transfers) ^ set(expected_transfers))
        n = odd[0][0] if odd else 0
        raise CommunityFailure(
            f"{name}: transfer at entry {n}",
            "community_transfers and the replayed transfer entries differ",
        )


def _posting(p: PostingRecord) -> tuple[int, str, int, str]:
    return (p.eseq, p.address, p.delta, p.op)


def _check_queued(
    item: str,
    key: tuple[str, int],
    payload: bytes,
    anchored: dict[tuple[str, int], tuple[int, int, bytes]],
    pending: dict[tuple[str, int], bytes],
    summary: CommunityAuditSummary,
) -> None:
    """The entry under ``key`` (signer, seq) is queued with these bytes and, once anchored,
    the chain holds these bytes."""
    on_chain = anchored.get(key)
    queued = pending.get(key)
    if on_chain is not None:
        chain_id, index, found = on_chain
        if found != payload:
            raise CommunityFailure(
                item,
                f"differs from entry {index} of chain {chain_id}, anchored under its signer "
                f"{key[0]} and seq {key[1]}",
            )
        summary.anchored += 1
    else:
        summary.pending += 1
    if queued is not None and queued != payload:
        raise CommunityFailure(item, "differs from its pending entry (signer and seq)")
    if on_chain is None and queued is None:
        raise CommunityFailure(
            item, "is neither on a chain nor queued for one (its pending entry was removed)"
        )
