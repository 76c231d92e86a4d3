"""The campaign and coupon pages for a browser (issue 16).

``GET /campaigns/{gcn}`` is the campaign's page; ``GET /255/{gcn}`` and ``GET /255/{coupon}``
(:mod:`farmtrace.api.routes.coupon_links`) answer the campaign's or the coupon's page to a
client whose ``Accept`` prefers ``text/html`` (:func:`prefers_html`), and JSON or the linkset
otherwise, as before. ``?lang=zh`` or ``?lang=en`` picks the language over
``Accept-Language``. An unknown campaign or coupon gets a small HTML page with 404, a malformed
code one with 422 saying what is wrong; never a 5xx.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse

from farmtrace.api.deps import get_state, rate_limit
from farmtrace.api.services.campaign_page.model import campaign_page_view, coupon_page_view
from farmtrace.api.services.campaign_page.render import (
    render_campaign_page,
    render_coupon_page,
    render_malformed,
    render_not_found,
)
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page_fill import lang_links
from farmtrace.api.state import AppState
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import parse_coupon_id, validate_gcn

__all__ = ["coupon_or_campaign_page", "prefers_html", "router"]

router = APIRouter(tags=["pages"], dependencies=[Depends(rate_limit)])
State = Annotated[AppState, Depends(get_state)]
_VARY = "Accept, Accept-Language"
_SHOWN = 64
"""At most this many characters of a malformed code are repeated on its error page."""


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header prefers HTML to JSON (RFC 9110 §12.5.1 q-values).

    ``text/html`` (or ``text/*``) must be named with a q-value above 0 and at least that of
    ``application/json`` (or ``application/*``, ``*/*``). A browser's navigation header does;
    no header, ``*/*`` alone or ``application/json`` do not, so API clients keep their JSON.
    """
    html_q = json_q = 0.0
    for item in (accept or "").lower().split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0]
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = max(0.0, min(1.0, float(value.strip())))
                except ValueError:
                    q = 0.0
        if media in ("text/html", "text/*"):
            html_q = max(html_q, q)
        elif media in ("application/json", "application/*", "*/*"):
            json_q = max(json_q, q)
    return html_q > 0 and html_q >= json_q


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={"Vary": _VARY})


def coupon_or_campaign_page(
    request: Request,
    state: AppState,
    code: str,
    accept_language: str | None,
    lang: str | None,
) -> HTMLResponse:
    """The page of ``code``: a campaign for a GCN (13 digits), else a coupon; the not-found
    (404) or malformed (422) page when it names none."""
    chosen = choose_language(accept_language, lang)
    hrefs = lang_links()
    base = str(request.base_url).rstrip("/")
    shown = code[:_SHOWN]
    try:
        if len(code) == 13:
            view = campaign_page_view(state, validate_gcn(code), base)
            return _page(render_campaign_page(view, chosen, lang_hrefs=hrefs))
        parse_coupon_id(code)
        coupon = coupon_page_view(state, code)
        return _page(render_coupon_page(coupon, chosen, lang_hrefs=hrefs))
    except CommerceError as exc:
        if exc.kind == "not-found":
            return _page(render_not_found(shown, chosen, lang_hrefs=hrefs), 404)
        return _page(render_malformed(shown, str(exc), chosen, lang_hrefs=hrefs), 422)


@router.get(
    "/campaigns/{gcn}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}}, 422: {"content": {"text/html": {}}}},
)
def campaign_page(
    request: Request,
    state: State,
    gcn: Annotated[str, Path(description="the campaign's GCN: 13 digits")],
    accept_language: Annotated[str | None, Header()] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The campaign's page: product, farm, terms, price, funding against target and cap,
    deadline and status, coupons issued, outstanding and redeemed, the shortfall decision, the
    lot's charts and a pledge form for the browser wallet."""
    chosen = choose_language(accept_language, lang)
    try:
        validate_gcn(gcn)
    except CommerceError as exc:
        page = render_malformed(gcn[:_SHOWN], str(exc), chosen, lang_hrefs=lang_links())
        return _page(page, 422)
    return coupon_or_campaign_page(request, state, gcn, accept_language, lang)
