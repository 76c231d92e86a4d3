"""Campaign histories anchored on a real chain, and their bundles (``tests/commerce``).

Signed entries are queued in ``pending_entries`` (each under its frame's signer and seq) and a
gateway's ledger seals them into blocks exactly as it seals queued lot events; the API's :class:`~farmtrace.api.state.AppState` over
the same database proves them, and :func:`~farmtrace.api.services.commerce_bundle.assemble_bundle`
writes the bundle. Histories are whatever the test signs, valid or not: the chain only orders.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.api.services.commerce_bundle import HeldEntry, assemble_bundle
from farmtrace.api.services.verify import Report, verify_bundle
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import (
    CampaignEntry,
    HolderStatement,
    Totals,
    decode_statement,
    statement_signer,
)
from farmtrace.commerce.gcn import parse_coupon_id
from farmtrace.commerce.replay import CampaignReplay
from farmtrace.store.campaigns import CampaignChange, Campaigns, IssuedCoupons, NewCampaign, Spend
from farmtrace.store.database import Database
from farmtrace.store.ledger import Ledger
from farmtrace.store.pending import queue_entry
from farmtrace.store.records import PendingReading
from support.commerce import DAY, T0, Farm, redeem_statement, transfer

ORIGIN = "farmtrace.example/commerce-test"

Signed = CampaignEntry | HolderStatement
S = TypeVar("S", CampaignEntry, HolderStatement)


def seed_key(n: int) -> Ed25519PrivateKey:
    """A fixed key (seed ``n`` repeated), so histories are the same bytes on every run."""
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


@dataclass
class History:
    """A campaign's signed entries and transfers, in the order the API would accept them."""

    farm: Farm
    order: list[Signed] = field(default_factory=list)
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    @property
    def entries(self) -> list[CampaignEntry]:
        return [s for s in self.order if isinstance(s, CampaignEntry)]

    @property
    def moves(self) -> list[HolderStatement]:
        return [s for s in self.order if isinstance(s, HolderStatement)]

    def add(self, signed: S) -> S:
        self.order.append(signed)
        return signed


def funded_history(over_cap: bool = False, forged: bool = False) -> History:
    """Open, issue to alice (1-2) and bob (3-4), funded, coupon 1 alice -> carol -> bob,
    harvested 20 KGM (4 coupons of 5 KGM), coupon 1 redeemed by bob, coupon 3 bob -> carol.

    ``over_cap``: a last issue of 7 coupons past the cap of 10. ``forged``: coupon 2 moved to
    carol by a statement carol signed (alice holds it)."""
    alice, bob, carol = seed_key(1), seed_key(2), seed_key(3)
    h = History(Farm(key=seed_key(9)), keys={"alice": alice, "bob": bob, "carol": carol})
    f = h.farm
    h.add(f.open())
    issue_a = h.add(f.issue(alice, 2))
    issue_b = h.add(f.issue(bob, 2))
    h.add(f.sign("funded"))
    t1 = h.add(transfer(alice, f.coupon(1), issue_a.state, 1, carol))
    t2 = h.add(transfer(carol, f.coupon(1), t1.state, 2, bob, price=(5000, "CNY")))
    if over_cap:
        h.add(f.issue(carol, 7))
    if forged:
        h.add(transfer(carol, f.coupon(2), issue_a.state, 1, carol))
    h.add(f.sign("harvested", at=T0 + 20 * DAY, quantity=20))
    h.add(f.redeem(1, redeem_statement(bob, f.coupon(1), t2.state, 3)))
    h.add(transfer(bob, f.coupon(3), issue_b.state, 1, carol, time_ms=T0 + 22 * DAY))
    return h


def failed_history() -> History:
    """Open, one issue short of the target, failed after the deadline, its coupons voided, the
    pledge refunded, closed."""
    alice = seed_key(1)
    h = History(Farm(key=seed_key(9)), keys={"alice": alice})
    f = h.farm
    h.add(f.open())
    issue = h.add(f.issue(alice, 2))
    after = T0 + 11 * DAY
    h.add(f.sign("failed", at=after))
    h.add(f.void([(1, issue.state), (2, issue.state)], at=after))
    h.add(f.sign("refund", pledge=issue.body["pledge"], amount=9000, currency="CNY"))
    h.add(f.sign("closed", Totals(2, 0, 2)))
    return h


def _pending(signed: Signed, received_at: float) -> PendingReading:
    if isinstance(signed, CampaignEntry):
        return PendingReading(
            signed.signer, signed.seq, signed.time_ms, signed.payload, received_at
        )
    signer = statement_signer(signed.coupon)
    return PendingReading(signer, signed.move, signed.time_ms, signed.payload, received_at)


