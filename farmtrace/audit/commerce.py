"""Auditing campaigns and coupons: replay every campaign from the database and cross-check it.

For each campaign (``campaigns`` by ID), the audit reads its ``campaign_entries`` in ``cseq``
order and its coupons' transfers (``coupon_moves`` with op ``transfer``), decodes them
(:mod:`farmtrace.commerce.entries`) and feeds them to the reference rules,
:class:`~farmtrace.commerce.replay.CampaignReplay`, with the farm key the key history records
under the ``open`` entry's signer (kind ``farm``). The replay checks every farm and holder
signature (each once), the campaign's and each coupon's hash chain, the caps and the order of
operations, and names the first broken rule: a second statement spending a state already spent
is a double spend even when the database's unique constraint was removed to store it.

Then what the API keeps beside the signed entries must agree with them:

* each stored entry's and transfer's columns equal what its signed bytes say;
* each is queued in ``pending_entries`` with the very same bytes, and, once anchored, the
  chain's entry under its signer and seq (``entries.device_id``, ``entries.seq``) holds them;
  every campaign entry or transfer on a chain or queued for one is stored (nothing removed);
* the ``campaigns`` row (terms, signer, head, cseq, status, totals, harvest, shortfall) equals
  the replay's result; each ``coupons`` row (holder, state, status, moves, pledge) and each
  coupon's ``coupon_moves`` (transfers, then a redemption or a void) equal the coupon's replayed
  history, and no coupon or move exists that no entry made;
* the farm key's scope in the key history is the farm the terms name.

The first failure is raised as :class:`CommerceFailure`. Reads are per campaign (entries,
coupons and moves in one query each) plus one read of the anchored and queued commerce entries,
so the audit's cost follows the number of coupons and moves, not queries per coupon.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from farmtrace import rust_core
from farmtrace.chain.entry import CAMPAIGN, COUPON_MOVE, kind_of
from farmtrace.commerce.entries import (
    CampaignEntry,
    HolderStatement,
    b64decode_strict,
    decode_campaign_entry,
    decode_statement,
    statement_signer,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.replay import CampaignReplay, CouponState, Violation
from farmtrace.store.audit_reads import AuditReads, MoveRowRead
from farmtrace.store.campaigns import CampaignHead, CouponRecord

__all__ = ["CommerceFailure", "CommerceSummary", "audit_commerce"]

_COMMERCE_KINDS = (CAMPAIGN, COUPON_MOVE)
_ADDRESS = re.compile(r"[0-9a-f]{64}")


class CommerceFailure(Exception):
    """``item`` (a campaign, one of its entries, a coupon or a move) failed for ``reason``."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item, self.reason = item, reason


@dataclass
class CommerceSummary:
    """What the commerce audit checked: campaigns, their entries (each signed by the farm key),
    coupons, holder-signed transfers and redemptions, how many signatures were checked (each
    once), and how many of the entries and transfers are anchored on a chain or still queued
    for one."""

    campaigns: int = 0
    campaign_entries: int = 0
    coupons: int = 0
    transfers: int = 0
    redemptions: int = 0
    signatures: int = 0
    anchored: int = 0
    pending: int = 0

    def text(self) -> str:
        return (
            f"{self.campaigns} campaigns ({self.campaign_entries} entries), {self.coupons} "
            f"coupons, {self.transfers} transfers and {self.redemptions} redemptions replayed "
            f"({self.signatures} signatures checked); {self.anchored} of their entries "
            f"anchored, {self.pending} waiting for a block"
        )


@dataclass
class _Context:
    farm_keys: dict[str, tuple[str, bytes]]  # signer -> (farm, public key)
    anchored: dict[tuple[str, int], tuple[int, int, bytes]]
    pending: dict[tuple[str, int], bytes]
    accounted: set[tuple[str, int]]
    summary: CommerceSummary


