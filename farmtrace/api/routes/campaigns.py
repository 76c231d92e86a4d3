"""Campaigns: open one (``campaigns:write``), list and read them, pledge (public), and the
farm's actions on them (``campaigns:write``): confirm a pledge's payment, settle, record
refunds, the harvest and a shortfall decision, close.

Every action is judged and signed by :class:`~farmtrace.api.services.campaigns.CampaignService`;
its refusals are :class:`~farmtrace.commerce.errors.CommerceError`, answered once by the app
(422 malformed, 404 unknown, 409 refused by the campaign's current state). Nothing is written
when an action is refused.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from farmtrace.api.auth import ApiKey
from farmtrace.api.deps import get_state, rate_limit, require_scope, unique_json_keys
from farmtrace.api.schemas.campaigns import (
    CampaignChangesPublic,
    CampaignPublic,
    CampaignSummary,
    HarvestCreate,
    IssuedPublic,
    PledgeConfirm,
    PledgeCreate,
    PledgePublic,
    RefundCreate,
    RefundPublic,
    ShortfallCreate,
    TermsIn,
)
from farmtrace.api.services.campaign_views import (
    campaign_public,
    campaign_summary,
    changes_public,
)
from farmtrace.api.services.commerce_bundle import build_campaign_bundle
from farmtrace.api.state import AppState
from farmtrace.commerce.gcn import coupon_id

__all__ = ["ERRORS", "router"]

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaigns"],
    dependencies=[Depends(rate_limit), Depends(unique_json_keys)],
)
State = Annotated[AppState, Depends(get_state)]
Gcn = Annotated[
    str, Path(max_length=64, description="GS1 Global Coupon Number: 13 digits, check digit")
]
PledgeId = Annotated[
    str, Path(pattern="^[0-9a-f]{32}$", description="the pledge's ID: 32 lowercase hex digits")
]
Writer = Annotated[ApiKey, Depends(require_scope("campaigns:write"))]


def _error(description: str, code: str, detail: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"example": {"error": code, "detail": detail}}},
    }


ERRORS: dict[int | str, dict[str, object]] = {
    404: _error(
        "unknown campaign, pledge, coupon or lot event",
        "not-found",
        "campaign 0950600013439 not found",
    ),
    409: _error(
        "refused by the current state: a closed or failed campaign, the cap, a redeemed or "
        "void coupon, a stale coupon state (the detail names the current one)",
        "conflict",
        "coupon 09506000134391: state 5f1d... was already spent; its current state is 9a3c...",
    ),
    422: _error(
        "malformed input: the detail names the field (a list of fields for a body or "
        "parameter that fails the schema, as invalid-request)",
        "invalid",
        "price.currency: 'XYZ' is not an active ISO 4217 currency code",
    ),
}
"""The error answers every commerce operation documents: ``{"error", "detail"}``."""


@router.post("", response_model=CampaignPublic, status_code=201, responses=ERRORS)
def create_campaign(body: TermsIn, state: State, _key: Writer) -> CampaignPublic:
    """Open a campaign for a declared lot: the terms are signed, with their SHA-256, in the
    campaign's first entry by the farm's key (created on the farm's first campaign)."""
    head = state.campaigns.create(body.model_dump(mode="json"))
    return campaign_public(state, head)


@router.get("", response_model=list[CampaignSummary])
def list_campaigns(
    state: State,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[CampaignSummary]:
    """Campaigns, oldest first, without their entries (``GET /v1/campaigns/{gcn}`` has them)."""
    heads = state.campaigns.campaigns.listed(limit, offset)
    return [campaign_summary(state, h) for h in heads]


@router.get("/{gcn}", response_model=CampaignPublic, responses=ERRORS)
def read_campaign(gcn: Gcn, state: State) -> CampaignPublic:
    """A campaign: terms and their hash, status, totals (with outstanding), harvest, shortfall
    decision, the farm key, and every entry with whether a block anchors it yet."""
    return campaign_public(state, state.campaigns.head(gcn))


@router.get("/{gcn}/bundle", responses=ERRORS)
def bundle(gcn: Gcn, state: State) -> JSONResponse:
    """Everything to check the campaign offline (``docs/commerce.md``, format
    ``farmtrace-campaign-bundle/v1``): its entries 1..n and every coupon transfer, each with
    its inclusion proof once anchored, the checkpoints and the farm keys; ``farmtrace verify``
    recounts the caps from it."""
    found = build_campaign_bundle(state, gcn)
    return JSONResponse(
        found, headers={"Content-Disposition": f'attachment; filename="campaign-{gcn}.json"'}
    )


@router.post("/{gcn}/pledges", response_model=PledgePublic, status_code=201, responses=ERRORS)
def pledge(gcn: Gcn, body: PledgeCreate, state: State) -> PledgePublic:
    """Pledge to back ``count`` coupons, issued to the ``holder`` key once the farm confirms
    the payment; refused for a campaign not open for pledges or past its cap."""
    head = state.campaigns.head(gcn)
    record = state.campaigns.pledge(gcn, body.holder, body.count, body.contact, body.delivery)
    return PledgePublic(
        pledge=record.id,
        campaign=head.gcn,
        holder=record.holder,
        count=record.count,
        amount=record.amount,
        currency=state.campaigns.terms(head).currency,
        status=record.status,
    )


@router.post("/{gcn}/pledges/{pledge}/confirm", response_model=IssuedPublic, responses=ERRORS)
def confirm_pledge(
    gcn: Gcn, pledge: PledgeId, body: PledgeConfirm, state: State, _key: Writer
) -> IssuedPublic:
    """Confirm that a pledge is paid: issues its coupons to the backer's key in a signed
    ``issue`` entry (the payment reference is kept only as its SHA-256)."""
    head, change = state.campaigns.confirm(gcn, pledge, body.payment_reference)
    issued = change.issue
    serials = range(0) if issued is None else range(issued.first, issued.first + issued.count)
    return IssuedPublic(
        campaign=head.gcn,
        pledge=pledge,
        coupons=[coupon_id(head.gcn, s) for s in serials],
        cseq=head.cseq,
        state=change.state,
    )


@router.post("/{gcn}/settle", response_model=CampaignChangesPublic, responses=ERRORS)
def settle(gcn: Gcn, state: State, _key: Writer) -> CampaignChangesPublic:
    """Funded once the target is issued; after the deadline short of it, failed, and every
    coupon voided (the refunds owed are then listed at ``/refunds``)."""
    return changes_public(state, gcn, state.campaigns.settle(gcn))


@router.get("/{gcn}/refunds", response_model=list[RefundPublic], responses=ERRORS)
def refunds(gcn: Gcn, state: State, _key: Writer, response: Response) -> list[RefundPublic]:
    """The refunds the farm owes: a failed campaign's pledges in full, a refund shortfall's
    voided coupons at their price; with what was recorded as refunded and the backer's
    contact where it is still kept (personal data: the answer is never stored by a cache)."""
    response.headers["Cache-Control"] = "no-store"
    return [
        RefundPublic(
            pledge=r.pledge,
            holder=r.holder,
            amount=r.owed,
            currency=r.currency,
            refunded=r.refunded,
            contact=r.contact,
            delivery=r.delivery,
        )
        for r in state.campaigns.refunds(gcn)
    ]


@router.post("/{gcn}/refunds/{pledge}", response_model=CampaignChangesPublic, responses=ERRORS)
def record_refund(
    gcn: Gcn, pledge: PledgeId, body: RefundCreate, state: State, _key: Writer
) -> CampaignChangesPublic:
    """Record that the farm refunded ``amount`` of a pledge (a signed ``refund`` entry);
    refused beyond what is owed."""
    return changes_public(state, gcn, [state.campaigns.refund(gcn, pledge, body.amount)])


@router.post("/{gcn}/harvest", response_model=CampaignChangesPublic, responses=ERRORS)
def harvest(gcn: Gcn, body: HarvestCreate, state: State, _key: Writer) -> CampaignChangesPublic:
    """Record the quantity harvested (in the unit of a coupon's worth)."""
    return changes_public(state, gcn, [state.campaigns.harvest(gcn, body.quantity)])


@router.post("/{gcn}/shortfall", response_model=CampaignChangesPublic, responses=ERRORS)
def shortfall(gcn: Gcn, body: ShortfallCreate, state: State, _key: Writer) -> CampaignChangesPublic:
    """Record the shortfall decision when the harvest cannot cover the coupons: ``pro-rata``
    shares what is left; ``refund`` voids the uncovered coupons (newest first), owed back."""
    return changes_public(state, gcn, state.campaigns.shortfall(gcn, body.policy))


@router.post("/{gcn}/close", response_model=CampaignChangesPublic, responses=ERRORS)
def close(gcn: Gcn, state: State, _key: Writer) -> CampaignChangesPublic:
    """Close the campaign; after its delivery window, coupons never redeemed expire (void)."""
    return changes_public(state, gcn, state.campaigns.close(gcn))
