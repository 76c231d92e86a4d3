"""The GS1 Digital Link resolver for coupons (AI 255): ``/255/{gcn}{serial}`` resolves a
coupon, ``/255/{gcn}`` its campaign.

Both answer JSON (the coupon's or the campaign's view), and ``?linkType=all`` or
``Accept: application/linkset+json`` the RFC 9264 linkset of the links this resolver has for
it, as ``/01/...`` does for a lot. A client whose ``Accept`` prefers ``text/html`` (a browser)
gets the coupon's or the campaign's page instead
(:mod:`farmtrace.api.routes.campaign_pages`, ``?lang=`` as on the lot's page); the responses
say ``Vary: Accept``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from farmtrace.api.deps import get_state, rate_limit
from farmtrace.api.routes.campaign_pages import coupon_or_campaign_page, prefers_html
from farmtrace.api.routes.campaigns import ERRORS
from farmtrace.api.routes.resolver import LINKSET
from farmtrace.api.schemas.campaigns import CampaignPublic, CouponPublic
from farmtrace.api.services.campaign_views import (
    campaign_canonical_uri,
    campaign_public,
    coupon_canonical_uri,
    coupon_public,
)
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.state import AppState
from farmtrace.commerce.gcn import parse_coupon_id, validate_gcn

__all__ = ["campaign_linkset", "coupon_linkset", "router"]

router = APIRouter(tags=["resolver"], dependencies=[Depends(rate_limit)])
State = Annotated[AppState, Depends(get_state)]
_GS1 = "https://gs1.org/voc/"


def _json_link(href: str, title: str) -> list[dict[str, Any]]:
    return [{"href": href, "title": title, "type": "application/json"}]


def campaign_linkset(base: str, gcn: str, gtin: str, lot: str) -> dict[str, Any]:
    """The RFC 9264 linkset of a campaign, anchored at its canonical Digital Link URI."""
    path = f"{base}/v1/campaigns/{gcn}"
    return {
        "linkset": [
            {
                "anchor": campaign_canonical_uri(gcn),
                _GS1 + "defaultLink": _json_link(path, "Campaign record"),
                _GS1 + "pip": [
                    {
                        "href": base + DigitalLink(gtin, lot=lot).path(),
                        "title": "The lot the coupons are for",
                        "type": "text/html",
                        "hreflang": ["en", "zh"],
                    }
                ],
                _GS1 + "traceability": _json_link(
                    path + "/bundle", "Offline verification bundle of every coupon entry"
                ),
                "describedby": _json_link(path, "Campaign record"),
            }
        ]
    }


def coupon_linkset(base: str, coupon: str, gcn: str, gtin: str, lot: str) -> dict[str, Any]:
    """The RFC 9264 linkset of a coupon, anchored at its canonical Digital Link URI."""
    path = f"{base}/v1/coupons/{coupon}"
    return {
        "linkset": [
            {
                "anchor": coupon_canonical_uri(coupon),
                _GS1 + "defaultLink": _json_link(path, "Coupon record and history"),
                _GS1 + "pip": [
                    {
                        "href": base + DigitalLink(gtin, lot=lot).path(),
                        "title": "The lot the coupon is for",
                        "type": "text/html",
                        "hreflang": ["en", "zh"],
                    }
                ],
                _GS1 + "traceability": _json_link(
                    path + "/bundle", "Offline verification bundle of the coupon"
                ),
                "collection": [
                    {
                        "href": f"{base}/255/{gcn}",
                        "title": "The campaign that issued it",
                        "type": "application/json",
                    }
                ],
                "describedby": _json_link(path, "Coupon record and history"),
            }
        ]
    }


def headers_link(base: str, code: str) -> str:
    """The ``Link`` header naming the linkset of ``/255/{code}``."""
    return f'<{base}/255/{code}?linkType=all>; rel="linkset"; type="{LINKSET}"'


@router.get(
    "/255/{code}",
    response_model=CouponPublic | CampaignPublic,
    responses={**ERRORS, 200: {"content": {LINKSET: {}, "text/html": {}}}},
)
def resolve_coupon(
    request: Request,
    state: State,
    code: Annotated[
        str,
        Path(
            max_length=64,
            description="a GCN (13 digits: the campaign) or a coupon ID (GCN and serial)",
        ),
    ],
    link_type: Annotated[str | None, Query(alias="linkType", max_length=64)] = None,
    accept: Annotated[str | None, Header()] = None,
    accept_language: Annotated[str | None, Header()] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Resolve a coupon's (or, with the GCN alone, a campaign's) Digital Link: JSON, the
    linkset, or for a browser its page (see the module docstring)."""
    base = str(request.base_url).rstrip("/")
    wants_linkset = link_type == "all" or LINKSET in (accept or "").lower()
    if not wants_linkset and prefers_html(accept):
        page = coupon_or_campaign_page(request, state, code, accept_language, lang)
        page.headers["Vary"] = "Accept, Accept-Language"
        if page.status_code == 200:  # the code is digits then: safe in a header
            page.headers["Link"] = headers_link(base, code)
        return page
    headers = {
        "Link": headers_link(base, code),
        "Vary": "Accept",
    }
    if len(code) == 13:
        head = state.campaigns.head(validate_gcn(code))
        if wants_linkset:
            body = campaign_linkset(base, head.gcn, head.gtin, head.lot)
            return JSONResponse(body, media_type=LINKSET, headers=headers)
        view = campaign_public(state, head)
        return JSONResponse(view.model_dump(mode="json"), headers=headers)
    parse_coupon_id(code)
    head, record = state.campaigns.coupon(code)
    if wants_linkset:
        body = coupon_linkset(base, code, head.gcn, head.gtin, head.lot)
        return JSONResponse(body, media_type=LINKSET, headers=headers)
    return JSONResponse(coupon_public(state, head, record).model_dump(mode="json"), headers=headers)
