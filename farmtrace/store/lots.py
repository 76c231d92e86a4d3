"""Lots, their stages and signed records in the database, and the reading entries of a lot.

A lot's readings are the ``reading`` entries of the devices of its stages whose signed
timestamps fall inside that stage's window. Its signed records (events, excursion
acknowledgements, the versions of its declaration; ``farmtrace.api`` signs them) are stored with
the lot and queued for the gateway's next block (:mod:`farmtrace.store.pending`) in one transaction, under the signer's next
sequence number; the gateway integrates each into its chain as the entry keyed ``(signer,
seq)``, and until then it has no :class:`Anchor` (it is *pending anchoring*).

Every SQLAlchemy error leaves as :class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from farmtrace.chain.clock import went_backwards
from farmtrace.chain.entry import ACK, DECLARATION, DECLARATION_PREFIX, EVENT
from farmtrace.store.clock import previous_timestamp
from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base
from farmtrace.store.pending import next_seq, queue_entry
from farmtrace.store.records import PendingReading

__all__ = [
    "Anchor",
    "LotEntry",
    "Lots",
    "NewLot",
    "SignedEntry",
    "SignedRecord",
    "StageRecord",
    "StoredLot",
]

_SEQ_ATTEMPTS = 5

LOTS = Base.metadata.tables["lots"]
LOT_STAGES = Base.metadata.tables["lot_stages"]
LOT_EVENTS = Base.metadata.tables["lot_events"]
ENTRIES = Base.metadata.tables["entries"]
CHAINS = Base.metadata.tables["chains"]


@dataclass(frozen=True, slots=True)
class StageRecord:
    """A field, room or truck a lot passed through: its window (ms since the epoch, ``end_ms``
    ``None`` while open) and the devices that watched it."""

    kind: str
    name: str
    start_ms: int
    end_ms: int | None
    device_ids: tuple[str, ...]
    place_id: str | None = None


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where an entry sits: chain origin and global index."""

    origin: str
    global_index: int


@dataclass(frozen=True, slots=True)
class NewLot:
    """A lot to store: the GTIN (normalised), its fields, ``details`` as JSON, its stages."""

    gtin: str
    lot: str
    product_name: str
    product_class: str
    farm: str
    origin_region: str
    details: str
    stages: tuple[StageRecord, ...]


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A signed record of a lot as stored: signer, seq, entry bytes, and its anchor once a
    gateway integrated it (``None`` while pending)."""

    signer: str
    seq: int
    payload: bytes
    anchor: Anchor | None


@dataclass(frozen=True, slots=True)
class StoredLot:
    """A lot with its stages (by start, then as stored) and signed records (by time, then
    seq); ``details`` is the stored JSON (``None`` for lots from before revision 0003)."""

    id: int
    gtin: str
    lot: str
    product_name: str
    product_class: str
    farm: str
    origin_region: str
    details: str | None
    stages: tuple[StageRecord, ...]
    records: tuple[SignedRecord, ...]


@dataclass(frozen=True, slots=True)
class LotEntry:
    """A reading entry of a lot: where it is and which stage it belongs to.

    ``clock_backwards``: its device's clock went backwards here (:mod:`farmtrace.store.clock`:
    judged against the device's previous stored reading by seq, inside the stage window or
    not).
    """

    anchor: Anchor
    device_id: str
    timestamp_ms: int
    payload: bytes
    stage: str
    seq: int
    clock_backwards: bool


class SignedEntry(Protocol):
    """What a signer makes of a sequence number: the entry's time and its signed bytes."""

    @property
    def time_ms(self) -> int: ...

    @property
    def payload(self) -> bytes: ...


_S = TypeVar("_S", bound=SignedEntry)