def audit_commerce(reads: AuditReads, summary: CommerceSummary) -> None:
    """Run the checks of the module docstring, filling ``summary``; raise
    :class:`CommerceFailure` at the first failure."""
    farm_keys: dict[str, tuple[str, bytes]] = {}
    for _, kind, scope, public_key, key_id in reads.signing_keys():
        if kind == "farm":
            farm_keys[key_id] = (scope, base64.b64decode(public_key))
    pending = {
        (device_id, seq): payload
        for device_id, seq, _, payload in reads.pending()
        if kind_of(payload) in _COMMERCE_KINDS
    }
    ctx = _Context(farm_keys, reads.commerce_entries(), pending, set(), summary)
    for row in reads.campaigns():
        _audit_campaign(reads, row, ctx)
        summary.campaigns += 1
    for (device_id, seq), (chain_id, index, _) in sorted(ctx.anchored.items()):
        if (device_id, seq) not in ctx.accounted:
            raise CommerceFailure(
                f"entry {index} of chain {chain_id} (signer {device_id} seq {seq})",
                "is a campaign entry or coupon transfer on the chain that no campaign stores "
                "(its row was removed)",
            )
    for device_id, seq in sorted(ctx.pending):
        if (device_id, seq) not in ctx.accounted:
            raise CommerceFailure(
                f"pending entry (signer {device_id} seq {seq})",
                "is a campaign entry or coupon transfer queued for the chain that no campaign "
                "stores (its row was removed)",
            )


def _audit_campaign(reads: AuditReads, row: CampaignHead, ctx: _Context) -> None:
    name = f"campaign {row.gcn}"
    stored = reads.campaign_entries(row.id)
    if not stored:
        raise CommerceFailure(name, "has no entries (its open entry was removed)")
    entries = [_decode_entry(name, row.gcn, stored_row) for stored_row in stored]
    opening = entries[0]
    found = ctx.farm_keys.get(opening.signer)
    if found is None:
        raise CommerceFailure(
            f"{name} entry {opening.cseq} ({opening.op})",
            f"its signer {opening.signer} has no farm key in the key history",
        )
    farm, public_key = found
    moves = reads.coupon_moves(row.id)
    transfers = [
        (move, _decode_transfer(name, row.gcn, move)) for move in moves if move.op == "transfer"
    ]
    verify = _BatchVerified(_signature_claims(public_key, entries, [s for _, s in transfers]))
    replay = CampaignReplay(public_key, verify=verify)
    with _judged(name):
        for _, statement in transfers:
            replay.add_transfer(statement)
        for entry in entries:
            replay.apply(entry)
        replay.finish()
    terms = replay.terms
    assert terms is not None  # the replay's first entry opened the campaign
    if terms.farm != farm:
        raise CommerceFailure(
            f"{name} entry 1 (open)",
            f"signed by {opening.signer}, the key history's farm key of {farm!r}, but its "
            f"terms name farm {terms.farm!r}",
        )
    _check_campaign_row(name, row, replay, opening.signer)
    _check_coupons(name, row.gcn, entries, replay, reads.coupons(row.id), moves)
    for cseq, op, signer, seq, _, _, payload in stored:
        _check_queued(f"{name} entry {cseq} ({op})", (signer, seq), payload, ctx)
    for move, statement in transfers:
        item = f"{name}: transfer of coupon {statement.coupon} move {move.move}"
        _check_queued(item, (statement_signer(statement.coupon), move.move), statement.payload, ctx)
    summary = ctx.summary
    summary.campaign_entries += len(entries)
    summary.coupons += len(replay.coupons)
    summary.transfers += replay.transfers_applied
    summary.redemptions += replay.totals.redeemed
    summary.signatures += verify.checked


class _BatchVerified:
    """The replay's signature check (:data:`~farmtrace.commerce.replay.SignatureCheck`) over
    claims checked beforehand in one ``rust_core`` call, which gives ``cryptography``'s verdicts
    several times faster; a claim the batch did not hold is checked on its own. Each claim is
    answered once, so no signature is checked twice."""

    def __init__(self, claims: list[tuple[bytes, bytes, bytes]]) -> None:
        failed = set(rust_core.verify_ed25519(claims))
        self._verdicts = {claim: i not in failed for i, claim in enumerate(claims)}
        self.checked = len(claims)

    def __call__(self, public_key: bytes, signed: bytes, signature: bytes) -> bool:
        verdict = self._verdicts.pop((public_key, signed, signature), None)
        if verdict is None:
            self.checked += 1
            return verify_signature(public_key, signed, signature)
        return verdict


def _signature_claims(
    farm_key: bytes, entries: list[CampaignEntry], transfers: list[HolderStatement]
) -> list[tuple[bytes, bytes, bytes]]:
    """The signatures the replay will ask about, as far as the stored history foretells them:
    every entry by the farm key, and each holder statement by the holder of the state it
    spends (the issue's holder, or the ``to`` of the transfer that made that state). This only
    batches the work; the replay decides which key must have signed what, and a claim
    foretold wrongly is simply checked again the replay's way."""
    claims = [(farm_key, e.signed_bytes, e.signature) for e in entries]
    holders: dict[str, str] = {}
    redeems: list[HolderStatement] = []
    for entry in entries:
        if entry.op == "issue":
            holders[entry.state] = entry.body["holder"]
        elif entry.op == "redeem":
            with suppress(CommerceError):
                redeems.append(
                    decode_statement(b64decode_strict(entry.body["statement"], "statement"))
                )
    for statement in transfers:
        if statement.to is not None:
            holders[statement.state] = statement.to
    for statement in (*transfers, *redeems):
        holder = holders.get(statement.prev)
        if holder is not None and _ADDRESS.fullmatch(holder):
            claims.append((bytes.fromhex(holder), statement.signed_bytes, statement.signature))
    return claims


