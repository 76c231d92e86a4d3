"""FastAPI dependencies: the app state, rate limiting per client, API-key scopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from farmtrace.api.auth import ApiKey, check_key
from farmtrace.api.errors import Unprocessable
from farmtrace.api.http.ratelimit import cost_of
from farmtrace.api.state import AppState

__all__ = [
    "RateLimited",
    "client_of",
    "get_state",
    "rate_limit",
    "require_scope",
    "state_of",
    "unique_json_keys",
]


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


def client_of(request: Request) -> str:
    """The client a request counts against: its peer address.

    Behind a reverse proxy, ``create_app`` puts uvicorn's ``ProxyHeadersMiddleware`` in front
    (only with ``trust_forwarded_for``), which replaces the peer by the right-most
    ``X-Forwarded-For`` address that is not one of ``trusted_proxies`` -- the address the
    proxy itself saw -- and only on connections from those proxies. Addresses a client writes
    into the header itself stand to the left of it and are never used, so a forged header
    neither escapes the limit nor spends another client's budget.
    """
    return request.client.host if request.client is not None else "unknown"


async def rate_limit(request: Request) -> None:
    """Charge the operation's cost (``farmtrace.api.http.ratelimit.cost_of``: 1, or
    ``costly_cost`` for the expensive reads) to the client's bucket; raise
    :class:`RateLimited` when it does not hold that many tokens.

    Every operation depends on it first: public reads, and writes before their key is looked
    up (so a client guessing keys is slowed like any other).
    """
    state = state_of(request)
    cost = cost_of(request.method, request.url.path, state.settings.costly_cost)
    wait = state.limiter.take(client_of(request), cost=cost)
    if wait > 0:
        raise RateLimited(wait)


def require_scope(scope: str) -> Callable[..., ApiKey]:
    """A dependency that admits only keys holding ``scope`` (401/403 otherwise).

    The raw ``Authorization`` header is checked, so that a header of another scheme is named
    as malformed rather than as missing; ``HTTPBearer`` is declared for the OpenAPI schema.
    """

    def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> ApiKey:
        return check_key(state_of(request).database, request.headers.get("authorization"), scope)

    return check


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise Unprocessable(
                f"body: the key {key!r} appears twice in one object; send each field once"
            )
        seen[key] = value
    return seen


async def unique_json_keys(request: Request) -> None:
    """Dependency: a JSON body with a key twice in one object is refused (422) instead of
    read as its last value. Campaign terms and commerce requests become signed entries; a
    client whose own parser kept the first ``"cap"`` must not have the farm sign the second.
    Malformed JSON is left to the body's validation, which names it."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()  # Starlette keeps it: FastAPI reads the same bytes again
    if not body:
        return
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except (ValueError, RecursionError):
        return
