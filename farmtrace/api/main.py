"""The FastAPI application: ``create_app(settings)`` wires state, routers and error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from farmtrace.api.deps import RateLimited
from farmtrace.api.errors import ApiError, from_commerce_error, from_store_error
from farmtrace.api.http.bodylimit import BodyLimit
from farmtrace.api.http.headers import SECURITY_HEADERS, SecurityHeaders
from farmtrace.api.http.ratelimit import CostlyGate, RateLimiter
from farmtrace.api.http.redirects import OwnLocation
from farmtrace.api.routes import (
    campaign_pages,
    campaigns,
    chain,
    communities,
    community_pages,
    coupon_links,
    coupons,
    docs,
    excursions,
    lots,
    market,
    resolver,
    tiles,
    wallet_page,
)
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.commerce.errors import CommerceError
from farmtrace.store.errors import StoreError

__all__ = ["SECURITY_HEADERS", "app_from_env", "create_app"]

log = logging.getLogger("farmtrace.api")

STATIC = Path(__file__).resolve().parent / "web" / "static"
"""The page's stylesheet and scripts and the browser verifier, served at ``/static``."""


class _App(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside Starlette's whole stack, so that even its
    last-resort 500 carries the headers; and in front of that, when ``trusted_proxies`` is set,
    uvicorn's proxy-headers layer (the client is the right-most ``X-Forwarded-For`` address
    that is not a trusted proxy, taken only on connections from those proxies; see
    ``farmtrace.api.deps.client_of``)."""

    trusted_proxies: str | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = SecurityHeaders(super().build_middleware_stack())
        if self.trusted_proxies is None:
            return stack
        # uvicorn types ASGI callables more narrowly than Starlette; the protocol is the same.
        proxied: ASGIApp = ProxyHeadersMiddleware(stack, trusted_hosts=self.trusted_proxies)  # type: ignore[arg-type,assignment]
        return proxied


def create_app(settings: Settings) -> FastAPI:
    """The API over the database in ``settings`` (connects when the app starts)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not hasattr(app.state, "farmtrace"):
            app.state.farmtrace = AppState.open(settings)
        try:
            yield
        finally:
            app.state.farmtrace.close()

    app = _App(
        title="farmtrace",
        version="1",
        summary="Provenance of farm lots: signed readings and events, proofs, EPCIS, GS1 links",
        lifespan=lifespan,
        # FastAPI's own pages load their scripts from a CDN and start them inline, which the
        # CSP blocks; farmtrace.api.routes.docs serves /docs from local files instead, and the schema
        # under the rate limit.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.farmtrace = AppState.open(settings)
    _errors(app)

    app.add_middleware(BodyLimit)
    app.add_middleware(OwnLocation, public_url=settings.public_url)
    app.add_middleware(
        CostlyGate,
        concurrency=settings.costly_concurrency,
        queue=settings.costly_queue,
        wait_s=settings.costly_wait_s,
    )
    if settings.trust_forwarded_for:
        app.trusted_proxies = settings.trusted_proxies
    # Before the chain routers: /v1/chains/{origin:path}/checkpoint would take .../tlog/checkpoint.
    app.include_router(tiles.router)
    app.include_router(chain.root_router())
    app.include_router(chain.chain_router(chain.default_chain, "/v1", "chain", ""))
    app.include_router(chain.chains_router())
    app.include_router(
        chain.chain_router(chain.named_chain, "/v1/chains/{origin:path}", "chains", "_of_chain")
    )
    app.include_router(lots.router)
    app.include_router(excursions.router)
    app.include_router(campaigns.router)
    app.include_router(coupons.router)
    app.include_router(resolver.router)
    app.include_router(coupon_links.router)
    app.include_router(market.router)
    app.include_router(campaign_pages.router)
    app.include_router(wallet_page.router)
    app.include_router(communities.router)
    app.include_router(community_pages.router)
    app.include_router(docs.router)
    # Before /static, whose mount would otherwise take these paths.
    app.mount(docs.ASSETS_URL, docs.SwaggerAssets(), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error(
    status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(CommerceError)
    async def commerce_error(_request: Request, exc: CommerceError) -> JSONResponse:
        # The one mapping of the commerce rules' refusals (kind: invalid, not-found, conflict).
        answer = from_commerce_error(exc)
        return _error(answer.status, answer.code, answer.detail)

    @app.exception_handler(RateLimited)
    async def rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        return _error(
            429, "rate-limited", str(exc), {"Retry-After": RateLimiter.retry_after(exc.wait)}
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return _error(422, "invalid-request", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == _UNPARSED_BODY:
            # FastAPI's words name no cause; these are the ones its JSON decoding leaves
            # (malformed JSON itself is a 422 naming the position).
            detail = (
                "body: cannot be read as JSON (not UTF-8, nested too deep, or an integer of "
                "more than 4300 digits)"
            )
        return _error(exc.status_code, "http", detail, dict(exc.headers or {}))

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        # The one mapping from store errors to answers: routes let them through. The store
        # raises every database failure as DatabaseError, so no SQLAlchemy error reaches here.
        answer = from_store_error(exc)
        if answer.status >= 500:
            log.error("storage error: %s: %s", type(exc).__name__, exc)
        return _error(answer.status, answer.code, answer.detail, answer.headers)

    @app.exception_handler(Exception)
    async def internal(_request: Request, _exc: Exception) -> JSONResponse:
        # Starlette's ServerErrorMiddleware answers with this, then re-raises so that the
        # server logs the traceback; the client learns nothing of the exception.
        return _error(500, "internal", "internal error")


_UNPARSED_BODY = "There was an error parsing the body"
"""FastAPI's 400 detail when decoding the JSON body raised something other than a JSON error."""


def app_from_env() -> FastAPI:
    """The app configured from ``FARMTRACE_API_*`` variables (uvicorn factory for workers)."""
    return create_app(Settings())  # type: ignore[call-arg]  # db_url comes from the environment