@contextmanager
def _judged(name: str) -> Iterator[None]:
    """A broken rule the replay names, as the audit's failure in campaign ``name``."""
    try:
        yield
    except Violation as exc:
        raise CommerceFailure(f"{name}: {exc.item}", exc.reason) from None


def _decode_entry(
    name: str, gcn: str, stored: tuple[int, str, str, int, int, str, bytes]
) -> CampaignEntry:
    cseq, op, signer, seq, time_ms, state, payload = stored
    item = f"{name} entry {cseq} ({op})"
    try:
        entry = decode_campaign_entry(payload)
    except CommerceError as exc:
        raise CommerceFailure(item, f"does not decode: {exc}") from None
    for column, value, signed in (
        ("cseq", cseq, entry.cseq),
        ("op", op, entry.op),
        ("signer", signer, entry.signer),
        ("seq", seq, entry.seq),
        ("time_ms", time_ms, entry.time_ms),
        ("state", state, entry.state),
        ("campaign", gcn, entry.campaign),
    ):
        if value != signed:
            raise CommerceFailure(
                item, f"column {column}={value!r} but the signed entry says {signed!r}"
            )
    return entry


def _decode_transfer(name: str, gcn: str, move: MoveRowRead) -> HolderStatement:
    coupon = coupon_id(gcn, move.serial)
    item = f"{name}: transfer of coupon {coupon} move {move.move}"
    if move.payload is None:
        raise CommerceFailure(item, "stores no holder statement")
    try:
        statement = decode_statement(move.payload)
    except CommerceError as exc:
        raise CommerceFailure(item, f"does not decode: {exc}") from None
    for column, value, signed in (
        ("coupon", coupon, statement.coupon),
        ("move", move.move, statement.move),
        ("prev", move.prev, statement.prev),
        ("state", move.state, statement.state),
        ("holder", move.holder, statement.to),
        ("price", _price(move), statement.price),
        ("time_ms", move.time_ms, statement.time_ms),
    ):
        if value != signed:
            raise CommerceFailure(
                item, f"column {column}={value!r} but the signed statement says {signed!r}"
            )
    return statement


def _price(move: MoveRowRead) -> tuple[int, str] | None:
    if move.price_amount is None and move.price_currency is None:
        return None
    return (move.price_amount, move.price_currency)  # type: ignore[return-value]


def _check_campaign_row(name: str, row: CampaignHead, replay: CampaignReplay, signer: str) -> None:
    terms = replay.terms
    assert terms is not None
    totals = replay.totals
    shortfall = None if replay.shortfall is None else dataclasses.asdict(replay.shortfall)
    stored_shortfall: object = row.shortfall
    if row.shortfall is not None:
        with suppress(ValueError):
            stored_shortfall = json.loads(row.shortfall)
    for column, stored, expected in (
        ("gcn", row.gcn, terms.campaign),
        ("farm", row.farm, terms.farm),
        ("gtin", row.gtin, terms.gtin),
        ("lot", row.lot, terms.lot),
        ("terms", row.terms, terms.canonical().decode("utf-8")),
        ("cap", row.cap, terms.cap),
        ("target", row.target, terms.target),
        ("signer", row.signer, signer),
        ("cseq", row.cseq, replay.cseq),
        ("head", row.head, replay.head),
        ("status", row.status, replay.status),
        ("issued", row.issued, totals.issued),
        ("redeemed", row.redeemed, totals.redeemed),
        ("voided", row.voided, totals.voided),
        ("harvested", row.harvested, replay.harvested),
        ("shortfall", stored_shortfall, shortfall),
    ):
        if stored != expected:
            raise CommerceFailure(
                name,
                f"its campaigns row says {column}={stored!r}, but replaying its entries gives "
                f"{expected!r}",
            )


