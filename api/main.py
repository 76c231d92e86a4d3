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
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import RateLimited
from api.errors import ApiError
from api.ratelimit import RateLimiter
from api.routes import chain, excursions, lots, resolver
from api.settings import Settings
from api.state import AppState
from gateway.store.errors import StoreError

__all__ = ["SECURITY_HEADERS", "app_from_env", "create_app"]

log = logging.getLogger("farmtrace.api")

STATIC = Path(__file__).resolve().parent / "web" / "static"
"""The page's stylesheet and scripts and the browser verifier, served at ``/static``."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Sent with every response (harmless on JSON, required on the HTML page)."""


_HEADER_BYTES = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADER_BYTES if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


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

    app = FastAPI(
        title="farmtrace",
        version="1",
        summary="Provenance of farm lots: signed readings and events, proofs, EPCIS, GS1 links",
        lifespan=lifespan,
    )
    app.state.farmtrace = AppState.open(settings)
    _errors(app)

    app.add_middleware(SecurityHeaders)

    app.include_router(chain.root_router())
    app.include_router(chain.chain_router(chain.default_chain, "/v1", "chain", ""))
    app.include_router(chain.chains_router())
    app.include_router(
        chain.chain_router(chain.named_chain, "/v1/chains/{origin:path}", "chains", "_of_chain")
    )
    app.include_router(lots.router)
    app.include_router(excursions.router)
    app.include_router(resolver.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error(
    status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.detail)

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
        return _error(exc.status_code, "http", exc.detail, dict(exc.headers or {}))

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.error("storage error: %s", exc)
        return _error(503, "storage", "the database is unavailable; try again")

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The driver's message can hold a URL; log only the exception's class.
        log.error("database error: %s", type(exc).__name__)
        return _error(503, "storage", "the database is unavailable; try again")


def app_from_env() -> FastAPI:
    """The app configured from ``FARMTRACE_API_*`` variables (uvicorn factory for workers)."""
    return create_app(Settings())  # type: ignore[call-arg]  # db_url comes from the environment
