"""Auditing the coupon market: every stored listing, withdrawal and offer checked against its
signature, and every ended listing's reason against the coupon's moves.

The market is off the chain, but each of its rows is signed by the key it speaks for
(:mod:`farmtrace.commerce.listing`), so the audit can tell a row the database altered from one
its signer made:

* each listing's statement, rebuilt from its columns, hashes to its ID and carries the seller's
  signature (:func:`~farmtrace.commerce.listing.listing_problem`);
* a withdrawn listing carries the seller's signature over its withdrawal (``ended_time_ms``);
* each offer carries its buyer's signature over the offer statement;
* a listing ended by a move (``sold``, ``moved``, ``redeemed``, ``void``) names a move that
  spent its state, ``ended_state`` is that move's state, and the reason is what the move says:
  ``sold`` exactly when it was a transfer to a buyer who offered, at the listed price.

The first failure is raised as :class:`MarketFailure`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from farmtrace.commerce.entries import verify_signature
from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.listing import listing_problem, offer_statement, withdraw_statement
from farmtrace.store.audit_reads import AuditReads
from farmtrace.store.listings import ENDED_REASONS, ListingRecord

__all__ = ["MarketAuditSummary", "MarketFailure", "audit_market"]


class MarketFailure(Exception):
    """``item`` (a listing or one of its offers) failed for ``reason``."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item, self.reason = item, reason


@dataclass
class MarketAuditSummary:
    """What the market audit checked."""

    listings: int = 0
    open: int = 0
    ended: int = 0
    offers: int = 0
    signatures: int = 0

    def text(self) -> str:
        return (
            f"{self.listings} coupon market listings ({self.open} open, {self.ended} ended) and "
            f"{self.offers} offers: {self.signatures} signatures checked, every end reason "
            "against the coupon's moves"
        )


def _signed_by(key_hex: str, signed: bytes, signature: str | None) -> bool:
    if signature is None:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 64 and verify_signature(bytes.fromhex(key_hex), signed, raw)


def _expected_reason(listing: ListingRecord, op: str, holder: str | None, price: object) -> str:
    if op == "redeem":
        return "redeemed"
    if op == "void":
        return "void"
    offered = {o.buyer for o in listing.offers}
    if price == (listing.amount, listing.currency) and holder in offered:
        return "sold"
    return "moved"


def audit_market(reads: AuditReads, summary: MarketAuditSummary) -> None:
    """Run the checks of the module docstring, filling ``summary``; raise
    :class:`MarketFailure` at the first failure."""
    rows = reads.market()
    for listing in rows.listings():
        coupon = coupon_id(listing.gcn, listing.serial)
        item = f"coupon {coupon}: market listing {listing.id}"
        summary.listings += 1
        problem = listing_problem(
            listing.id,
            coupon,
            listing.state,
            listing.seller,
            listing.amount,
            listing.currency,
            listing.time_ms,
            listing.signature,
        )
        if problem is not None:
            raise MarketFailure(item, problem)
        summary.signatures += 1
        for offer in listing.offers:
            summary.offers += 1
            signed = offer_statement(listing.id, offer.buyer, offer.time_ms)
            if not _signed_by(offer.buyer, signed, offer.signature):
                raise MarketFailure(
                    f"{item}: offer by {offer.buyer}", "the buyer's signature does not verify"
                )
            summary.signatures += 1
        if listing.ended is None:
            summary.open += 1
            continue
        summary.ended += 1
        if listing.ended not in ENDED_REASONS:
            raise MarketFailure(item, f"ended for an unknown reason {listing.ended!r}")
        if listing.ended == "withdrawn":
            when = listing.ended_time_ms
            if when is None or not _signed_by(
                listing.seller, withdraw_statement(listing.id, when), listing.withdraw_signature
            ):
                raise MarketFailure(item, "withdrawn without the seller's signed withdrawal")
            summary.signatures += 1
            continue
        spend = rows.spend_of(listing.campaign_id, listing.serial, listing.state)
        if spend is None:
            raise MarketFailure(
                item, f"ended as {listing.ended} but no move spent its state {listing.state}"
            )
        op, state, holder, price = spend
        if listing.ended_state != state:
            raise MarketFailure(
                item, f"ended_state {listing.ended_state} is not {state}, the state the move made"
            )
        expected = _expected_reason(listing, op, holder, price)
        if listing.ended != expected:
            raise MarketFailure(
                item, f"ended as {listing.ended}, but the {op} that spent its state says {expected}"
            )
