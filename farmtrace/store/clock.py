"""Which stored readings went backwards in time: the rule of :mod:`farmtrace.chain.clock`
applied to stored readings, each against its device's previous stored reading by seq.

The previous reading is looked up in the database (the unique ``(device_id, seq)`` index), not
in what a response happens to hold, so the first reading of a lot's stage window is judged
against the reading before the window, exactly as ``farmtrace audit`` judges it. One query
builder serves both the lot query's correlated column and the single-reading lookup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, ScalarSelect, Select, select

from farmtrace.chain.clock import went_backwards
from farmtrace.chain.entry import READING
from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base
from farmtrace.store.records import StoredEntry

__all__ = ["entry_went_backwards", "previous_timestamp"]

ENTRIES = Base.metadata.tables["entries"]


def _previous(table: FromClause, device_id: Any, seq: Any) -> Select[Any]:
    """The signed timestamp of ``device_id``'s stored reading with the greatest seq below
    ``seq`` (values, or columns of a correlated outer query)."""
    return (
        select(table.c.timestamp_ms)
        .where(table.c.device_id == device_id, table.c.kind == READING, table.c.seq < seq)
        .order_by(table.c.seq.desc())
        .limit(1)
    )


def previous_timestamp() -> ScalarSelect[int]:
    """A column for a query over ``entries``: the signed timestamp of the same device's stored
    reading with the greatest seq below the row's (NULL for its first). One correlated index
    lookup per row, so a lot's readings take one query however many there are."""
    before = ENTRIES.alias("before")
    return (
        _previous(before, ENTRIES.c.device_id, ENTRIES.c.seq).correlate(ENTRIES).scalar_subquery()
    )


def entry_went_backwards(database: Database, entry: StoredEntry) -> bool:
    """Whether ``entry`` is a reading whose device clock went backwards (false for others)."""
    if entry.kind != READING or entry.device_id is None or entry.seq is None:
        return False
    if entry.timestamp_ms is None:
        return False
    with database_errors("reading the previous reading"), database.engine.connect() as conn:
        previous = conn.execute(_previous(ENTRIES, entry.device_id, entry.seq)).scalar()
    return went_backwards(None if previous is None else int(previous), entry.timestamp_ms)
