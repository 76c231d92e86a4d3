"""The coupon market as the API runs it: verify the signed market statements, then store.

A listing, a withdrawal and an offer each carry an Ed25519 signature over the statement bytes
of :mod:`farmtrace.commerce.listing`, rebuilt here from the request's fields, by the key they
speak for: the coupon's holder (listing), the listing's seller (withdrawal), the buyer's
address (offer). Addresses follow the coupon rules (:func:`~farmtrace.commerce.entries.
parse_address`). Nothing here moves a coupon: the seller completes a sale with an ordinary
holder-signed transfer (``POST /v1/coupons/{coupon}/transfers``), and the listing then ends
(:mod:`farmtrace.store.listings` decides ``sold`` or ``moved``).

Errors are :class:`~farmtrace.commerce.errors.CommerceError`: ``invalid`` (422) for malformed
input or a bad signature, ``not-found`` (404), ``conflict`` (409) for a stale state, a
listing that has ended or a coupon listed already.
"""

from __future__ import annotations

from dataclasses import dataclass

from farmtrace.api.services.campaigns import FUTURE_SLACK_MS, CampaignService
from farmtrace.commerce.entries import b64decode_strict, parse_address, verify_signature
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id, validate_gcn
from farmtrace.commerce.listing import (
    list_statement,
    listing_id,
    offer_statement,
    withdraw_statement,
)
from farmtrace.store.campaigns import CampaignHead
from farmtrace.store.errors import StateConflictError
from farmtrace.store.listings import ListingRecord, Listings, NewListing

__all__ = ["CampaignMarket", "MarketService", "PricePoint"]


@dataclass(frozen=True, slots=True)
class PricePoint:
    """The declared price of one past transfer of a campaign's coupon."""

    coupon: str
    time_ms: int
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class CampaignMarket:
    head: CampaignHead
    currency: str
    open: list[ListingRecord]
    ended: list[ListingRecord]
    prices: list[PricePoint]


def _signature(value: object) -> bytes:
    if not isinstance(value, str):
        raise CommerceError("signature: expected base64 text")
    raw = b64decode_strict(value, "signature")
    if len(raw) != 64:
        raise CommerceError(f"signature: an Ed25519 signature is 64 bytes, not {len(raw)}")
    return raw


