"""Lots, stages and events in the database, and the entries (readings, events) of a lot.

A lot's readings are the ``reading`` entries of the devices of its stages whose signed
timestamps fall inside that stage's window. Its events are signed when created
(:mod:`farmtrace.api.lots.event_entry`) and stored; the gateway integrates them into its chain as entries
keyed ``(signer, seq)``, and until then they are *pending anchoring*.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from farmtrace.api.clock import previous_timestamp
from farmtrace.api.coldchain.ack import SIGNATURE_SIZE, ExcursionAck, sign_ack
from farmtrace.api.lots.event_entry import EventEntry, decode, sign_event, signer_id
from farmtrace.api.lots.schema import LOT_EVENTS, LOT_STAGES, LOTS
from farmtrace.api.schemas.lots import EventCreate, LotCreate, LotDetails, StageIn
from farmtrace.chain.clock import went_backwards
from farmtrace.chain.entry import ACK_PREFIX
from farmtrace.store.models import Base

__all__ = [
    "Anchor",
    "LotEntry",
    "LotRecord",
    "LotStore",
    "StageRecord",
    "StoredAck",
    "StoredEvent",
]

_T = TypeVar("_T")
_SEQ_ATTEMPTS = 5

ENTRIES = Base.metadata.tables["entries"]
CHAINS = Base.metadata.tables["chains"]
PENDING = Base.metadata.tables["pending_entries"]


@dataclass(frozen=True, slots=True)
class StageRecord:
    kind: str
    name: str
    start_ms: int
    end_ms: int | None
    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where an entry sits: chain origin and global index."""

    origin: str
    global_index: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    entry: EventEntry
    anchor: Anchor | None


@dataclass(frozen=True, slots=True)
class StoredAck:
    """A signed excursion acknowledgement: the record, who signed it, its entry and place."""

    ack: ExcursionAck
    signer: str
    seq: int
    payload: bytes
    anchor: Anchor | None


@dataclass(frozen=True, slots=True)
class LotRecord:
    id: int
    gtin: str
    lot: str
    product_name: str
    product_class: str
    farm: str
    origin_region: str
    stages: tuple[StageRecord, ...]
    events: tuple[StoredEvent, ...]
    acks: tuple[StoredAck, ...] = ()
    details: LotDetails = field(default_factory=LotDetails)