class Lots:
    """The lots of a database; one per process, so that its signers' sequence numbers are
    taken one at a time."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._seq_lock = threading.Lock()

    def create(
        self, lot: NewLot, signer: str | None = None, declare: Callable[[int], _S] | None = None
    ) -> bool:
        """Store a new lot with its stages and, given ``signer`` and ``declare``, what
        ``declare(seq)`` signs (its first declaration, queued for the chain), all in one
        transaction; ``False`` if ``(gtin, lot)`` already exists."""
        for attempt in range(_SEQ_ATTEMPTS):
            step = "lot"
            with database_errors("storing a lot"):
                try:
                    with self._seq_lock, self._writer() as c:
                        lot_id = c.execute(
                            insert(LOTS)
                            .values(**_lot_row(lot), created_at=time.time())
                            .returning(LOTS.c.id)
                        ).scalar_one()
                        for stage in lot.stages:
                            c.execute(insert(LOT_STAGES).values(**_stage_row(lot_id, stage)))
                        if signer is not None and declare is not None:
                            step = "declaration"
                            seq = next_seq(c, signer)
                            _record(c, lot_id, signer, seq, declare(seq))
                    return True
                except IntegrityError:
                    # A taken sequence number is retried; a taken (gtin, lot) is the answer.
                    if step == "lot":
                        return False
                    if attempt == _SEQ_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def revise(
        self,
        lot: NewLot,
        signer: str,
        declare: Callable[[int, tuple[bytes, ...]], _S],
    ) -> _S | None:
        """Replace the facts and stages of lot ``(lot.gtin, lot.lot)`` and store what
        ``declare(seq, declarations)`` signs (``declarations``: the lot's declaration entries
        stored so far, oldest first), queued for the chain, in one transaction; ``None`` if
        there is no such lot.

        The lot's row is updated first: that write lock orders concurrent revisions of one lot,
        so each sees the declarations of the one before it.
        """
        for attempt in range(_SEQ_ATTEMPTS):
            with database_errors("revising a lot"):
                try:
                    with self._seq_lock, self._writer() as c:
                        lot_id = c.execute(
                            update(LOTS)
                            .where(LOTS.c.gtin == lot.gtin, LOTS.c.lot == lot.lot)
                            .values(**_lot_row(lot))
                            .returning(LOTS.c.id)
                        ).scalar_one_or_none()
                        if lot_id is None:
                            return None
                        c.execute(delete(LOT_STAGES).where(LOT_STAGES.c.lot_id == lot_id))
                        for stage in lot.stages:
                            c.execute(insert(LOT_STAGES).values(**_stage_row(lot_id, stage)))
                        before = tuple(
                            bytes(p)
                            for (p,) in c.execute(
                                select(LOT_EVENTS.c.payload)
                                .where(LOT_EVENTS.c.lot_id == lot_id)
                                .order_by(LOT_EVENTS.c.id)
                            )
                            if bytes(p).startswith(DECLARATION_PREFIX)
                        )
                        seq = next_seq(c, signer)
                        signed = declare(seq, before)
                        _record(c, lot_id, signer, seq, signed)
                        return signed
                except IntegrityError:
                    if attempt == _SEQ_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def identities(self) -> list[tuple[str, str]]:
        """Every lot's ``(gtin, lot)``, in the order they were created."""
        with database_errors("listing lots"), self.database.engine.connect() as c:
            rows = c.execute(select(LOTS.c.gtin, LOTS.c.lot).order_by(LOTS.c.id))
            return [(str(gtin), str(lot)) for gtin, lot in rows]

    def get(self, gtin: str, lot: str) -> StoredLot | None:
        """The lot with its stages and signed records, read on one connection, or ``None``."""
        with database_errors("reading a lot"), self.database.engine.connect() as c:
            row = c.execute(select(LOTS).where(LOTS.c.gtin == gtin, LOTS.c.lot == lot)).first()
            if row is None:
                return None
            stages = tuple(
                StageRecord(s.kind, s.name, s.start_ms, s.end_ms, tuple(json.loads(s.device_ids)))
                for s in c.execute(
                    select(LOT_STAGES)
                    .where(LOT_STAGES.c.lot_id == row.id)
                    .order_by(LOT_STAGES.c.start_ms, LOT_STAGES.c.id)
                )
            )
            signed = [
                (signer, int(seq), bytes(payload))
                for signer, seq, payload in c.execute(
                    select(LOT_EVENTS.c.signer, LOT_EVENTS.c.seq, LOT_EVENTS.c.payload)
                    .where(LOT_EVENTS.c.lot_id == row.id)
                    .order_by(LOT_EVENTS.c.time_ms, LOT_EVENTS.c.seq)
                )
            ]
            anchors = _anchors(c, [(signer, seq) for signer, seq, _ in signed])
        return StoredLot(
            row.id,
            row.gtin,
            row.lot,
            row.product_name,
            row.product_class,
            row.farm,
            row.origin_region,
            row.details,
            stages,
            tuple(
                SignedRecord(signer, seq, payload, anchors.get((signer, seq)))
                for signer, seq, payload in signed
            ),
        )

    def add_signed(self, lot_id: int, signer: str, sign: Callable[[int], _S]) -> _S:
        """Store what ``sign(seq)`` signed with lot ``lot_id`` and queue it for the chain,
        ``seq`` being ``signer``'s next sequence number, in one write transaction.

        Retried (``sign`` is called again) when another API process took the same sequence
        number first: PostgreSQL transactions do not serialise like SQLite's.
        """
        for attempt in range(_SEQ_ATTEMPTS):
            with database_errors("storing a signed record"):
                try:
                    with self._seq_lock, self._writer() as c:
                        seq = next_seq(c, signer)
                        signed = sign(seq)
                        _record(c, lot_id, signer, seq, signed)
                        return signed
                except IntegrityError:
                    if attempt == _SEQ_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        engine = self.database.engine
        with engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
            yield c

    def readings(self, stages: Sequence[StageRecord]) -> list[LotEntry]:
        """The reading entries of ``stages``, by stage window and device, ordered by time (then
        device and seq), each with its clock-backwards flag (one query per stage)."""
        found: list[LotEntry] = []
        previous = previous_timestamp().label("previous_ms")
        with database_errors("reading a lot's readings"), self.database.engine.connect() as c:
            for stage in stages:
                if not stage.device_ids:
                    continue
                window = ENTRIES.c.timestamp_ms >= stage.start_ms
                if stage.end_ms is not None:
                    window = and_(window, ENTRIES.c.timestamp_ms <= stage.end_ms)
                rows = c.execute(
                    select(
                        CHAINS.c.origin,
                        ENTRIES.c.global_index,
                        ENTRIES.c.device_id,
                        ENTRIES.c.seq,
                        ENTRIES.c.timestamp_ms,
                        ENTRIES.c.payload,
                        previous,
                    )
                    .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
                    .where(
                        ENTRIES.c.kind == "reading",
                        ENTRIES.c.device_id.in_(stage.device_ids),
                        window,
                    )
                )
                found.extend(
                    LotEntry(
                        Anchor(r.origin, int(r.global_index)),
                        r.device_id,
                        int(r.timestamp_ms),
                        bytes(r.payload),
                        stage.name,
                        int(r.seq),
                        went_backwards(r.previous_ms, int(r.timestamp_ms)),
                    )
                    for r in rows
                )
        found.sort(key=lambda e: (e.timestamp_ms, e.device_id, e.seq))
        return found


