"""The two bulk statements of the append hot path, written for each backend.

Going through SQLAlchemy's per-row parameter processing costs more than the database work for a
batch of thousands of entries, so the hot path speaks to the driver directly:

* looking up which ``(device_id, seq)`` keys are already stored: one statement whatever the
  batch size, probing the entries' unique index once per key, the keys passed as one JSON text
  (SQLite ``json_each``) or two arrays (PostgreSQL ``unnest``); the cost depends on the batch,
  not on how many entries are stored;
* inserting the entries: ``executemany`` of plain tuples on SQLite, ``COPY ... FROM STDIN`` on
  PostgreSQL (several times faster than multi-row ``INSERT`` there).

Both run on the caller's connection, inside its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from farmtrace.store.engine import is_sqlite

__all__ = ["ENTRY_COLUMNS", "insert_entries", "stored_keys"]

ENTRY_COLUMNS = (
    "chain_id",
    "global_index",
    "block_height",
    "index_in_block",
    "kind",
    "device_id",
    "seq",
    "timestamp_ms",
    "received_at",
    "payload",
)
"""Column order of the tuples :func:`insert_entries` takes."""

_SQLITE_LOOKUP = text(
    "SELECT e.device_id, e.seq FROM json_each(:keys) AS k "
    "JOIN entries AS e ON e.device_id = json_extract(k.value, '$[0]') "
    "AND e.seq = json_extract(k.value, '$[1]')"
)
# LATERAL ... LIMIT 1 makes PostgreSQL probe the unique index once per key; a plain join lets
# the planner pick a hash join over a full scan of entries, which grows with the table.
_PG_LOOKUP = text(
    "SELECT e.device_id, e.seq FROM unnest(CAST(:ids AS text[]), CAST(:seqs AS bigint[])) "
    "AS k(device_id, seq) CROSS JOIN LATERAL (SELECT x.device_id, x.seq FROM entries AS x "
    "WHERE x.device_id = k.device_id AND x.seq = k.seq LIMIT 1) AS e"
)
_SQLITE_INSERT = (
    f"INSERT INTO entries ({', '.join(ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})"
)
_PG_COPY = f"COPY entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN"


def stored_keys(conn: Connection, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of ``keys`` (``(device_id, seq)`` pairs) are stored already, on any chain."""
    if not keys:
        return set()
    if is_sqlite(conn):
        rows = conn.execute(_SQLITE_LOOKUP, {"keys": json.dumps(keys)})
    else:
        rows = conn.execute(_PG_LOOKUP, {"ids": [k[0] for k in keys], "seqs": [k[1] for k in keys]})
    return {(device_id, int(seq)) for device_id, seq in rows}


def insert_entries(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert entry rows (tuples in :data:`ENTRY_COLUMNS` order) in the current transaction."""
    if not rows:
        return
    if is_sqlite(conn):
        conn.exec_driver_sql(_SQLITE_INSERT, list(rows))
        return
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("no driver connection")
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi_error as exc:
        # Raise what SQLAlchemy would have (IntegrityError for a unique violation...), so
        # callers handle one family of exceptions whichever way the rows went in.
        raise DBAPIError.instance(_PG_COPY, None, exc, dbapi_error) from exc
