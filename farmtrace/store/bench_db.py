"""Benchmark databases: building them fast, and how many bytes they spend per reading.

``dbstat`` (SQLite's page accounting) splits the file by table and index, so the cost of one
table (``block_hashes``, say) is read off directly.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["StorageSize", "skip_fsync", "sqlite_storage"]


def skip_fsync(engine: Engine) -> None:
    """Make every connection ``engine`` hands out from now on commit without waiting for the
    disk (SQLite ``synchronous=OFF``): for building a benchmark's database only, whose rows are
    the same either way and which a crash merely forces to be rebuilt."""

    def unsynced(conn: Any, _record: Any, _proxy: Any) -> None:
        cursor = conn.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    if engine.dialect.name == "sqlite":
        event.listen(engine, "checkout", unsynced)


@dataclass(frozen=True)
class StorageSize:
    """A SQLite file's size and what it holds: ``tables`` maps each table and index to the
    bytes of its pages."""

    file_bytes: int
    readings: int
    entries: int
    blocks: int
    tables: dict[str, int]

    def bytes_per_reading(self, *, without: tuple[str, ...] = ()) -> float:
        """File bytes per stored reading, leaving out the pages of tables and indexes whose
        name contains one of ``without``."""
        left_out = sum(n for name, n in self.tables.items() if any(w in name for w in without))
        return (self.file_bytes - left_out) / max(self.readings, 1)


def sqlite_storage(path: Path) -> StorageSize:
    """The :class:`StorageSize` of the SQLite database file ``path`` (opened read-only)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        readings = conn.execute("SELECT COUNT(*) FROM entries WHERE kind = 'reading'").fetchone()
        entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
        blocks = conn.execute("SELECT COUNT(*) FROM blocks").fetchone()
        tables = {
            str(name): int(size)
            for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        }
    return StorageSize(path.stat().st_size, readings[0], entries[0], blocks[0], tables)
