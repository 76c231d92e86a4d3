"""Coupons: the coupons an address holds, one coupon's history, holder-signed transfers
(public: the holder's signature is the authority) and redemptions (the holder's signed
statement, confirmed by the farm with ``coupons:redeem``).

A transfer is accepted only when the state it spends is still the coupon's head, by the
database (a unique spend of each state), so of two spends of one state exactly one wins; the
other gets 409 naming the coupon's current state, and nothing changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from farmtrace.api.auth import ApiKey
from farmtrace.api.deps import get_state, rate_limit, require_scope, unique_json_keys
from farmtrace.api.routes.campaigns import ERRORS
from farmtrace.api.schemas.campaigns import (
    CouponPublic,
    CouponSummary,
    RedemptionCreate,
    RedemptionPublic,
    TransferCreate,
    TransferPublic,
)
from farmtrace.api.services.campaign_views import coupon_public, coupon_summary
from farmtrace.api.services.commerce_bundle import build_coupon_bundle
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import parse_address
from farmtrace.commerce.gcn import coupon_id

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/coupons",
    tags=["coupons"],
    dependencies=[Depends(rate_limit), Depends(unique_json_keys)],
)
State = Annotated[AppState, Depends(get_state)]
Coupon = Annotated[
    str,
    Path(max_length=64, description="coupon ID: the 13-digit GCN and a serial of 1-12 digits"),
]


@router.get("", response_model=list[CouponSummary], responses=ERRORS)
def coupons_held(
    state: State,
    holder: Annotated[
        str, Query(max_length=128, description="the holder's address: 64 lowercase hex digits")
    ],
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[CouponSummary]:
    """The coupons an address holds now (any status), by campaign and serial."""
    parse_address(holder, "holder")
    return [coupon_summary(state, r) for r in state.campaigns.campaigns.coupons_held(holder, limit)]


@router.get("/{coupon}", response_model=CouponPublic, responses=ERRORS)
def read_coupon(coupon: Coupon, state: State) -> CouponPublic:
    """A coupon: holder (address and fingerprint), status, current state, moves, what it is
    worth (and its share under a pro-rata shortfall), and every entry of its history."""
    head, record = state.campaigns.coupon(coupon)
    return coupon_public(state, head, record)


@router.get("/{coupon}/bundle", responses=ERRORS)
def bundle(coupon: Coupon, state: State) -> JSONResponse:
    """Everything to check the coupon's history offline (``docs/commerce.md``, format
    ``farmtrace-coupon-bundle/v1``): its campaign's entries, its transfers, their proofs once
    anchored, the checkpoints and the farm keys; ``farmtrace verify`` checks it."""
    found = build_coupon_bundle(state, coupon)
    return JSONResponse(
        found, headers={"Content-Disposition": f'attachment; filename="coupon-{coupon}.json"'}
    )


@router.post(
    "/{coupon}/transfers", response_model=TransferPublic, status_code=201, responses=ERRORS
)
def transfer(coupon: Coupon, body: TransferCreate, state: State) -> TransferPublic:
    """Move a coupon to a new holder by its holder's signed statement naming the state it
    spends. 409 when that state is no longer the head (the detail names the current one)."""
    after = state.campaigns.transfer(coupon, body.statement)
    return TransferPublic(
        coupon=coupon_id(after.gcn, after.serial),
        state=after.state,
        moves=after.moves,
        holder=after.holder,
    )


@router.post("/{coupon}/redemptions", response_model=RedemptionPublic, responses=ERRORS)
def redeem(
    coupon: Coupon,
    body: RedemptionCreate,
    state: State,
    _key: Annotated[ApiKey, Depends(require_scope("coupons:redeem"))],
) -> RedemptionPublic:
    """Confirm a redemption: the holder's signed redeem statement, linked to the lot event
    where the goods left (shipping or retail_selling), recorded in a signed ``redeem`` entry.
    A redeemed coupon never moves again."""
    head, change = state.campaigns.redeem(coupon, body.statement, body.event.signer, body.event.seq)
    return RedemptionPublic(coupon=coupon, state=change.state, cseq=head.cseq)
