"""The coupon market: holder-signed listings, buyers' offers, and the market page (issue 16).

Off the chain and moving nothing: a listing is the holder's signed offer to sell one coupon
state at a price; it ends when that state stops being the coupon's head (``sold`` when the
seller transferred to a buyer who offered, at the listed price; ``moved``, ``redeemed`` or
``void`` otherwise) or when the seller withdraws it. Payment happens outside farmtrace; the
seller completes a sale with ``POST /v1/coupons/{coupon}/transfers``. ``docs/commerce.md``
("Market") specifies the signed statements.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from farmtrace.api.deps import get_state, rate_limit, unique_json_keys
from farmtrace.api.routes.campaigns import ERRORS
from farmtrace.api.schemas.campaigns import PricePublic
from farmtrace.api.schemas.market import (
    CampaignListings,
    ListingCreate,
    ListingPublic,
    OfferCreate,
    OfferPublic,
    PricePointPublic,
    WalletMarket,
    WithdrawCreate,
)
from farmtrace.api.services.market import MarketService
from farmtrace.api.services.market_page import render_market_missing, render_market_page
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.listing import list_statement
from farmtrace.store.listings import ListingRecord, Listings

__all__ = ["listing_public", "market_service", "router"]

router = APIRouter(tags=["market"], dependencies=[Depends(rate_limit), Depends(unique_json_keys)])
State = Annotated[AppState, Depends(get_state)]
Gcn = Annotated[
    str, Path(max_length=64, description="GS1 Global Coupon Number: 13 digits, check digit")
]
Coupon = Annotated[
    str,
    Path(max_length=64, description="coupon ID: the 13-digit GCN and a serial of 1-12 digits"),
]
ListingId = Annotated[
    str, Path(pattern="^[0-9a-f]{32}$", description="the listing's ID: 32 lowercase hex digits")
]


def market_service(state: AppState) -> MarketService:
    return MarketService(state.campaigns, Listings(state.database))


def listing_public(record: ListingRecord, with_offers: bool = True) -> ListingPublic:
    coupon = coupon_id(record.gcn, record.serial)
    statement = list_statement(
        coupon, record.state, record.seller, record.amount, record.currency, record.time_ms
    )
    return ListingPublic(
        id=record.id,
        coupon=coupon,
        campaign=record.gcn,
        state=record.state,
        seller=record.seller,
        seller_fingerprint=fingerprint(bytes.fromhex(record.seller)),
        price=PricePublic(amount=record.amount, currency=record.currency),
        time_ms=record.time_ms,
        signature=record.signature,
        statement=statement.decode("utf-8"),
        ended=record.ended,  # type: ignore[arg-type]  # the store writes only ENDED_REASONS
        ended_state=record.ended_state,
        ended_time_ms=record.ended_time_ms,
        offers=[
            OfferPublic(
                buyer=o.buyer,
                buyer_fingerprint=fingerprint(bytes.fromhex(o.buyer)),
                time_ms=o.time_ms,
                signature=o.signature,
            )
            for o in record.offers
        ]
        if with_offers
        else [],
    )


@router.get("/v1/campaigns/{gcn}/listings", response_model=CampaignListings, responses=ERRORS)
def campaign_listings(gcn: Gcn, state: State) -> CampaignListings:
    """A campaign's open listings (cheapest first), its ended listings (newest first, with
    why they ended) and the declared prices of its coupons' past transfers."""
    market = market_service(state).campaign(gcn)
    return CampaignListings(
        campaign=market.head.gcn,
        currency=market.currency,
        open=[listing_public(r, False) for r in market.open],
        ended=[listing_public(r, False) for r in market.ended],
        prices=[
            PricePointPublic(
                coupon=p.coupon,
                time_ms=p.time_ms,
                price=PricePublic(amount=p.amount, currency=p.currency),
            )
            for p in market.prices
        ],
    )


@router.post(
    "/v1/coupons/{coupon}/listings",
    response_model=ListingPublic,
    status_code=201,
    responses=ERRORS,
)
def create_listing(coupon: Coupon, body: ListingCreate, state: State) -> ListingPublic:
    """List a coupon in its current state at a price, signed by its holder. 422 for a bad
    signature or a currency other than the campaign's; 409 when the state is not the coupon's
    head, the seller does not hold it, or the coupon is listed already."""
    record = market_service(state).list_coupon(
        coupon,
        body.state,
        body.seller,
        body.price.amount,
        body.price.currency,
        body.time_ms,
        body.signature,
    )
    return listing_public(record)


@router.get("/v1/listings", response_model=WalletMarket, responses=ERRORS)
def wallet_market(
    state: State,
    address: Annotated[
        str, Query(max_length=128, description="a wallet address: 64 lowercase hex digits")
    ],
) -> WalletMarket:
    """One address's listings (with the offers each received) and the listings it offered on."""
    selling, offered = market_service(state).wallet(address)
    return WalletMarket(
        address=address,
        selling=[listing_public(r) for r in selling],
        offered=[listing_public(r) for r in offered],
    )


@router.get("/v1/listings/{listing}", response_model=ListingPublic, responses=ERRORS)
def read_listing(listing: ListingId, state: State) -> ListingPublic:
    """One listing with its offers (buyers' addresses only)."""
    return listing_public(market_service(state).get(listing))


@router.post("/v1/listings/{listing}/withdraw", response_model=ListingPublic, responses=ERRORS)
def withdraw_listing(listing: ListingId, body: WithdrawCreate, state: State) -> ListingPublic:
    """End an open listing, signed by its seller; 409 if it has ended already."""
    return listing_public(market_service(state).withdraw(listing, body.time_ms, body.signature))


@router.post(
    "/v1/listings/{listing}/offers",
    response_model=ListingPublic,
    status_code=201,
    responses=ERRORS,
)
def make_offer(listing: ListingId, body: OfferCreate, state: State) -> ListingPublic:
    """Ask to buy an open listing with a wallet address, signed by that address's key; the
    seller may then transfer the coupon to it. 409 if the listing has ended."""
    record = market_service(state).offer(listing, body.buyer, body.time_ms, body.signature)
    return listing_public(record)


@router.get("/campaigns/{gcn}/market", response_class=HTMLResponse, include_in_schema=False)
def market_page(gcn: Gcn, request: Request, state: State) -> HTMLResponse:
    """The campaign's market as a page (zh/en): open listings, the price history chart and
    ended listings, with ``/static/market/market.js`` for the wallet actions."""
    language = choose_language(
        request.headers.get("accept-language"), request.query_params.get("lang")
    )
    try:
        market = market_service(state).campaign(gcn)
    except CommerceError as exc:
        # A person followed a link: answer a page naming what was wrong, not JSON.
        found = exc.kind != "not-found"
        page = render_market_missing(gcn, language, str(exc), found)
        return HTMLResponse(page, status_code=422 if found else 404)
    return HTMLResponse(render_market_page(market, language))