@dataclass(frozen=True, slots=True)
class LotEntry:
    """A reading entry of a lot: where it is and which stage it belongs to.

    ``clock_backwards``: its device's clock went backwards here (:mod:`farmtrace.api.clock`: judged
    against the device's previous stored reading by seq, inside the stage window or not).
    """

    anchor: Anchor
    device_id: str
    timestamp_ms: int
    payload: bytes
    stage: str
    seq: int
    clock_backwards: bool


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class LotStore:
    """Reads and writes lots; ``key`` signs new events."""

    def __init__(self, engine: Engine, key: Ed25519PrivateKey) -> None:
        self.engine = engine
        self.key = key
        self._event_lock = threading.Lock()

    def create(self, lot: LotCreate, gtin: str) -> bool:
        """Store a new lot (``gtin`` normalised); ``False`` if ``(gtin, lot)`` already exists."""
        try:
            with self.engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
                lot_id = c.execute(
                    insert(LOTS)
                    .values(
                        gtin=gtin,
                        lot=lot.lot,
                        product_name=lot.product_name,
                        product_class=lot.product_class,
                        farm=lot.farm,
                        origin_region=lot.origin_region,
                        created_at=time.time(),
                        details=lot.details.model_dump_json(),
                    )
                    .returning(LOTS.c.id)
                ).scalar_one()
                for stage in lot.stages:
                    c.execute(insert(LOT_STAGES).values(**_stage_row(lot_id, stage)))
        except IntegrityError:
            return False
        return True

    def get(self, gtin: str, lot: str) -> LotRecord | None:
        """The lot with its stages and events, or ``None``."""
        with self.engine.connect() as c:
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
            events: list[EventEntry] = []
            acks: list[tuple[str, int, bytes]] = []
            for signer, seq, payload in c.execute(
                select(LOT_EVENTS.c.signer, LOT_EVENTS.c.seq, LOT_EVENTS.c.payload)
                .where(LOT_EVENTS.c.lot_id == row.id)
                .order_by(LOT_EVENTS.c.time_ms, LOT_EVENTS.c.seq)
            ):
                raw = bytes(payload)
                if raw.startswith(ACK_PREFIX):
                    acks.append((signer, int(seq), raw))
                else:
                    events.append(decode(raw))
            anchors = self._anchors(
                c, [(e.signer, e.seq) for e in events] + [(a[0], a[1]) for a in acks]
            )
        return LotRecord(
            row.id,
            row.gtin,
            row.lot,
            row.product_name,
            row.product_class,
            row.farm,
            row.origin_region,
            stages,
            tuple(StoredEvent(e, anchors.get((e.signer, e.seq))) for e in events),
            tuple(
                StoredAck(
                    ExcursionAck.parse(raw[:-SIGNATURE_SIZE]),
                    signer,
                    seq,
                    raw,
                    anchors.get((signer, seq)),
                )
                for signer, seq, raw in acks
            ),
            LotDetails.model_validate_json(row.details) if row.details else LotDetails(),
        )

    def add_event(self, lot_id: int, gtin: str, lot: str, event: EventCreate) -> EventEntry:
        """Sign and store an event with the next sequence number of the API's key."""
        offset = event.time.utcoffset()
        minutes = 0 if offset is None else int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        body = {
            "kind": event.kind,
            "gtin": gtin,
            "lot": lot,
            "eventTime": event.time.astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "eventTimeZoneOffset": f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
            "readPoint": event.read_point,
            "actor": event.actor,
        }
        if event.biz_location is not None:
            body["bizLocation"] = event.biz_location
        if event.place_name is not None:
            body["placeName"] = event.place_name

        def write(c: Connection) -> EventEntry:
            entry = sign_event(self._next_seq(c), _ms(event.time), body, self.key)
            self._record(c, lot_id, entry.signer, entry.seq, entry.time_ms, entry.payload)
            return entry

        return self._sequenced(write)

    def add_ack(self, lot_id: int, ack: ExcursionAck) -> StoredAck:
        """Sign an excursion acknowledgement with the API's key and record it for the chain."""
        payload = sign_ack(ack, self.key)

        def write(c: Connection) -> int:
            seq = self._next_seq(c)
            self._record(c, lot_id, self.signer, seq, ack.time_ms, payload)
            return seq

        return StoredAck(ack, self.signer, self._sequenced(write), payload, None)

    def _sequenced(self, write: Callable[[Connection], _T]) -> _T:
        """Run ``write`` in a write transaction, retrying when another API process took the
        same sequence number first (PostgreSQL transactions do not serialise like SQLite's)."""
        for attempt in range(_SEQ_ATTEMPTS):
            try:
                with self._event_lock, self._writer() as c:
                    return write(c)
            except IntegrityError:
                if attempt == _SEQ_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    @property
    def signer(self) -> str:
        """The signer ID of the API's key (``device_id`` of its entries on the chain)."""
        return signer_id(self.key.public_key().public_bytes_raw())

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
            yield c

    def _next_seq(self, c: Connection) -> int:
        """The next sequence number of the API's key, over everything it queued."""
        top = c.execute(
            select(func.max(PENDING.c.seq)).where(PENDING.c.device_id == self.signer)
        ).scalar()
        return int(top or 0) + 1

    @staticmethod
    def _record(
        c: Connection, lot_id: int, signer: str, seq: int, time_ms: int, payload: bytes
    ) -> None:
        """Store a signed record with its lot and queue it for the gateway's next block."""
        now = time.time()
        c.execute(
            insert(LOT_EVENTS).values(
                lot_id=lot_id,
                signer=signer,
                seq=seq,
                time_ms=time_ms,
                payload=payload,
                created_at=now,
            )
        )
        c.execute(
            insert(PENDING).values(
                device_id=signer, seq=seq, timestamp_ms=time_ms, payload=payload, created_at=now
            )
        )

    def readings(self, record: LotRecord) -> list[LotEntry]:
        """The lot's reading entries, by stage window and device, ordered by time (then device
        and seq), each with its clock-backwards flag (one query per stage)."""
        found: list[LotEntry] = []
        previous = previous_timestamp().label("previous_ms")
        with self.engine.connect() as c:
            for stage in record.stages:
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

    @staticmethod
    def _anchors(c: Connection, found: list[tuple[str, int]]) -> dict[tuple[str, int], Anchor]:
        """Where each ``(signer, seq)`` sits on a chain, for those already integrated."""
        if not found:
            return {}
        keys = or_(*(and_(ENTRIES.c.device_id == d, ENTRIES.c.seq == q) for d, q in found))
        rows = c.execute(
            select(CHAINS.c.origin, ENTRIES.c.global_index, ENTRIES.c.device_id, ENTRIES.c.seq)
            .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
            .where(ENTRIES.c.kind.in_(("event", "excursion-ack")), keys)
        )
        return {(r.device_id, int(r.seq)): Anchor(r.origin, int(r.global_index)) for r in rows}


def _stage_row(lot_id: int, stage: StageIn) -> dict[str, object]:
    return {
        "lot_id": lot_id,
        "kind": stage.kind,
        "name": stage.name,
        "start_ms": _ms(stage.start),
        "end_ms": None if stage.end is None else _ms(stage.end),
        "device_ids": json.dumps(stage.device_ids),
    }
