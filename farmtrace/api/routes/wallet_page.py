"""The browser wallet's page, ``GET /wallet`` (issue 16; docs/wallet.md, "The browser wallet").

The page is the same for everyone (the wallets live in the browser, never on the server): HTML
in the language ``?lang=`` or ``Accept-Language`` chooses. It is the one page allowed the
camera, for scanning a recipient's address: its ``Permissions-Policy`` is the global one with
``camera=(self)`` (the global header layer leaves a route's own header alone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse

from farmtrace.api.deps import rate_limit
from farmtrace.api.http.headers import SECURITY_HEADERS
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.wallet_page import render_wallet_page

__all__ = ["WALLET_PERMISSIONS", "router"]

router = APIRouter(tags=["pages"], dependencies=[Depends(rate_limit)])

WALLET_PERMISSIONS = SECURITY_HEADERS["Permissions-Policy"].replace("camera=()", "camera=(self)")
"""The global Permissions-Policy with the camera allowed to this origin (address scanning)."""
if "camera=(self)" not in WALLET_PERMISSIONS:  # pragma: no cover - the global policy changed
    raise RuntimeError("the global Permissions-Policy no longer names camera=() to replace")

_LANG_LINKS = {"zh": "/wallet?lang=zh", "en": "/wallet?lang=en"}


@router.get(
    "/wallet",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "the wallet page"}},
)
def wallet_page(
    accept_language: Annotated[str | None, Header()] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The browser wallet: make and keep Ed25519 keys in the browser, receive, send and redeem
    coupons. ``?lang=zh`` or ``?lang=en`` picks the language over ``Accept-Language``."""
    chosen = choose_language(accept_language, lang)
    return HTMLResponse(
        render_wallet_page(chosen, _LANG_LINKS),
        headers={
            "Permissions-Policy": WALLET_PERMISSIONS,
            "Vary": "Accept-Language",
            "Content-Language": "zh-Hans" if chosen == "zh" else "en",
        },
    )
