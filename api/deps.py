"""FastAPI dependencies: the app state, rate limiting of public reads, API-key scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ApiKey, check_key
from api.state import AppState

__all__ = ["RateLimited", "get_state", "public_read", "require_scope", "state_of"]


_BEARER = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="an API key: Bearer ftk_..."
)


class RateLimited(Exception):
    """A client over its budget; ``wait`` seconds until its next token."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limit exceeded; retry in {wait:.2f} s")
        self.wait = wait


def state_of(request: Request) -> AppState:
    """The app's state (a plain function, for code outside dependency injection)."""
    state: AppState = request.app.state.farmtrace
    return state


async def get_state(request: Request) -> AppState:
    """Dependency: the app's state (async, so FastAPI runs it without a thread hop)."""
    return state_of(request)


def client_of(request: Request, trust_forwarded: bool) -> str:
    """The client a request counts against."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client is not None else "unknown"


async def public_read(request: Request) -> None:
    """Charge one token to the client's bucket; raise :class:`RateLimited` when empty."""
    state = state_of(request)
    wait = state.limiter.take(client_of(request, state.settings.trust_forwarded_for))
    if wait > 0:
        raise RateLimited(wait)


def require_scope(scope: str) -> Callable[..., ApiKey]:
    """A dependency that admits only keys holding ``scope``."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> ApiKey:
        header = None if credentials is None else f"Bearer {credentials.credentials}"
        return check_key(state_of(request).engine, header, scope)

    return check
