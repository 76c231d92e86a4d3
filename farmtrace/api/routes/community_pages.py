"""The value-community pages for a browser (issue 17).

``GET /communities/{community}`` is the community's page (``docs/community.md``): supply over
time, distributions, the rules in force, the number of member keys holding tokens (no names),
and a member's own view in the browser wallet. ``?lang=zh`` or ``?lang=en`` picks the language
over ``Accept-Language``. An unknown community gets a small HTML page with 404, a malformed ID
one with 422 saying what is wrong; never a 5xx.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import HTMLResponse

from farmtrace.api.deps import get_state, rate_limit
from farmtrace.api.services.community_page.model import community_page_view
from farmtrace.api.services.community_page.render import (
    render_community_page,
    render_malformed,
    render_not_found,
)
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page_fill import lang_links
from farmtrace.api.state import AppState
from farmtrace.commerce.errors import CommerceError

__all__ = ["router"]

router = APIRouter(tags=["pages"], dependencies=[Depends(rate_limit)])
State = Annotated[AppState, Depends(get_state)]
_VARY = "Accept-Language"
_SHOWN = 64
"""At most this many characters of a malformed ID are repeated on its error page."""


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={"Vary": _VARY})


@router.get(
    "/communities/{community}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}}, 422: {"content": {"text/html": {}}}},
)
def community_page(
    state: State,
    community: Annotated[str, Path(description="the community ID", max_length=1024)],
    accept_language: Annotated[str | None, Header()] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The community's page: supply over time, distributions, the rules in force, how many
    member keys hold tokens, and the member view that verifies the browser wallet's statement
    on the device."""
    chosen = choose_language(accept_language, lang)
    hrefs = lang_links()
    try:
        view = community_page_view(state, community)
    except CommerceError as exc:
        if exc.kind == "not-found":
            return _page(render_not_found(community[:_SHOWN], chosen, lang_hrefs=hrefs), 404)
        return _page(render_malformed(community[:_SHOWN], str(exc), chosen, lang_hrefs=hrefs), 422)
    return _page(render_community_page(view, chosen, lang_hrefs=hrefs))
