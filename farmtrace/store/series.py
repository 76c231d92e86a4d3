"""A device's run of readings around a time window: the store side of a complete series.

For a stage window ``[start_ms, end_ms]`` (``end_ms`` ``None``: still open) and a device,
:meth:`SeriesReader.run` finds the seq range a bundle must hold to prove it has every reading
of that device inside the window (``docs/bundle.md``, "Complete series"):

* the window's readings are the device's readings whose signed timestamp lies inside it; their
  lowest and highest seq are ``lo`` and ``hi``;
* the lower boundary is the device's reading with the greatest seq below ``lo`` whose timestamp
  is before ``start_ms`` (``None``: the run starts at the device's seq 1);
* the upper boundary is the reading with the smallest seq above ``hi`` whose timestamp is after
  ``end_ms`` (``None``: no such reading is stored yet; the run then ends at the device's newest
  stored reading, or at its drop floor when that is higher).

Readings between a boundary and the window (a device clock that jumped) are part of the run.
Seqs are unique per device across every chain (``entries``' unique ``(device_id, seq)``), so a
run may span chains. Only entries covered by the given checkpoints are seen (``covered``: for
each chain origin, how many of its blocks the bundle's checkpoint covers), so a run never holds
a reading the bundle cannot prove. Database failures raise
:class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)

from farmtrace.chain.entry import READING
from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base
from farmtrace.store.records import StoredFloor

__all__ = ["DeviceRun", "RunReading", "SeriesReader", "UpperBound"]

ENTRIES = Base.metadata.tables["entries"]
CHAINS = Base.metadata.tables["chains"]
DROP_FLOORS = Base.metadata.tables["drop_floors"]
QUARANTINE = Base.metadata.tables["quarantine"]

UpperBound = Literal["boundary", "newest-stored", "drop-floor"]


@dataclass(frozen=True, slots=True)
class RunReading:
    """A stored reading of a run: where it is on its chain, its seq, signed time and bytes."""

    origin: str
    global_index: int
    seq: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class DeviceRun:
    """The seqs ``first_seq..last_seq`` of one device a bundle holds for one window.

    ``lower_boundary``: ``first_seq`` is a reading signed before the window (else ``first_seq``
    is 1, the device's first seq). ``upper``: ``last_seq`` is a reading signed after the window
    (``boundary``), the device's newest stored reading (``newest-stored``; ``last_seq`` is 0
    when none is stored), or its drop floor (``drop-floor``). ``readings``: the stored readings
    of the run, by seq; a seq of the run without one is a gap. ``floor``: the device's highest
    believed drop floor with its signed statement, or ``None``. ``rejected``: the run's seqs the
    gateway refused although the device's signature held (signed rejections in the quarantine).
    """

    device_id: str
    first_seq: int
    lower_boundary: bool
    last_seq: int
    upper: UpperBound
    readings: tuple[RunReading, ...]
    floor: StoredFloor | None
    rejected: frozenset[int] = frozenset()


class SeriesReader:
    """Runs of readings as of a bundle's checkpoints (see the module docstring)."""

    def __init__(self, database: Database, covered: Mapping[str, int]) -> None:
        self.database = database
        self.covered = dict(covered)

    def runs(
        self,
        device_ids: Sequence[str],
        start_ms: int,
        end_ms: int | None,
        *,
        payloads: bool = True,
    ) -> list[DeviceRun]:
        """The run of each device for the window, in the order given (one connection).

        Without ``payloads`` the readings' ``payload`` is empty (their seqs and places only:
        enough to find the gaps)."""
        with database_errors("reading a series"), self.database.engine.connect() as conn:
            visible = self._visible(conn)
            return [_run(conn, visible, d, start_ms, end_ms, payloads) for d in device_ids]

    def _visible(self, conn: Connection) -> ColumnElement[bool]:
        if not self.covered:
            return false()
        rows = conn.execute(
            select(CHAINS.c.id, CHAINS.c.origin).where(CHAINS.c.origin.in_(list(self.covered)))
        )
        clauses = [
            and_(ENTRIES.c.chain_id == chain_id, ENTRIES.c.block_height < self.covered[origin])
            for chain_id, origin in rows
        ]
        return or_(false(), *clauses)


def _seq(conn: Connection, where: list[Any], *, highest: bool) -> int | None:
    order = ENTRIES.c.seq.desc() if highest else ENTRIES.c.seq.asc()
    found = conn.execute(select(ENTRIES.c.seq).where(*where).order_by(order).limit(1)).scalar()
    return None if found is None else int(found)


def _run(
    conn: Connection,
    visible: ColumnElement[bool],
    device_id: str,
    start_ms: int,
    end_ms: int | None,
    payloads: bool,
) -> DeviceRun:
    mine = [ENTRIES.c.device_id == device_id, ENTRIES.c.kind == READING, visible]
    ts = ENTRIES.c.timestamp_ms
    inside = [ts >= start_ms] + ([] if end_ms is None else [ts <= end_ms])
    lo, hi = conn.execute(
        select(func.min(ENTRIES.c.seq), func.max(ENTRIES.c.seq)).where(*mine, *inside)
    ).one()
    below = [] if lo is None else [ENTRIES.c.seq < lo]
    lower = _seq(conn, [*mine, *below, ts < start_ms], highest=True)
    upper: int | None = None
    if end_ms is not None:
        above = hi if hi is not None else lower
        after = [] if above is None else [ENTRIES.c.seq > above]
        upper = _seq(conn, [*mine, *after, ts > end_ms], highest=False)
    floor = _floor(conn, device_id)
    kind: UpperBound = "boundary"
    last = upper
    if last is None:
        last = _seq(conn, mine, highest=True) or 0
        kind = "newest-stored"
        if floor is not None and floor.floor > last:
            last, kind = floor.floor, "drop-floor"
    first = 1 if lower is None else lower
    rows = conn.execute(
        select(
            CHAINS.c.origin,
            ENTRIES.c.global_index,
            ENTRIES.c.seq,
            ENTRIES.c.timestamp_ms,
            ENTRIES.c.payload if payloads else literal(b"", LargeBinary).label("payload"),
        )
        .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
        .where(*mine, ENTRIES.c.seq.between(first, last))
        .order_by(ENTRIES.c.seq)
    )
    readings = tuple(
        RunReading(r.origin, int(r.global_index), int(r.seq), int(r.timestamp_ms), bytes(r.payload))
        for r in rows
    )
    rejected = frozenset(
        int(seq)
        for (seq,) in conn.execute(
            select(QUARANTINE.c.seq).where(
                QUARANTINE.c.device_id == device_id,
                QUARANTINE.c.signed_rejection.is_(True),
                QUARANTINE.c.seq.between(first, last),
            )
        )
    )
    return DeviceRun(device_id, first, lower is not None, last, kind, readings, floor, rejected)


def _floor(conn: Connection, device_id: str) -> StoredFloor | None:
    row = conn.execute(
        select(DROP_FLOORS.c.floor, DROP_FLOORS.c.payload, DROP_FLOORS.c.received_at)
        .where(DROP_FLOORS.c.device_id == device_id)
        .order_by(DROP_FLOORS.c.floor.desc(), DROP_FLOORS.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredFloor(device_id, int(row.floor), bytes(row.payload), float(row.received_at))
