"""Counts over a running gateway's database, for the demo's summary line and the benchmarks.

Read-only and safe to run while a gateway writes: nothing here creates, migrates or locks
anything. :class:`ChainCounter` connects with plain SQLAlchemy settings (no WAL or pragma
changes: it only watches a database another process owns).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.store.engine import create_db_engine
from farmtrace.store.errors import database_call
from farmtrace.store.models import Base

__all__ = [
    "ChainCounter",
    "ChainCounts",
    "DeviceSeqCounts",
    "ReadingTimes",
    "device_seq_counts",
    "read_counts",
    "reading_times",
]

ENTRIES = Base.metadata.tables["entries"]


@dataclass(frozen=True)
class ChainCounts:
    """Active devices, entries (the next global index), blocks and the newest checkpoint's
    size, over every chain of the database."""

    devices: int
    entries: int
    blocks: int
    checkpoint_size: int


class ChainCounter:
    """Reads :class:`ChainCounts` of the database at a URL, as often as asked."""

    def __init__(self, db_url: str) -> None:
        self._engine = create_engine(db_url)

    def read(self) -> ChainCounts | None:
        """The current counts, or ``None`` while they cannot be read (the gateway has not
        created its tables yet, or the database is busy)."""
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL),"
                        " (SELECT COALESCE(MAX(global_index) + 1, 0) FROM entries),"
                        " (SELECT COUNT(*) FROM blocks),"
                        " (SELECT COALESCE(MAX(size), 0) FROM checkpoints)"
                    )
                ).one()
        except SQLAlchemyError:
            return None
        return ChainCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()


def read_counts(db_url: str) -> ChainCounts | None:
    """The counts of the database at ``db_url`` once (see :meth:`ChainCounter.read`)."""
    counter = ChainCounter(db_url)
    try:
        return counter.read()
    finally:
        counter.close()


@dataclass(frozen=True)
class DeviceSeqCounts:
    """One device's stored entries: how many rows, how many distinct seqs, and the lowest
    and highest seq."""

    device_id: str
    rows: int
    distinct_seqs: int
    lowest_seq: int
    highest_seq: int


def device_seq_counts(db_url: str, device_prefix: str) -> list[DeviceSeqCounts]:
    """:class:`DeviceSeqCounts` of every device whose ID starts with ``device_prefix`` (a
    ``LIKE`` prefix) and has stored entries, in no set order."""
    query = (
        select(
            ENTRIES.c.device_id,
            func.count(),
            func.count(func.distinct(ENTRIES.c.seq)),
            func.min(ENTRIES.c.seq),
            func.max(ENTRIES.c.seq),
        )
        .where(ENTRIES.c.device_id.like(device_prefix + "%"))
        .group_by(ENTRIES.c.device_id)
    )

    def load() -> list[DeviceSeqCounts]:
        with engine.connect() as conn:
            return [
                DeviceSeqCounts(device_id, int(n), int(distinct), int(low), int(high))
                for device_id, n, distinct, low, high in conn.execute(query)
            ]

    engine = create_db_engine(db_url)
    try:
        return database_call("cannot count the stored readings", load)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class ReadingTimes:
    """Where a stored reading is and when it arrived: its block's height and the gateway's
    ``received_at`` (Unix seconds)."""

    device_id: str
    seq: int
    block_height: int
    received_at: float


def reading_times(db_url: str, device_prefix: str) -> list[ReadingTimes]:
    """:class:`ReadingTimes` of every stored entry of a device whose ID starts with
    ``device_prefix`` (a ``LIKE`` prefix), in no set order."""
    query = select(
        ENTRIES.c.device_id, ENTRIES.c.seq, ENTRIES.c.block_height, ENTRIES.c.received_at
    ).where(ENTRIES.c.device_id.like(device_prefix + "%"))

    def load() -> list[ReadingTimes]:
        with engine.connect() as conn:
            return [
                ReadingTimes(device_id, int(seq), int(height), float(received))
                for device_id, seq, height, received in conn.execute(query)
            ]

    engine = create_db_engine(db_url)
    try:
        return database_call("cannot read the stored readings' times", load)
    finally:
        engine.dispose()
