"""The GS1 Digital Link resolver: ``/01/{gtin}/10/{lot}``.

A browser gets the provenance page (``farmtrace.api.services.page``), ``Accept: application/json`` the lot as JSON,
and ``?linkType=all`` or ``Accept: application/linkset+json`` the RFC 9264 linkset of every
link this resolver has for the lot (GS1 link types). ``?lang=zh`` or ``?lang=en`` picks the
page's language over ``Accept-Language``; an unknown lot gets a small HTML page (404) in that
language unless the client asked for JSON only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from farmtrace.api.deps import get_state, rate_limit
from farmtrace.api.errors import NotFound
from farmtrace.api.routes.lots import find_lot
from farmtrace.api.schemas.lots import LotPublic
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.render import render_not_found
from farmtrace.api.services.views import lot_public
from farmtrace.api.state import AppState

__all__ = ["linkset", "router"]

router = APIRouter(tags=["resolver"], dependencies=[Depends(rate_limit)])
State = Annotated[AppState, Depends(get_state)]
_GS1 = "https://gs1.org/voc/"
LINKSET = "application/linkset+json"


def linkset(base: str, link: DigitalLink, record: LotRecord) -> dict[str, Any]:
    """The RFC 9264 linkset of a lot, anchored at its canonical Digital Link URI."""
    lot_path = f"{base}/v1/lots/{link.gtin}/{record.lot}"
    page = {
        "href": base + link.path(),
        "title": record.product_name,
        "type": "text/html",
        "hreflang": ["en", "zh"],
    }
    return {
        "linkset": [
            {
                "anchor": link.canonical_uri,
                _GS1 + "defaultLink": [page],
                _GS1 + "pip": [page],
                _GS1 + "epcis": [
                    {
                        "href": lot_path + "/epcis",
                        "title": "EPCIS 2.0 events",
                        "type": "application/ld+json",
                    }
                ],
                _GS1 + "traceability": [
                    {
                        "href": lot_path + "/bundle",
                        "title": "Offline verification bundle",
                        "type": "application/json",
                    }
                ],
                "describedby": [
                    {"href": lot_path, "title": "Lot record", "type": "application/json"}
                ],
            }
        ]
    }


@router.get(
    "/01/{gtin}/10/{lot}",
    response_model=LotPublic,
    responses={200: {"content": {"text/html": {}, LINKSET: {}}}},
)
def resolve(
    request: Request,
    state: State,
    gtin: Annotated[str, Path(max_length=64)],
    lot: Annotated[str, Path(max_length=64)],
    link_type: Annotated[str | None, Query(alias="linkType", max_length=64)] = None,
    accept: Annotated[str | None, Header()] = None,
    accept_language: Annotated[str | None, Header()] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Resolve a pack's Digital Link: page, JSON or linkset (see the module docstring)."""
    from farmtrace.api.services.page_fill import lang_links, render_lot_page

    wants = (accept or "").lower()
    json_only = LINKSET in wants or ("text/html" not in wants and "application/json" in wants)
    try:
        link, record = find_lot(state, gtin, lot)
    except NotFound:
        if json_only or link_type == "all":
            raise
        chosen = choose_language(accept_language, lang)
        page = render_not_found(gtin, lot, chosen, lang_hrefs=lang_links())
        return HTMLResponse(page, status_code=404, headers={"Vary": "Accept, Accept-Language"})
    base = str(request.base_url).rstrip("/")
    headers = {
        "Link": f'<{base}{link.path()}?linkType=all>; rel="linkset"; type="{LINKSET}"',
        "Vary": "Accept, Accept-Language",
    }
    if link_type == "all" or LINKSET in wants:
        return JSONResponse(linkset(base, link, record), media_type=LINKSET, headers=headers)
    if json_only:
        return JSONResponse(
            lot_public(state, link, record).model_dump(mode="json"), headers=headers
        )
    html = render_lot_page(state, link, record, accept_language, base, lang)
    return HTMLResponse(html, headers=headers)
