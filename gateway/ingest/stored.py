"""The few reads the ingest makes of stored readings, straight from the ``entries`` table.

* :func:`committed_runs`: each device's committed seqs as runs (for watermarks at startup),
  computed in the database as "gaps and islands" so no seq list is ever loaded.
* :func:`stored_payloads`: the stored bytes of given ``(device_id, seq)`` keys (to tell an
  identical copy from a conflicting one).
* :func:`committed_in`: which seqs in given ranges are stored (to learn of gaps filled by
  another gateway sharing the database).

Readings are unique by ``(device_id, seq)`` across every chain, so these span all chains.
Database failures are raised as :class:`gateway.store.errors.DatabaseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import Engine, and_, func, or_, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from gateway.ingest.seqruns import SeqRuns
from gateway.store.errors import DatabaseError
from gateway.store.models import Base

__all__ = ["committed_in", "committed_runs", "stored_payloads"]

ENTRIES = Base.metadata.tables["entries"]
_CHUNK = 1000  # keys per query: 2,000 bound parameters, well within both backends' limits
_T = TypeVar("_T")


def _db(what: str, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except SQLAlchemyError as exc:
        origin = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"{what}: {type(origin).__name__}: {origin}") from None


def committed_runs(engine: Engine) -> dict[str, SeqRuns]:
    """Every device's stored seqs, as a :class:`SeqRuns` (watermark plus runs above it)."""
    readings = (
        select(
            ENTRIES.c.device_id,
            ENTRIES.c.seq,
            (
                ENTRIES.c.seq
                - func.row_number().over(partition_by=ENTRIES.c.device_id, order_by=ENTRIES.c.seq)
            ).label("island"),
        )
        .where(ENTRIES.c.kind == "reading")
        .subquery()
    )
    query = select(
        readings.c.device_id, func.min(readings.c.seq), func.max(readings.c.seq)
    ).group_by(readings.c.device_id, readings.c.island)

    def load() -> dict[str, SeqRuns]:
        islands: dict[str, list[tuple[int, int]]] = {}
        with engine.connect() as conn:
            for device_id, first, last in conn.execute(query):
                islands.setdefault(device_id, []).append((int(first), int(last)))
        return {device_id: SeqRuns(0, runs) for device_id, runs in islands.items()}

    return _db("cannot read the stored sequence numbers", load)


def stored_payloads(
    engine: Engine, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], bytes]:
    """The stored payload of each ``(device_id, seq)`` in ``keys`` that is stored."""
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

    return _db("cannot look up stored readings", load)


def committed_in(engine: Engine, ranges: Iterable[tuple[str, int, int]]) -> dict[str, list[int]]:
    """Stored seqs per device within each inclusive ``(device_id, first, last)`` range."""
    wanted = list(ranges)
    if not wanted:
        return {}

    def load() -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        with engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK // 2):
                clauses = [
                    and_(ENTRIES.c.device_id == d, ENTRIES.c.seq.between(a, b))
                    for d, a, b in wanted[start : start + _CHUNK // 2]
                ]
                rows = conn.execute(select(ENTRIES.c.device_id, ENTRIES.c.seq).where(or_(*clauses)))
                for device_id, seq in rows:
                    found.setdefault(device_id, []).append(int(seq))
        return found

    return _db("cannot read stored sequence numbers", load)