def _record(c: Connection, lot_id: int, signer: str, seq: int, signed: SignedEntry) -> None:
    """Store a signed record with its lot and queue it for the gateway's next block."""
    now = time.time()
    c.execute(
        insert(LOT_EVENTS).values(
            lot_id=lot_id,
            signer=signer,
            seq=seq,
            time_ms=signed.time_ms,
            payload=signed.payload,
            created_at=now,
        )
    )
    queue_entry(c, PendingReading(signer, seq, signed.time_ms, signed.payload, now))


def _anchors(c: Connection, found: list[tuple[str, int]]) -> dict[tuple[str, int], Anchor]:
    """Where each ``(signer, seq)`` sits on a chain, for those already integrated."""
    if not found:
        return {}
    keys = or_(*(and_(ENTRIES.c.device_id == d, ENTRIES.c.seq == q) for d, q in found))
    rows = c.execute(
        select(CHAINS.c.origin, ENTRIES.c.global_index, ENTRIES.c.device_id, ENTRIES.c.seq)
        .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
        .where(ENTRIES.c.kind.in_((EVENT, ACK, DECLARATION)), keys)
    )
    return {(r.device_id, int(r.seq)): Anchor(r.origin, int(r.global_index)) for r in rows}


def _lot_row(lot: NewLot) -> dict[str, object]:
    return {
        "gtin": lot.gtin,
        "lot": lot.lot,
        "product_name": lot.product_name,
        "product_class": lot.product_class,
        "farm": lot.farm,
        "origin_region": lot.origin_region,
        "details": lot.details,
    }


def _stage_row(lot_id: int, stage: StageRecord) -> dict[str, object]:
    return {
        "lot_id": lot_id,
        "kind": stage.kind,
        "name": stage.name,
        "start_ms": stage.start_ms,
        "end_ms": stage.end_ms,
        "device_ids": json.dumps(list(stage.device_ids)),
    }
