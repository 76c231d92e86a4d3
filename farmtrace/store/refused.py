"""Counting what the quarantine refused to keep: the ``quarantine_refused`` table.

The gateway stores a rejected message only within the quarantine's bounds (docs/gateway.md,
"Quarantine bounds"); every one past them is counted here instead, per chain, registered device
(``''`` for any other topic) and reason, with the payload bytes refused and when the first and
the last arrived. :func:`add_refused` adds a batch's counts on the caller's connection, inside
the transaction that stores the batch's quarantine rows, so a count is durable before the
messages it counts are acknowledged; :func:`refused_counts` reads them back for the audit.

:func:`add_refused` runs for nearly every batch under attack, so it sends one prepared upsert
(``INSERT ... ON CONFLICT DO UPDATE``, the same text on SQLite and PostgreSQL) with the rows as
plain parameters; building SQLAlchemy's ``on_conflict_do_update`` construct on every call cost
more than the database work. :func:`add_refused_reference` is that construct, the plain version
the tests hold it to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql, sqlite

from farmtrace.store.models import Base

__all__ = ["RefusedCount", "add_refused", "add_refused_reference", "refused_counts"]

REFUSED = Base.metadata.tables["quarantine_refused"]

_UPSERT = text(
    "INSERT INTO quarantine_refused "
    "(chain_id, device_id, reason, refused, refused_bytes, first_at, last_at) "
    "VALUES (:chain_id, :device_id, :reason, :refused, :refused_bytes, :first_at, :last_at) "
    "ON CONFLICT (chain_id, device_id, reason) DO UPDATE SET "
    "refused = quarantine_refused.refused + excluded.refused, "
    "refused_bytes = quarantine_refused.refused_bytes + excluded.refused_bytes, "
    "last_at = excluded.last_at"
)


@dataclass(frozen=True, slots=True)
class RefusedCount:
    """``refused`` messages (``refused_bytes`` of payload) of one device and reason, the first
    and the last received at ``first_at`` and ``last_at`` (seconds since the epoch).
    ``device_id`` is ``''`` for topics naming no registered device."""

    device_id: str
    reason: str
    refused: int
    refused_bytes: int
    first_at: float
    last_at: float


def _rows(chain_id: int, counts: Iterable[RefusedCount]) -> list[dict[str, object]]:
    return [
        {
            "chain_id": chain_id,
            "device_id": c.device_id,
            "reason": c.reason,
            "refused": c.refused,
            "refused_bytes": c.refused_bytes,
            "first_at": c.first_at,
            "last_at": c.last_at,
        }
        for c in counts
    ]


def add_refused(conn: Connection, chain_id: int, counts: Iterable[RefusedCount]) -> None:
    """Add ``counts`` to chain ``chain_id``'s counters (one upsert per device and reason): a
    new counter takes the count as it is; an existing one adds ``refused`` and
    ``refused_bytes``, keeps its ``first_at`` and takes the count's ``last_at``."""
    rows = _rows(chain_id, counts)
    if rows:
        conn.execute(_UPSERT, rows)


def add_refused_reference(conn: Connection, chain_id: int, counts: Iterable[RefusedCount]) -> None:
    """:func:`add_refused` through SQLAlchemy's dialect ``on_conflict_do_update``."""
    rows = _rows(chain_id, counts)
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(REFUSED)
    excluded = statement.excluded
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["chain_id", "device_id", "reason"],
            set_={
                "refused": REFUSED.c.refused + excluded.refused,
                "refused_bytes": REFUSED.c.refused_bytes + excluded.refused_bytes,
                "last_at": excluded.last_at,
            },
        ),
        rows,
    )


def refused_counts(conn: Connection) -> list[RefusedCount]:
    """Every counter row of every chain, summed over chains, by device and reason."""
    totals: dict[tuple[str, str], RefusedCount] = {}
    for row in conn.execute(
        select(
            REFUSED.c.device_id,
            REFUSED.c.reason,
            REFUSED.c.refused,
            REFUSED.c.refused_bytes,
            REFUSED.c.first_at,
            REFUSED.c.last_at,
        ).order_by(REFUSED.c.device_id, REFUSED.c.reason)
    ):
        key = (row.device_id, row.reason)
        seen = totals.get(key)
        count = RefusedCount(
            row.device_id,
            row.reason,
            int(row.refused),
            int(row.refused_bytes),
            float(row.first_at),
            float(row.last_at),
        )
        if seen is not None:
            count = RefusedCount(
                seen.device_id,
                seen.reason,
                seen.refused + count.refused,
                seen.refused_bytes + count.refused_bytes,
                min(seen.first_at, count.first_at),
                max(seen.last_at, count.last_at),
            )
        totals[key] = count
    return list(totals.values())
