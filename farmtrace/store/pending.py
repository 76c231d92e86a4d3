"""Entries waiting for a block ("sequence, then integrate").

Other components (the API's lot events) sign an entry and store it durably in
``pending_entries``; the ledger's next append takes those not yet in ``entries`` into its block,
in the same transaction. The ``(device_id, seq)`` key, unique in ``entries`` across the
database, makes integration happen once even with several gateways.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, select

from farmtrace.store.models import Base
from farmtrace.store.records import PendingReading

__all__ = ["LOOKBACK_S", "MAX_PENDING_PER_BLOCK", "PendingFloor", "pending_entries"]

PENDING = Base.metadata.tables["pending_entries"]
ENTRIES = Base.metadata.tables["entries"]

MAX_PENDING_PER_BLOCK = 1000
"""At most this many pending entries go into one block (the rest wait for the next)."""

LOOKBACK_S = 3600.0
"""How far before the last complete look a later look starts again (:class:`PendingFloor`).

Covers clock differences between the API's hosts and the gateway's, and transactions that
commit long after they stamped ``created_at``."""


class PendingFloor:
    """Where a ledger's next look at ``pending_entries`` may start (``created_at``).

    The first look scans everything; once a look found every pending entry (fewer than its
    limit), later looks start :data:`LOOKBACK_S` before that moment, through the
    ``created_at`` index, so their cost follows recent events, not all events ever queued.
    """

    def __init__(self) -> None:
        self.since = float("-inf")

    def looked(self, found: int, limit: int, at: float) -> None:
        if found < limit:
            self.since = max(self.since, at - LOOKBACK_S)


def pending_entries(
    conn: Connection, limit: int = MAX_PENDING_PER_BLOCK, since: float = float("-inf")
) -> list[PendingReading]:
    """Pending entries created at ``since`` or later and not yet on any chain, oldest first."""
    query = select(PENDING)
    if since != float("-inf"):
        query = query.where(PENDING.c.created_at >= since)
    rows = conn.execute(
        query.outerjoin(
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
