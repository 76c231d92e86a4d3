"""Entries waiting for a block ("sequence, then integrate"): the one module that owns the
``pending_entries`` queue, both its sides.

Other components (the API's lot records, ``farmtrace.store.lots``) sign an entry under the
signer's :func:`next_seq` and :func:`queue_entry` it durably, in their own transaction; the
ledger's next append takes those not yet in ``entries`` (:func:`pending_entries`) into its
block, in the same transaction. The ``(device_id, seq)`` key, unique in ``entries`` across the
database, makes integration happen once even with several gateways.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, insert, select

from farmtrace.store.models import Base
from farmtrace.store.records import PendingReading

__all__ = [
    "FULL_LOOK_EVERY_S",
    "LOOKBACK_S",
    "MAX_PENDING_PER_BLOCK",
    "RECENT_S",
    "PendingFloor",
    "next_seq",
    "pending_entries",
    "queue_entry",
]

PENDING = Base.metadata.tables["pending_entries"]
ENTRIES = Base.metadata.tables["entries"]

MAX_PENDING_PER_BLOCK = 1000
"""At most this many pending entries go into one block (the rest wait for the next)."""

LOOKBACK_S = 3600.0
"""How far before the last complete look a later look starts again (:class:`PendingFloor`).

Covers clock differences between the API's hosts and the gateway's, and transactions that
commit long after they stamped ``created_at``."""


RECENT_S = 30.0
"""How far back the frequent looks reach (:meth:`PendingFloor.start`)."""

FULL_LOOK_EVERY_S = 60.0
"""How often a look reaches back the whole :data:`LOOKBACK_S` instead of :data:`RECENT_S`."""


class PendingFloor:
    """Where a ledger's next look at ``pending_entries`` may start (``created_at``).

    The first look scans everything; once a look found every pending entry (fewer than its
    limit), later looks start :data:`LOOKBACK_S` before that moment, through the
    ``created_at`` index, so their cost follows recent events, not all events ever queued.

    Rows stay in ``pending_entries`` after they are integrated (the table is append-only), and
    a look walks every row of its window to find the few not yet in ``entries``: at a thousand
    coupon transfers a second, an hour's window is millions of rows per block. So most looks
    reach back only :data:`RECENT_S` (entries are normally queued moments before the gateway
    looks), and one look every :data:`FULL_LOOK_EVERY_S` reaches back the whole
    :data:`LOOKBACK_S`: an entry whose transaction committed long after it stamped
    ``created_at``, or stamped by a host whose clock lags, still gets a block, a minute late
    at most.
    """

    def __init__(self) -> None:
        self.since = float("-inf")
        self._last_full = float("-inf")

    def start(self, now: float) -> tuple[float, bool]:
        """Where a look at ``now`` starts, and whether it is a full look."""
        if now - self._last_full >= FULL_LOOK_EVERY_S or now < self._last_full:
            return self.since, True
        return max(self.since, now - RECENT_S), False

    def looked(self, found: int, limit: int, at: float, full: bool = True) -> None:
        """Record a look at ``at`` that found ``found`` entries of at most ``limit``."""
        # Only a complete full look tells that nothing older waits; a recent look saw too little.
        if found < limit and full:
            self._last_full = at
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


def next_seq(conn: Connection, device_id: str) -> int:
    """The next sequence number of signer ``device_id``: one above everything it queued."""
    top = conn.execute(
        select(func.max(PENDING.c.seq)).where(PENDING.c.device_id == device_id)
    ).scalar()
    return int(top or 0) + 1


def queue_entry(conn: Connection, entry: PendingReading) -> None:
    """Queue a signed entry for the next block, in the caller's transaction; its
    ``received_at`` is when it was queued (``created_at``, which :func:`pending_entries` returns
    the same way). A ``(device_id, seq)`` already queued fails with SQLAlchemy's
    ``IntegrityError``."""
    conn.execute(
        insert(PENDING).values(
            device_id=entry.device_id,
            seq=entry.seq,
            timestamp_ms=entry.timestamp_ms,
            payload=entry.payload,
            created_at=entry.received_at,
        )
    )
