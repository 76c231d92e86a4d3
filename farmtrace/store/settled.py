"""The few reads the ingest makes of stored readings, straight from the ``entries`` table.

* :func:`committed_runs`: each device's settled seqs as inclusive runs (for watermarks at
  startup), computed in the database as "gaps and islands" so no seq list is ever loaded.
* :func:`stored_payloads`: the stored bytes of given ``(device_id, seq)`` keys (to tell an
  identical copy from a conflicting one).
* :func:`rejected_readings`, :func:`rejected_highs`: the signed rejections (quarantine rows
  with ``signed_rejection``) of given keys, and each device's highest one.
* :func:`committed_in`: which seqs in given ranges are settled (to learn of gaps filled by
  another gateway sharing the database).

A seq is **settled** when its reading is stored or was a signed rejection: the device's own
registered key signed it and the gateway rejected its content, durably. Both count for the
commit watermark. Readings are unique by ``(device_id, seq)`` across every chain, so these
span all chains.
Database failures are raised as :class:`farmtrace.store.errors.DatabaseError`.

:func:`stored_payloads` and :func:`rejected_readings` run on every batch holding a copy of a
stored or rejected reading (under hostile traffic, most batches), so they probe the
``(device_id, seq)`` indexes once per key, the keys passed as one JSON text (SQLite
``json_each``) or two arrays (PostgreSQL ``unnest`` with a ``LATERAL`` probe), as
:mod:`farmtrace.store.bulk` does. The row-value ``IN`` list of :func:`stored_payloads_reference`
and :func:`rejected_readings_reference` (the plain versions, which the tests hold them to) makes
SQLite scan the whole table instead, a cost that grows with the chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    TextClause,
    and_,
    func,
    or_,
    select,
    text,
    tuple_,
    union,
)

from farmtrace.store.engine import is_sqlite
from farmtrace.store.errors import database_call
from farmtrace.store.models import Base

__all__ = [
    "committed_in",
    "committed_runs",
    "rejected_highs",
    "rejected_readings",
    "rejected_readings_reference",
    "stored_payloads",
    "stored_payloads_reference",
]

ENTRIES = Base.metadata.tables["entries"]
QUARANTINE = Base.metadata.tables["quarantine"]
_CHUNK = 1000  # keys per query: 2,000 bound parameters, well within both backends' limits


def _settled() -> Select[tuple[str, int]]:
    """``(device_id, seq)`` of every settled seq, each once (a UNION removes repeats)."""
    stored = select(ENTRIES.c.device_id, ENTRIES.c.seq).where(ENTRIES.c.kind == "reading")
    rejected = select(QUARANTINE.c.device_id, QUARANTINE.c.seq).where(
        QUARANTINE.c.signed_rejection.is_(True)
    )
    settled = union(stored, rejected).subquery()
    return select(settled.c.device_id.label("device_id"), settled.c.seq.label("seq"))


def committed_runs(engine: Engine) -> dict[str, list[tuple[int, int]]]:
    """Every device's settled seqs as ``(first, last)`` inclusive runs, in no set order."""
    settled = _settled().subquery()
    readings = select(
        settled.c.device_id,
        settled.c.seq,
        (
            settled.c.seq
            - func.row_number().over(partition_by=settled.c.device_id, order_by=settled.c.seq)
        ).label("island"),
    ).subquery()
    query = select(
        readings.c.device_id, func.min(readings.c.seq), func.max(readings.c.seq)
    ).group_by(readings.c.device_id, readings.c.island)

    def load() -> dict[str, list[tuple[int, int]]]:
        islands: dict[str, list[tuple[int, int]]] = {}
        with engine.connect() as conn:
            for device_id, first, last in conn.execute(query):
                islands.setdefault(device_id, []).append((int(first), int(last)))
        return islands

    return database_call("cannot read the stored sequence numbers", load)


def rejected_highs(engine: Engine) -> dict[str, int]:
    """Each device's highest seq that was a signed rejection (devices without one: absent)."""
    query = (
        select(QUARANTINE.c.device_id, func.max(QUARANTINE.c.seq))
        .where(QUARANTINE.c.signed_rejection.is_(True))
        .group_by(QUARANTINE.c.device_id)
    )

    def load() -> dict[str, int]:
        with engine.connect() as conn:
            return {device_id: int(seq) for device_id, seq in conn.execute(query)}

    return database_call("cannot read the rejected sequence numbers", load)


def rejected_readings_reference(
    engine: Engine, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], tuple[bytes, str]]:
    """:func:`rejected_readings` as a plain SQLAlchemy query (a row-value ``IN`` list)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    pair = tuple_(QUARANTINE.c.device_id, QUARANTINE.c.seq)

    def load() -> dict[tuple[str, int], tuple[bytes, str]]:
        found: dict[tuple[str, int], tuple[bytes, str]] = {}
        with engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                rows = conn.execute(
                    select(
                        QUARANTINE.c.device_id,
                        QUARANTINE.c.seq,
                        QUARANTINE.c.payload,
                        QUARANTINE.c.reason,
                    )
                    .where(
                        QUARANTINE.c.signed_rejection.is_(True),
                        pair.in_(wanted[start : start + _CHUNK]),
                    )
                    .order_by(QUARANTINE.c.id)
                )
                for device_id, seq, payload, reason in rows:
                    found.setdefault((device_id, int(seq)), (bytes(payload), reason))
        return found

    return database_call("cannot look up rejected readings", load)


def stored_payloads_reference(
    engine: Engine, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], bytes]:
    """:func:`stored_payloads` as a plain SQLAlchemy query (a row-value ``IN`` list)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    pair = tuple_(ENTRIES.c.device_id, ENTRIES.c.seq)

    def load() -> dict[tuple[str, int], bytes]:
        found: dict[tuple[str, int], bytes] = {}
        with engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                rows = conn.execute(
                    select(ENTRIES.c.device_id, ENTRIES.c.seq, ENTRIES.c.payload).where(
                        pair.in_(wanted[start : start + _CHUNK])
                    )
                )
                found.update(((d, int(s)), bytes(p)) for d, s, p in rows)
        return found

    return database_call("cannot look up stored readings", load)


