"""The on-disk outbox: every reading stays here until it is safe to forget.

One SQLite database per state directory (``outbox.sqlite3``, WAL) holds, per device, the last
sequence number ever assigned and the readings not yet acknowledged. A reading and its sequence
number are written in the same transaction, and the caller publishes only after
:meth:`Outbox.flush` has committed it, so a published sequence number is always on disk and is
never handed out again, even after a crash.

Forgetting happens on the broker's PUBACK (the default) or, with ``until_committed``, once the
gateway's commit watermark covers the reading. The outbox is bounded per device: when it is full
the oldest reading is dropped, counted, and recorded as the device's drop floor
(``docs/wire-format.md``).

``synchronous=NORMAL`` in WAL mode survives a killed process; after a power cut the last
transactions before it may be lost, and with them sequence numbers that were never published.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from farmtrace.sim.errors import StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE,
    last_seq INTEGER NOT NULL DEFAULT 0,
    committed INTEGER NOT NULL DEFAULT 0,
    dropped_through INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS outbox (
    device INTEGER NOT NULL REFERENCES device(id),
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (device, seq)
) STRICT, WITHOUT ROWID;
"""


@dataclass(slots=True)
class DeviceRecord:
    """One device's persistent counters, mirrored in memory."""

    key: int
    device_id: str
    last_seq: int
    committed: int
    dropped_through: int
    dropped: int
    queued: int


class Outbox:
    """Readings waiting for acknowledgement, per device, bounded by ``queue_limit``.

    Changes accumulate in one open transaction; :meth:`flush` commits them. Not thread-safe:
    the simulator's single event-loop thread owns it.
    """

    def __init__(self, path: Path, queue_limit: int) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        self.queue_limit = queue_limit
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._db.execute("BEGIN")
        except sqlite3.Error as err:
            raise StateError(f"cannot open outbox {path}: {err}") from err
        self._dirty: dict[int, DeviceRecord] = {}

    def register(self, device_id: str) -> DeviceRecord:
        """The device's record, created (last seq 0) on its first run."""
        db = self._db
        db.execute("INSERT OR IGNORE INTO device (device_id) VALUES (?)", (device_id,))
        row = db.execute(
            "SELECT id, last_seq, committed, dropped_through, dropped FROM device"
            " WHERE device_id = ?",
            (device_id,),
        ).fetchone()
        (queued,) = db.execute("SELECT count(*) FROM outbox WHERE device = ?", (row[0],)).fetchone()
        return DeviceRecord(row[0], device_id, row[1], row[2], row[3], row[4], queued)

    def add(self, record: DeviceRecord, seq: int, payload: bytes) -> int | None:
        """Store a reading with the next sequence number; return the seq dropped to make room.

        ``seq`` must exceed every seq stored for the device before.
        """
        dropped: int | None = None
        if record.queued >= self.queue_limit:
            (dropped,) = self._db.execute(
                "DELETE FROM outbox WHERE device = ?1 AND seq ="
                " (SELECT min(seq) FROM outbox WHERE device = ?1) RETURNING seq",
                (record.key,),
            ).fetchone()
            record.queued -= 1
            record.dropped += 1
            record.dropped_through = max(record.dropped_through, dropped)
        self._db.execute(
            "INSERT INTO outbox (device, seq, payload) VALUES (?, ?, ?)",
            (record.key, seq, payload),
        )
        record.queued += 1
        record.last_seq = seq
        self._dirty[record.key] = record
        return dropped

    def acknowledge(self, record: DeviceRecord, seq: int) -> None:
        """Forget one reading (its PUBACK arrived)."""
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE device = ? AND seq = ?", (record.key, seq)
        )
        record.queued -= cursor.rowcount

    def prune(self, record: DeviceRecord, watermark: int) -> int:
        """Forget every reading at or below the commit watermark; return how many."""
        if watermark > record.committed:
            record.committed = watermark
            self._dirty[record.key] = record
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE device = ? AND seq <= ?", (record.key, watermark)
        )
        record.queued -= cursor.rowcount
        return cursor.rowcount

    def pending(self, record: DeviceRecord, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored readings with seq above ``after``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, payload FROM outbox WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?",
            (record.key, after, limit),
        ).fetchall()
        return [(seq, bytes(payload)) for seq, payload in rows]

    def reset_sequence(self, record: DeviceRecord) -> None:
        """Fault injection only: the device forgets its counter and queue, like a re-flash."""
        self._db.execute("DELETE FROM outbox WHERE device = ?", (record.key,))
        record.queued = 0
        record.last_seq = 0
        record.committed = 0
        record.dropped_through = 0
        self._dirty[record.key] = record

    def flush(self) -> None:
        """Commit everything since the last flush (durable against a killed process)."""
        if self._dirty:
            self._db.executemany(
                "UPDATE device SET last_seq = ?, committed = ?, dropped_through = ?, dropped = ?"
                " WHERE id = ?",
                [
                    (r.last_seq, r.committed, r.dropped_through, r.dropped, r.key)
                    for r in self._dirty.values()
                ],
            )
            self._dirty.clear()
        try:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
        except sqlite3.Error as err:
            raise StateError(f"cannot commit the outbox: {err}") from err

    def close(self) -> None:
        self.flush()
        self._db.execute("COMMIT")
        self._db.close()