@dataclass
class Anchored:
    """A history on a chain: the gateway's verifier key and the API state proving it."""

    history: History
    vkey: str
    state: AppState
    anchors: dict[bytes, tuple[str, int]]

    def held(self, signed: Signed) -> HeldEntry:
        return HeldEntry(signed.payload, self.anchors.get(signed.payload))

    def bundle(self, coupon: str | None = None) -> dict[str, Any]:
        h = self.history
        return assemble_bundle(
            self.state,
            h.farm.terms.campaign,
            [self.held(e) for e in h.entries],
            [self.held(m) for m in h.moves],
            coupon,
        )


def anchor(
    history: History, db_url: str, tmp: Path, blocks: int = 3, unanchored: int = 0
) -> Anchored:
    """Seal ``history`` into ``blocks`` blocks of one chain (the last ``unanchored`` items left
    out: they stay pending) and open an API state over the database. Close with
    ``anchored.state.database.close()``."""
    order = history.order[: len(history.order) - unanchored]
    size = -(-len(order) // blocks)
    now = time.time()
    with Ledger.open(db_url, tmp / "gw", ORIGIN) as ledger:
        for start in range(0, len(order), size):
            # Queued as the API queues them; the gateway's sweep seals them into one block.
            with ledger.engine.begin() as conn:
                for signed in order[start : start + size]:
                    queue_entry(conn, _pending(signed, now))
            ledger.append_batch([])
        vkey = ledger.verifier_key
    state = AppState.open(Settings(db_url=db_url, state_dir=tmp / "api"))
    reader = state.chain(ORIGIN)
    anchors = {}
    for index in range(reader.entry_count()):
        anchors[reader.entry(index).payload] = (ORIGIN, index)
    return Anchored(history, vkey, state, anchors)


def verify(bundle: dict[str, Any], vkey: str) -> Report:
    """``farmtrace verify`` of ``bundle``'s JSON, quietly."""
    return verify_bundle(json.dumps(bundle).encode(), [vkey], say=lambda _line: None)


def store_history(history: History, database: Database) -> int:
    """Write ``history`` through the store (``farmtrace.store.campaigns``) as the API would:
    pledges, each campaign entry with its effects, each transfer; its campaign's id. The rules
    are not judged here (the chain and the verifier judge them)."""
    store = Campaigns(database)
    terms = history.farm.terms
    replay = CampaignReplay()
    campaign_id = 0
    for signed in history.order:
        if isinstance(signed, HolderStatement):
            assert signed.to is not None
            _, serial = parse_coupon_id(signed.coupon)
            store.transfer(
                campaign_id,
                serial,
                signed.move,
                signed.prev,
                signed.state,
                signed.to,
                signed.price,
                signed.time_ms,
                signed.payload,
                statement_signer(signed.coupon),
            )
            replay.add_transfer(signed)
            continue
        entry = signed
        body = entry.body
        if entry.op == "issue":
            store.add_pledge(
                campaign_id, body["pledge"], body["holder"], body["count"],
                body["count"] * terms.price, None, None,
            )  # fmt: skip
        spends = _spends(replay, entry)
        replay.apply(entry)
        change = CampaignChange(
            entry.op,
            entry.payload,
            entry.state,
            entry.time_ms,
            replay.status,
            replay.totals.issued,
            replay.totals.redeemed,
            replay.totals.voided,
            replay.harvested,
            None if replay.shortfall is None else replay.shortfall.policy,
            IssuedCoupons(
                body["pledge"], body["holder"], body["first"], body["count"],
                body["payment_sha256"],
            ) if entry.op == "issue" else None,
            spends,
            (body["pledge"], body["amount"]) if entry.op == "refund" else None,
        )  # fmt: skip

        def build(*args: Any, _change: CampaignChange = change, _seq: int = entry.seq) -> Any:
            seq = args[0] if len(args) == 1 else args[1]
            assert seq == _seq, f"the store gave seq {seq}, the entry was signed with {_seq}"
            return _change

        if entry.op == "open":
            head = store.create(
                NewCampaign(
                    terms.campaign, terms.farm, terms.gtin, terms.lot,
                    terms.canonical().decode(), terms.cap, terms.target, entry.signer,
                ),
                build,
            )  # fmt: skip
            assert head is not None
            campaign_id = head.id
        else:
            assert store.append(terms.campaign, build) is not None
    return campaign_id


def _spends(replay: CampaignReplay, entry: CampaignEntry) -> tuple[Spend, ...]:
    body = entry.body
    if entry.op == "redeem":
        statement = decode_statement(base64.b64decode(body["statement"]))
        return (Spend(body["serial"], statement.move, statement.prev, "redeem", statement.payload),)
    if entry.op == "void":
        spends = []
        for serial, prev in body["coupons"]:
            coupon = replay.coupons[serial]
            spends.append(Spend(serial, coupon.moves + 1, prev, "void"))
        return tuple(spends)
    return ()


def seal_pending(db_url: str, tmp: Path) -> str:
    """Seal everything queued in ``pending_entries`` into a block; the chain's verifier key."""
    with Ledger.open(db_url, tmp / "gw", ORIGIN) as ledger:
        ledger.append_batch([])
        return ledger.verifier_key
