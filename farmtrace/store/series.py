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
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Connection,
    FromClause,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
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
        enough to find the gaps). The same runs as :meth:`runs_reference`, from one query per
        device (its bounds and drop floor) and one for all the devices' readings, floors and
        refused seqs, instead of about seven per device."""
        with database_errors("reading a series"), self.database.engine.connect() as conn:
            covered = self._covered(conn)
            return _runs(conn, covered, list(device_ids), start_ms, end_ms, payloads)

    def runs_reference(
        self,
        device_ids: Sequence[str],
        start_ms: int,
        end_ms: int | None,
        *,
        payloads: bool = True,
    ) -> list[DeviceRun]:
        """:meth:`runs` the plain way, the rule of the module docstring step by step: a query
        for each bound of each device (the reference the fast path is tested against)."""
        with database_errors("reading a series"), self.database.engine.connect() as conn:
            visible = _visible(ENTRIES, self._covered(conn))
            return [_run(conn, visible, d, start_ms, end_ms, payloads) for d in device_ids]

    def _covered(self, conn: Connection) -> list[tuple[int, int]]:
        """``(chain_id, blocks covered)`` of each chain of ``covered`` the database holds."""
        if not self.covered:
            return []
        rows = conn.execute(
            select(CHAINS.c.id, CHAINS.c.origin).where(CHAINS.c.origin.in_(list(self.covered)))
        )
        return [(int(chain_id), self.covered[origin]) for chain_id, origin in rows]


def _visible(entries: FromClause, covered: list[tuple[int, int]]) -> ColumnElement[bool]:
    """Entries of ``entries`` (the table or an alias) in a block the checkpoints cover."""
    clauses = [
        and_(entries.c.chain_id == chain_id, entries.c.block_height < size)
        for chain_id, size in covered
    ]
    return or_(false(), *clauses)


_NO_SEQ_ABOVE = 2**63 - 1
"""Greater than every seq (a bound that leaves the seqs below it all in)."""


def _covered_by(entries: FromClause, chains: int) -> ColumnElement[bool]:
    """:func:`_visible` with the chains as parameters ``chain_k`` and ``size_k``."""
    clauses = [
        and_(
            entries.c.chain_id == bindparam(f"chain_{k}", type_=BigInteger),
            entries.c.block_height < bindparam(f"size_{k}", type_=BigInteger),
        )
        for k in range(chains)
    ]
    return or_(false(), *clauses)


@lru_cache(maxsize=32)
def _bounds(chains: int, open_window: bool) -> Select[Any]:
    """One row for the device bound to ``device``: the window's lowest and highest seq, the
    lower boundary, the upper boundary (``None`` when the window is open), the newest stored
    seq and the id of the device's highest drop floor (each ``None`` when there is none):
    the queries of :func:`_run`, as scalar subqueries of one statement. Parameters: ``device``,
    ``start`` and ``end`` (ms), ``chain_k`` and ``size_k`` for each of ``chains`` chains
    covered. Built once per shape and kept (building it costs more than running it)."""
    device = bindparam("device", type_=String)
    start = bindparam("start", type_=BigInteger)
    end = bindparam("end", type_=BigInteger)

    def mine(entries: FromClause) -> list[ColumnElement[bool]]:
        return [
            entries.c.device_id == device,
            entries.c.kind == READING,
            _covered_by(entries, chains),
        ]

    def inside(entries: FromClause) -> list[ColumnElement[bool]]:
        ts = entries.c.timestamp_ms
        return [ts >= start] + ([] if open_window else [ts <= end])

    e = [ENTRIES.alias(f"e{k}") for k in range(5)]
    lo = select(func.min(e[0].c.seq)).where(*mine(e[0]), *inside(e[0])).scalar_subquery()
    hi = select(func.max(e[1].c.seq)).where(*mine(e[1]), *inside(e[1])).scalar_subquery()
    no_seq_above = literal(_NO_SEQ_ABOVE, BigInteger)
    lower = (
        select(func.max(e[2].c.seq))
        .where(
            *mine(e[2]),
            e[2].c.seq < func.coalesce(lo, no_seq_above),
            e[2].c.timestamp_ms < start,
        )
        .scalar_subquery()
    )
    upper: ColumnElement[Any] = literal(None, BigInteger)
    if not open_window:
        above = func.coalesce(hi, lower, literal(-1, BigInteger))
        upper = (
            select(func.min(e[3].c.seq))
            .where(*mine(e[3]), e[3].c.seq > above, e[3].c.timestamp_ms > end)
            .scalar_subquery()
        )
    newest = select(func.max(e[4].c.seq)).where(*mine(e[4])).scalar_subquery()
    floor = (
        select(DROP_FLOORS.c.id)
        .where(DROP_FLOORS.c.device_id == device)
        .order_by(DROP_FLOORS.c.floor.desc(), DROP_FLOORS.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(
        lo.label("lo"),
        hi.label("hi"),
        lower.label("lower"),
        upper.label("upper"),
        newest.label("newest"),
        floor.label("floor_id"),
    )


@lru_cache(maxsize=64)
def _run_readings(chains: int, devices: int, payloads: bool) -> CompoundSelect[Any]:
    """The stored readings of ``devices`` runs (``device_i`` from ``first_i`` to ``last_i``)
    in the blocks covered (``chain_k``, ``size_k``), in no particular order. One select per
    run, each the reference's (a seek on the device's seqs), joined by UNION ALL: one OR of
    the runs lets the planner prefer walking the whole chain. Kept per shape."""
    parts = [
        select(
            ENTRIES.c.device_id,
            CHAINS.c.origin,
            ENTRIES.c.global_index,
            ENTRIES.c.seq,
            ENTRIES.c.timestamp_ms,
            ENTRIES.c.payload if payloads else literal(b"", LargeBinary).label("payload"),
        )
        .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
        .where(
            ENTRIES.c.kind == READING,
            _covered_by(ENTRIES, chains),
            _in_run(ENTRIES.c.device_id, ENTRIES.c.seq, i),
        )
        for i in range(devices)
    ]
    return union_all(*parts)


@lru_cache(maxsize=64)
def _run_refusals(devices: int) -> Select[Any]:
    """The seqs of ``devices`` runs the gateway refused with a signed rejection. Kept."""
    return select(QUARANTINE.c.device_id, QUARANTINE.c.seq).where(
        QUARANTINE.c.signed_rejection.is_(True),
        or_(
            false(), *(_in_run(QUARANTINE.c.device_id, QUARANTINE.c.seq, i) for i in range(devices))
        ),
    )


def _in_run(device_id: ColumnElement[str], seq: ColumnElement[int], i: int) -> ColumnElement[bool]:
    return and_(
        device_id == bindparam(f"device_{i}", type_=String),
        seq.between(
            bindparam(f"first_{i}", type_=BigInteger), bindparam(f"last_{i}", type_=BigInteger)
        ),
    )


def _runs(
    conn: Connection,
    covered: list[tuple[int, int]],
    device_ids: list[str],
    start_ms: int,
    end_ms: int | None,
    payloads: bool,
) -> list[DeviceRun]:
    """What :func:`_run` finds for each device, with fewer queries (see ``SeriesReader.runs``)."""
    unique = list(dict.fromkeys(device_ids))
    if not unique:
        return []
    chains = {f"chain_{k}": chain_id for k, (chain_id, _) in enumerate(covered)}
    chains |= {f"size_{k}": size for k, (_, size) in enumerate(covered)}
    window = {"start": start_ms, "end": end_ms if end_ms is not None else 0}
    statement = _bounds(len(covered), end_ms is None)
    found = {d: conn.execute(statement, {"device": d, **window, **chains}).one() for d in unique}
    floor_ids = [int(row.floor_id) for row in found.values() if row.floor_id is not None]
    floors: dict[str, StoredFloor] = {}
    if floor_ids:
        for f in conn.execute(
            select(
                DROP_FLOORS.c.device_id,
                DROP_FLOORS.c.floor,
                DROP_FLOORS.c.payload,
                DROP_FLOORS.c.received_at,
            ).where(DROP_FLOORS.c.id.in_(floor_ids))
        ):
            floors[f.device_id] = StoredFloor(
                f.device_id, int(f.floor), bytes(f.payload), float(f.received_at)
            )
    spans: dict[str, tuple[int, bool, int, UpperBound]] = {}
    for d, row in found.items():
        floor = floors.get(d)
        kind: UpperBound = "boundary"
        last = row.upper
        if last is None:
            last = row.newest or 0
            kind = "newest-stored"
            if floor is not None and floor.floor > last:
                last, kind = floor.floor, "drop-floor"
        first = 1 if row.lower is None else int(row.lower)
        spans[d] = (first, row.lower is not None, int(last), kind)
    held: dict[str, list[RunReading]] = {d: [] for d in unique}
    in_runs: dict[str, Any] = {}
    for i, (d, (first, _, last, _)) in enumerate(spans.items()):
        in_runs |= {f"device_{i}": d, f"first_{i}": first, f"last_{i}": last}
    rows = conn.execute(_run_readings(len(covered), len(spans), payloads), {**chains, **in_runs})
    for r in rows:
        held[r.device_id].append(
            RunReading(
                r.origin, int(r.global_index), int(r.seq), int(r.timestamp_ms), bytes(r.payload)
            )
        )
    for readings in held.values():
        readings.sort(key=lambda reading: reading.seq)
    rejected: dict[str, set[int]] = {d: set() for d in unique}
    for device_id, seq in conn.execute(_run_refusals(len(spans)), in_runs):
        rejected[device_id].add(int(seq))
    runs = {
        d: DeviceRun(
            d,
            first,
            lower_found,
            last,
            kind,
            tuple(held[d]),
            floors.get(d),
            frozenset(rejected[d]),
        )
        for d, (first, lower_found, last, kind) in spans.items()
    }
    return [runs[d] for d in device_ids]


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
