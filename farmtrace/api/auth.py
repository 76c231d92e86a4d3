"""API keys with scopes, stored as the SHA-256 of their secret and compared in constant time.

A key is ``ftk_`` followed by 32 random bytes in URL-safe base64; it is shown once, when created
(``farmtrace api-keys create``). Clients send it as ``Authorization: Bearer <key>``. A key is
revoked by name (``farmtrace api-keys revoke``); a revoked key stays in the table so that the
acknowledgements signed under its name keep their meaning.

No message raised here ever holds a presented secret: errors name what was wrong (no header,
not ``Bearer ftk_...``, unknown, revoked, lacking a scope) and at most the key's name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from farmtrace.api.errors import Forbidden, Unauthorized
from farmtrace.store.api_keys import add_api_key, api_key_by_hash, revoke_api_keys
from farmtrace.store.database import Database

__all__ = ["SCOPES", "ApiKey", "check_key", "create_key", "revoke_key"]

SCOPES = (
    "lots:write",
    "events:write",
    "excursions:ack",
    "campaigns:write",
    "coupons:redeem",
    "community:write",
)
"""Scopes a key can hold: creating lots, recording events, acknowledging excursions, running
campaigns, redeeming coupons, and a value community operator's records (``community:write``)."""

_PREFIX = "ftk_"
_SHAPE = re.compile(r"ftk_[A-Za-z0-9_-]{43}")


class ApiKey:
    """An authenticated key: its name and scopes."""

    def __init__(self, name: str, scopes: frozenset[str]) -> None:
        self.name = name
        self.scopes = scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(database: Database, name: str, scopes: list[str]) -> str:
    """Store a new key with ``scopes`` and return its secret (the only time it is seen)."""
    if re.fullmatch(r"[\x21-\x7e]{1,128}", name) is None:
        # The name is signed into acknowledgements: printable ASCII without spaces.
        raise ValueError(f"key name {name!r} must be 1-128 printable ASCII characters, no spaces")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes {unknown}; choose from {', '.join(SCOPES)}")
    token = _PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    add_api_key(database, name, _hash(token), scopes, time.time())
    return token


def revoke_key(database: Database, name: str) -> int:
    """Revoke every live key named ``name``; return how many (``ValueError`` when none)."""
    done = revoke_api_keys(database, name, time.time())
    if not done:
        raise ValueError(f"no live API key named {name!r}")
    return done


def check_key(database: Database, authorization: str | None, scope: str) -> ApiKey:
    """The key in an ``Authorization`` header if it exists, is not revoked and holds ``scope``.

    Raises :class:`Unauthorized` (no header, malformed, unknown or revoked key) or
    :class:`Forbidden` (a valid key without ``scope``).
    """
    if authorization is None or not authorization.strip():
        raise Unauthorized("this endpoint needs an API key: Authorization: Bearer <key>")
    kind, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if kind.lower() != "bearer":
        raise Unauthorized("malformed Authorization header: want 'Bearer ftk_...'")
    if _SHAPE.fullmatch(token) is None:
        raise Unauthorized("malformed API key: want ftk_ followed by 43 URL-safe base64 characters")
    digest = _hash(token)
    row = api_key_by_hash(database, digest)
    # The look-up is by hash, so timing reveals nothing of the secret; compare once more in
    # constant time anyway so that equality never rests on the database's collation.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("unknown API key")
    if row.revoked_at is not None:
        # Whoever presents it holds the secret: telling them it is revoked gives nothing away.
        raise Unauthorized(f"API key {row.name!r} is revoked")
    if scope not in row.scopes:
        raise Forbidden(f"API key {row.name!r} lacks scope {scope}")
    return ApiKey(row.name, row.scopes)
