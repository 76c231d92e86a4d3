"""Entries waiting for a block ("sequence, then integrate").

Other components (the API's lot events) sign an entry and store it durably in
``pending_entries``; the ledger's next append takes those not yet in ``entries`` into its block,
in the same transaction. The ``(device_id, seq)`` key, unique in ``entries`` across the
database, makes integration happen once even with several gateways.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, select

from gateway.store.models import Base
from gateway.store.records import PendingReading

__all__ = ["MAX_PENDING_PER_BLOCK", "pending_entries"]

PENDING = Base.metadata.tables["pending_entries"]
ENTRIES = Base.metadata.tables["entries"]

MAX_PENDING_PER_BLOCK = 1000
"""At most this many pending entries go into one block (the rest wait for the next)."""


def pending_entries(conn: Connection, limit: int = MAX_PENDING_PER_BLOCK) -> list[PendingReading]:
    """Pending entries not yet on any chain, oldest first."""
    rows = conn.execute(
        select(PENDING)
        .outerjoin(
            ENTRIES,
            and_(ENTRIES.c.device_id == PENDING.c.device_id, ENTRIES.c.seq == PENDING.c.seq),
        )
        .where(ENTRIES.c.device_id.is_(None))
        .order_by(PENDING.c.created_at, PENDING.c.device_id, PENDING.c.seq)
        .limit(limit)
    )
    return [
        PendingReading(r.device_id, int(r.seq), int(r.timestamp_ms), bytes(r.payload), r.created_at)
        for r in rows
    ]
