"""The ``chain_keys`` rows: every checkpoint verifier key a chain has signed with.

The table is append-only. A gateway records its current key when it opens its chain (before it
signs anything with it) and ``farmtrace keys rotate --db`` records a new key at once, so the API
lists a key as soon as a checkpoint signed by it can appear.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, insert, select

from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base

__all__ = ["chain_verifier_keys", "record_key", "recorded_keys"]

CHAIN_KEYS = Base.metadata.tables["chain_keys"]


def recorded_keys(conn: Connection, chain_id: int) -> list[str]:
    """The verifier keys chain ``chain_id`` recorded, oldest first."""
    rows = conn.execute(
        select(CHAIN_KEYS.c.vkey)
        .where(CHAIN_KEYS.c.chain_id == chain_id)
        .order_by(CHAIN_KEYS.c.added_at)
    )
    return [str(vkey) for (vkey,) in rows]


def chain_verifier_keys(database: Database, chain_id: int) -> list[str]:
    """The verifier keys chain ``chain_id`` recorded (current and retired), oldest first."""
    with database_errors("reading a chain's verifier keys"), database.engine.connect() as conn:
        return recorded_keys(conn, chain_id)


def record_key(engine: Engine, chain_id: int, vkey: str) -> bool:
    """Record ``vkey`` for chain ``chain_id`` unless it is there; ``True`` if it was added."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if vkey in recorded_keys(conn, chain_id):
            return False
        conn.execute(
            insert(CHAIN_KEYS), {"chain_id": chain_id, "vkey": vkey, "added_at": time.time()}
        )
    return True
