"""Which served readings went backwards in time: the rule of :mod:`gateway.ingest.clock`
applied to stored readings, each against its device's previous stored reading by seq.

The previous reading is looked up in the database (the unique ``(device_id, seq)`` index), not
in what a response happens to hold, so the first reading of a lot's stage window is judged
against the reading before the window, exactly as ``farmtrace audit`` judges it.
"""

from __future__ import annotations

from sqlalchemy import Engine, ScalarSelect, select

from gateway.chain.entry import READING
from gateway.ingest.clock import went_backwards
from gateway.store.models import Base
from gateway.store.records import StoredEntry

__all__ = ["entry_went_backwards", "previous_timestamp"]

ENTRIES = Base.metadata.tables["entries"]


def previous_timestamp() -> ScalarSelect[int]:
    """A column for a query over ``entries``: the signed timestamp of the same device's stored
    reading with the greatest seq below the row's (NULL for its first). One correlated index
    lookup per row, so a lot's readings take one query however many there are."""
    before = ENTRIES.alias("before")
    return (
        select(before.c.timestamp_ms)
        .where(
            before.c.device_id == ENTRIES.c.device_id,
            before.c.kind == READING,
            before.c.seq < ENTRIES.c.seq,
        )
        .order_by(before.c.seq.desc())
        .limit(1)
        .correlate(ENTRIES)
        .scalar_subquery()
    )


def entry_went_backwards(engine: Engine, entry: StoredEntry) -> bool:
    """Whether ``entry`` is a reading whose device clock went backwards (false for others)."""
    if entry.kind != READING or entry.device_id is None or entry.seq is None:
        return False
    if entry.timestamp_ms is None:
        return False
    with engine.connect() as conn:
        previous = conn.execute(
            select(ENTRIES.c.timestamp_ms)
            .where(
                ENTRIES.c.device_id == entry.device_id,
                ENTRIES.c.kind == READING,
                ENTRIES.c.seq < entry.seq,
            )
            .order_by(ENTRIES.c.seq.desc())
            .limit(1)
        ).scalar()
    return went_backwards(None if previous is None else int(previous), entry.timestamp_ms)