class MarketService:
    """Listings, withdrawals and offers of one API process."""

    def __init__(self, campaigns: CampaignService, listings: Listings) -> None:
        self.campaigns = campaigns
        self.listings = listings

    def _not_future(self, time_ms: int, what: str) -> None:
        if time_ms > self.campaigns.now_ms() + FUTURE_SLACK_MS:
            raise CommerceError(f"{what}: time_ms is in the future")

    # -- writes -------------------------------------------------------------------------------

    def list_coupon(
        self,
        coupon: str,
        state: str,
        seller: str,
        amount: int,
        currency: str,
        time_ms: int,
        signature: str,
    ) -> ListingRecord:
        """List ``coupon`` in ``state`` at a price, signed by its holder ``seller``."""
        parse_address(seller, "seller")
        signed = list_statement(coupon, state, seller, amount, currency, time_ms)
        raw = _signature(signature)
        self._not_future(time_ms, "listing")
        head, record = self.campaigns.coupon(coupon)
        terms = self.campaigns.terms(head)
        if currency != terms.currency:
            raise CommerceError(
                f"price.currency: campaign {head.gcn} sells in {terms.currency}, not {currency}"
            )
        if not verify_signature(bytes.fromhex(seller), signed, raw):
            raise CommerceError("signature: does not verify for the seller's address")
        if record.holder != seller:
            raise CommerceError(
                f"seller: coupon {coupon} is held by another address "
                f"(fingerprint of the holder is on GET /v1/coupons/{coupon})",
                "conflict",
            )
        if record.status != "active" or record.state != state:
            raise CommerceError(
                f"state: coupon {coupon} is {record.status} in state {record.state} after "
                f"{record.moves} moves; a listing names the coupon's current state",
                "conflict",
            )
        new = NewListing(
            listing_id(signed),
            head.id,
            record.serial,
            state,
            seller,
            amount,
            currency,
            time_ms,
            signature,
        )
        try:
            return self.listings.add(new)
        except StateConflictError as exc:
            raise CommerceError(f"coupon {coupon}: {exc}", "conflict") from None

    def _listing(self, listing: str) -> ListingRecord:
        found = self.listings.campaign_id_of(listing)
        if found is None:
            raise CommerceError(f"listing {listing} not found", "not-found")
        self.listings.settle(*found)
        record = self.listings.get(listing)
        if record is None:  # pragma: no cover - listings are never deleted
            raise CommerceError(f"listing {listing} not found", "not-found")
        return record

    def withdraw(self, listing: str, time_ms: int, signature: str) -> ListingRecord:
        """End an open listing by its seller's signed withdrawal."""
        signed = withdraw_statement(listing, time_ms)
        raw = _signature(signature)
        self._not_future(time_ms, "withdrawal")
        record = self._listing(listing)
        if not verify_signature(bytes.fromhex(record.seller), signed, raw):
            raise CommerceError("signature: does not verify for the listing's seller")
        try:
            done = self.listings.withdraw(listing, time_ms, signature)
        except StateConflictError as exc:
            raise CommerceError(str(exc), "conflict") from None
        if done is None:  # pragma: no cover - listings are never deleted
            raise CommerceError(f"listing {listing} not found", "not-found")
        return done

    def offer(self, listing: str, buyer: str, time_ms: int, signature: str) -> ListingRecord:
        """Record ``buyer``'s signed request to buy an open listing."""
        parse_address(buyer, "buyer")
        signed = offer_statement(listing, buyer, time_ms)
        raw = _signature(signature)
        self._not_future(time_ms, "offer")
        record = self._listing(listing)
        if not verify_signature(bytes.fromhex(buyer), signed, raw):
            raise CommerceError("signature: does not verify for the buyer's address")
        if buyer == record.seller:
            raise CommerceError("buyer: the seller cannot offer on their own listing", "conflict")
        try:
            done = self.listings.add_offer(listing, buyer, time_ms, signature)
        except StateConflictError as exc:
            raise CommerceError(str(exc), "conflict") from None
        if done is None:  # pragma: no cover - listings are never deleted
            raise CommerceError(f"listing {listing} not found", "not-found")
        return done

    # -- reads --------------------------------------------------------------------------------

    def get(self, listing: str) -> ListingRecord:
        if not isinstance(listing, str) or len(listing) != 32:
            raise CommerceError("listing: expected 32 lowercase hex digits")
        return self._listing(listing)

    def campaign(self, gcn: str, open_limit: int = 200, ended_limit: int = 100) -> CampaignMarket:
        """A campaign's open and ended listings and the declared prices of its transfers."""
        validate_gcn(gcn)
        head = self.campaigns.head(gcn)
        self.listings.settle(head.id)
        prices = [
            PricePoint(coupon_id(gcn, m.serial), m.time_ms, m.price[0], m.price[1])
            for m in self.campaigns.campaigns.moves(head.id)
            if m.op == "transfer" and m.price is not None
        ]
        prices.sort(key=lambda p: (p.time_ms, p.coupon))
        return CampaignMarket(
            head,
            self.campaigns.terms(head).currency,
            self.listings.open_listings(head.id, open_limit),
            self.listings.ended_listings(head.id, ended_limit),
            prices,
        )

    def wallet(self, address: str) -> tuple[list[ListingRecord], list[ListingRecord]]:
        """An address's own listings (with the offers they received) and the listings it
        offered on."""
        parse_address(address, "address")
        for campaign_id in self.listings.campaigns_of(address):
            self.listings.settle(campaign_id)
        return self.listings.by_seller(address), self.listings.offered_by(address)