def _check_coupons(
    name: str,
    gcn: str,
    entries: list[CampaignEntry],
    replay: CampaignReplay,
    rows: list[CouponRecord],
    moves: list[MoveRowRead],
) -> None:
    """Each ``coupons`` row and each coupon's moves against its replayed history."""
    issued_at: dict[int, str] = {}
    by_state: dict[str, CampaignEntry] = {}
    for entry in entries:
        state = entry.state
        by_state[state] = entry
        if entry.op == "issue":
            first, count = entry.body["first"], entry.body["count"]
            for serial in range(first, first + count):
                issued_at[serial] = state
    stored = {r.serial: r for r in rows}
    moves_of: dict[int, list[MoveRowRead]] = defaultdict(list)
    for move in moves:
        moves_of[move.serial].append(move)
    for serial, coupon in sorted(replay.coupons.items()):
        item = f"{name}: coupon {coupon.coupon}"
        found = stored.pop(serial, None)
        if found is None:
            raise CommerceFailure(item, "was issued by a campaign entry but has no coupons row")
        spends = len(coupon.history) - 1
        for column, value, expected in (
            ("holder", found.holder, coupon.holder),
            ("state", found.state, coupon.state),
            ("status", found.status, coupon.status),
            ("moves", found.moves, spends),
            ("pledge_id", found.pledge, coupon.pledge),
        ):
            if value != expected:
                raise CommerceFailure(
                    item,
                    f"its coupons row says {column}={value!r}, but replaying its history gives "
                    f"{expected!r}",
                )
        _check_moves(item, coupon, issued_at[serial], moves_of.pop(serial, []), by_state)
    if stored:
        serial = min(stored)
        raise CommerceFailure(
            f"{name}: coupon {coupon_id(gcn, serial)}",
            "has a coupons row, but no campaign entry issued it",
        )
    if moves_of:
        serial = min(moves_of)
        raise CommerceFailure(
            f"{name}: coupon {coupon_id(gcn, serial)} move {moves_of[serial][0].move}",
            "is stored in coupon_moves, but no entry issued the coupon",
        )


def _check_moves(
    item: str,
    coupon: CouponState,
    issue_state: str,
    rows: list[MoveRowRead],
    by_state: dict[str, CampaignEntry],
) -> None:
    """The coupon's stored moves are its replayed history after the issue: the same spends in
    the same order, each naming the state before it. Only a coupon's last spend can be a
    redemption or a void (they end its chain), so its state is the coupon's final state."""
    history = coupon.history[1:]
    previous = issue_state
    for number, (kind, payload) in enumerate(history, 1):
        if number > len(rows):
            raise CommerceFailure(
                f"{item} move {number} ({kind})", "is in its history but not in coupon_moves"
            )
        row = rows[number - 1]
        where = f"{item} move {row.move} ({row.op})"
        if row.move != number or row.op != kind:
            raise CommerceFailure(
                where, f"is stored where its replayed history has move {number} ({kind})"
            )
        if row.prev != previous:
            raise CommerceFailure(where, f"spends state {row.prev}, but its history {previous}")
        if kind == "transfer":
            expected: bytes | None = payload
        elif kind == "redeem":
            expected = base64.b64decode(by_state[coupon.state].body["statement"])
        else:
            expected = None
        if row.payload != expected:
            raise CommerceFailure(where, "stores other bytes than its history's statement")
        previous = row.state
    if len(rows) > len(history):
        row = rows[len(history)]
        raise CommerceFailure(
            f"{item} move {row.move} ({row.op})",
            f"is stored in coupon_moves, but the coupon's replayed history ends at move "
            f"{len(history)} ({coupon.status})",
        )
    if previous != coupon.state:
        raise CommerceFailure(
            item, f"its last stored move reaches state {previous}, its history {coupon.state}"
        )


def _check_queued(item: str, key: tuple[str, int], payload: bytes, ctx: _Context) -> None:
    """The entry under ``key`` (signer, seq) is queued with these bytes and, once anchored,
    the chain holds these bytes."""
    ctx.accounted.add(key)
    anchored = ctx.anchored.get(key)
    queued = ctx.pending.get(key)
    if anchored is not None:
        chain_id, index, on_chain = anchored
        if on_chain != payload:
            raise CommerceFailure(
                item,
                f"differs from entry {index} of chain {chain_id}, anchored under its signer "
                f"{key[0]} and seq {key[1]}",
            )
        ctx.summary.anchored += 1
    else:
        ctx.summary.pending += 1
    if queued is not None and queued != payload:
        raise CommerceFailure(item, "differs from its pending entry (signer and seq)")
    if anchored is None and queued is None:
        raise CommerceFailure(
            item, "is neither on a chain nor queued for one (its pending entry was removed)"
        )