_SQLITE_STORED = text(
    "SELECT e.device_id, e.seq, e.payload FROM json_each(:keys) AS k "
    "JOIN entries AS e ON e.device_id = json_extract(k.value, '$[0]') "
    "AND e.seq = json_extract(k.value, '$[1]')"
)
_PG_STORED = text(
    "SELECT e.device_id, e.seq, e.payload "
    "FROM unnest(CAST(:ids AS text[]), CAST(:seqs AS bigint[])) AS k(device_id, seq) "
    "CROSS JOIN LATERAL (SELECT x.device_id, x.seq, x.payload FROM entries AS x "
    "WHERE x.device_id = k.device_id AND x.seq = k.seq LIMIT 1) AS e"
)
# The first signed rejection of each key (by id): copies of a rejected reading repeat its bytes.
_SQLITE_REJECTED = text(
    "SELECT q.device_id, q.seq, q.payload, q.reason FROM json_each(:keys) AS k "
    "JOIN quarantine AS q ON q.device_id = json_extract(k.value, '$[0]') "
    "AND q.seq = json_extract(k.value, '$[1]') "
    "WHERE q.signed_rejection = 1 ORDER BY q.id"
)
_PG_REJECTED = text(
    "SELECT q.device_id, q.seq, q.payload, q.reason "
    "FROM unnest(CAST(:ids AS text[]), CAST(:seqs AS bigint[])) AS k(device_id, seq) "
    "CROSS JOIN LATERAL (SELECT x.device_id, x.seq, x.payload, x.reason FROM quarantine AS x "
    "WHERE x.device_id = k.device_id AND x.seq = k.seq AND x.signed_rejection "
    "ORDER BY x.id LIMIT 1) AS q"
)


def _keyed(
    conn: Connection, sqlite_query: TextClause, pg_query: TextClause, keys: list[tuple[str, int]]
) -> list[tuple[Any, ...]]:
    """Run a keyed look-up (one index probe per key) on the connection's backend."""
    if is_sqlite(conn):
        rows = conn.execute(sqlite_query, {"keys": json.dumps(keys)})
    else:
        ids, seqs = [k[0] for k in keys], [k[1] for k in keys]
        rows = conn.execute(pg_query, {"ids": ids, "seqs": seqs})
    return [tuple(row) for row in rows]


def stored_payloads(
    engine: Engine, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], bytes]:
    """The stored payload of each ``(device_id, seq)`` in ``keys`` that is stored."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}

    def load() -> dict[tuple[str, int], bytes]:
        with engine.connect() as conn:
            rows = _keyed(conn, _SQLITE_STORED, _PG_STORED, wanted)
        return {(str(r[0]), int(r[1])): bytes(r[2]) for r in rows}

    return database_call("cannot look up stored readings", load)


def rejected_readings(
    engine: Engine, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], tuple[bytes, str]]:
    """``(payload, reason)`` of the signed rejection of each ``(device_id, seq)`` in ``keys``
    that has one (the first row; copies of a rejected reading repeat its bytes)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}

    def load() -> dict[tuple[str, int], tuple[bytes, str]]:
        found: dict[tuple[str, int], tuple[bytes, str]] = {}
        with engine.connect() as conn:
            rows = _keyed(conn, _SQLITE_REJECTED, _PG_REJECTED, wanted)
        for row in rows:
            found.setdefault((str(row[0]), int(row[1])), (bytes(row[2]), str(row[3])))
        return found

    return database_call("cannot look up rejected readings", load)


def committed_in(engine: Engine, ranges: Iterable[tuple[str, int, int]]) -> dict[str, list[int]]:
    """Settled seqs per device within each inclusive ``(device_id, first, last)`` range."""
    wanted = list(ranges)
    if not wanted:
        return {}
    per_query = _CHUNK // 4  # each range costs 3 parameters on each side of the union

    def load() -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        with engine.connect() as conn:
            for start in range(0, len(wanted), per_query):
                chunk = wanted[start : start + per_query]
                # The filter is repeated inside each side of the union so that both use their
                # (device_id, seq) index.
                stored = select(ENTRIES.c.device_id, ENTRIES.c.seq).where(
                    or_(
                        *[
                            and_(ENTRIES.c.device_id == d, ENTRIES.c.seq.between(a, b))
                            for d, a, b in chunk
                        ]
                    )
                )
                rejected = select(QUARANTINE.c.device_id, QUARANTINE.c.seq).where(
                    QUARANTINE.c.signed_rejection.is_(True),
                    or_(
                        *[
                            and_(QUARANTINE.c.device_id == d, QUARANTINE.c.seq.between(a, b))
                            for d, a, b in chunk
                        ]
                    ),
                )
                for device_id, seq in conn.execute(union(stored, rejected)):
                    found.setdefault(device_id, []).append(int(seq))
        return found

    return database_call("cannot read stored sequence numbers", load)
