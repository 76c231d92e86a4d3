"""API keys with scopes, stored as the SHA-256 of their secret and compared in constant time.

A key is ``ftk_`` followed by 32 random bytes in URL-safe base64; it is shown once, when created
(``farmtrace api-keys create``). Clients send it as ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from sqlalchemy import Engine, insert, select

from api.errors import Forbidden, Unauthorized
from api.lots.schema import API_KEYS

__all__ = ["SCOPES", "ApiKey", "check_key", "create_key"]

SCOPES = ("lots:write", "events:write", "excursions:ack")
"""Scopes a key can hold: creating lots, recording events, acknowledging excursions."""

_PREFIX = "ftk_"


class ApiKey:
    """An authenticated key: its name and scopes."""

    def __init__(self, name: str, scopes: frozenset[str]) -> None:
        self.name = name
        self.scopes = scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(engine: Engine, name: str, scopes: list[str]) -> str:
    """Store a new key with ``scopes`` and return its secret (the only time it is seen)."""
    if re.fullmatch(r"[\x21-\x7e]{1,128}", name) is None:
        # The name is signed into acknowledgements: printable ASCII without spaces.
        raise ValueError(f"key name {name!r} must be 1-128 printable ASCII characters, no spaces")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes {unknown}; choose from {', '.join(SCOPES)}")
    token = _PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    with engine.begin() as c:
        c.execute(
            insert(API_KEYS).values(
                name=name,
                token_hash=_hash(token),
                scopes=" ".join(sorted(set(scopes))),
                created_at=time.time(),
            )
        )
    return token


def check_key(engine: Engine, authorization: str | None, scope: str) -> ApiKey:
    """The key in an ``Authorization`` header if it exists, is not revoked and holds ``scope``."""
    if authorization is None:
        raise Unauthorized("this endpoint needs an API key: Authorization: Bearer <key>")
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.startswith(_PREFIX):
        raise Unauthorized("malformed Authorization header: want 'Bearer ftk_...'")
    digest = _hash(token.strip())
    with engine.connect() as c:
        row = c.execute(select(API_KEYS).where(API_KEYS.c.token_hash == digest)).first()
    # The look-up is by hash, so timing reveals nothing of the secret; compare once more in
    # constant time anyway so that equality never rests on the database's collation.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
        raise Unauthorized("unknown or revoked API key")
    scopes = frozenset(row.scopes.split())
    if scope not in scopes:
        raise Forbidden(f"API key {row.name!r} lacks scope {scope}")
    return ApiKey(row.name, scopes)
