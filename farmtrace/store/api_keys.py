"""The ``api_keys`` rows: each API key's name, scopes and the SHA-256 of its secret.

The secret itself is never stored; a key is found by the hash of what a client presents
(``farmtrace.api.auth`` makes keys and checks them). A revoked key keeps its row, with
``revoked_at`` set, so that the acknowledgements signed under its name keep their meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base

__all__ = ["StoredApiKey", "add_api_key", "api_key_by_hash", "revoke_api_keys"]

API_KEYS = Base.metadata.tables["api_keys"]


@dataclass(frozen=True, slots=True)
class StoredApiKey:
    """An API key as stored: name, SHA-256 of its secret (hex), scopes, revocation time."""

    name: str
    token_hash: str
    scopes: frozenset[str]
    revoked_at: float | None


def add_api_key(
    database: Database, name: str, token_hash: str, scopes: Iterable[str], created_at: float
) -> None:
    """Store a key (its scopes space-separated, sorted); a ``token_hash`` already stored
    raises :class:`~farmtrace.store.errors.DatabaseError`."""
    with database_errors("storing an API key"), database.engine.begin() as c:
        c.execute(
            insert(API_KEYS).values(
                name=name,
                token_hash=token_hash,
                scopes=" ".join(sorted(set(scopes))),
                created_at=created_at,
            )
        )


def revoke_api_keys(database: Database, name: str, at: float) -> int:
    """Revoke, at time ``at``, every live key named ``name``; return how many there were."""
    with database_errors("revoking an API key"), database.engine.begin() as c:
        done = c.execute(
            update(API_KEYS)
            .where(API_KEYS.c.name == name, API_KEYS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        ).rowcount
    return int(done)


def api_key_by_hash(database: Database, token_hash: str) -> StoredApiKey | None:
    """The key whose secret hashes to ``token_hash`` (revoked or not), or ``None``."""
    with database_errors("looking up an API key"), database.engine.connect() as c:
        row = c.execute(select(API_KEYS).where(API_KEYS.c.token_hash == token_hash)).first()
    if row is None:
        return None
    return StoredApiKey(row.name, row.token_hash, frozenset(row.scopes.split()), row.revoked_at)
