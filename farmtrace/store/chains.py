"""The ``chains`` rows and the one-writer-per-chain rule.

Each gateway origin has one row in ``chains``; its ID keys the chain's entries, blocks and
checkpoints. On PostgreSQL a ledger holds a session advisory lock on its chain for as long as it
is open, so a second process with the same origin (and a copy of the key) cannot append and
fork the chain; on SQLite the state-directory lock and the database's single writer do that job.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, insert, select, text

from farmtrace.store.engine import is_sqlite
from farmtrace.store.errors import StoreError
from farmtrace.store.reader import CHAINS

__all__ = ["ensure_chain", "lock_chain"]

_PG_LOCK_CLASS = 0x6674  # "ft": namespace of farmtrace's per-chain advisory locks


def ensure_chain(engine: Engine, origin: str) -> int:
    """The ID of the chain ``origin``, creating its row on first use."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        found = conn.execute(select(CHAINS.c.id).where(CHAINS.c.origin == origin)).scalar()
        if found is None:
            found = conn.execute(
                insert(CHAINS).values(origin=origin, created_at=time.time()).returning(CHAINS.c.id)
            ).scalar_one()
        return int(found)


def lock_chain(engine: Engine, chain_id: int, origin: str) -> Connection | None:
    """On PostgreSQL, hold a session advisory lock on the chain so no second writer opens it."""
    if is_sqlite(engine):
        return None
    conn = engine.connect()
    got = conn.execute(
        text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": _PG_LOCK_CLASS, "k": chain_id}
    ).scalar()
    conn.commit()
    if not got:
        conn.close()
        raise StoreError(f"chain {origin} is already open for writing by another gateway process")
    return conn
