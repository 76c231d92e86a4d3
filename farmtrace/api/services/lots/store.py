"""The API's lots: what it stores of them, the events it signs, and the entries of a lot.

The database side is :mod:`farmtrace.store.lots`: lots, stages and signed records, and a lot's
reading entries (the ``reading`` entries of the devices of its stages whose signed timestamps
fall inside that stage's window). Here events, excursion acknowledgements and the lot's
declaration versions (its facts: :mod:`farmtrace.api.services.lots.declaration`) are signed
with the API's key (:mod:`farmtrace.api.services.lots.event_entry`) and stored records are
decoded; the gateway integrates each into its chain as an entry keyed ``(signer, seq)``, and
until then it is *pending anchoring*. A lot's facts are its newest declaration's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.api.schemas.lots import EventCreate, LotCreate, LotDetails, StageIn
from farmtrace.api.services.coldchain.ack import SIGNATURE_SIZE, ExcursionAck, sign_ack
from farmtrace.api.services.lots.declaration import (
    DeclarationEntry,
    entry_sha256,
    iso_ms,
    sign_declaration,
)
from farmtrace.api.services.lots.declaration import decode as decode_declaration
from farmtrace.api.services.lots.event_entry import EventEntry, decode, sign_event, signer_id
from farmtrace.chain.entry import ACK_PREFIX, DECLARATION_PREFIX
from farmtrace.store.lots import Anchor, LotEntry, Lots, NewLot, StageRecord

__all__ = ["LotRecord", "LotStore", "StoredAck", "StoredDeclaration", "StoredEvent"]


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

    @property
    def time_ms(self) -> int:
        """The entry's timestamp: the acknowledgement's time."""
        return self.ack.time_ms


@dataclass(frozen=True, slots=True)
class StoredDeclaration:
    """One signed version of a lot's declaration and where it sits once anchored."""

    entry: DeclarationEntry
    anchor: Anchor | None


@dataclass(frozen=True, slots=True)
class LotRecord:
    """A lot: its facts (the newest declaration's, or the stored row's for a lot from before
    declarations), events, acknowledgements and every declaration version, oldest first."""

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
    harvest_date: date | None = None
    pack_date: date | None = None
    declarations: tuple[StoredDeclaration, ...] = ()

    @property
    def revised_at(self) -> datetime | None:
        """When the newest declaration was signed, if the lot was ever revised."""
        if len(self.declarations) < 2:
            return None
        return datetime.fromtimestamp(self.declarations[-1].entry.time_ms / 1000, UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class LotStore:
    """Reads and writes lots (``lots``, the store's); ``key`` signs new events."""

    def __init__(self, lots: Lots, key: Ed25519PrivateKey) -> None:
        self.lots = lots
        self.key = key

    def create(self, lot: LotCreate, gtin: str) -> bool:
        """Store a new lot (``gtin`` normalised) with its signed declaration version 1, in one
        transaction; ``False`` if ``(gtin, lot)`` already exists. A declaration too large to
        sign raises ``DeclarationError`` and stores nothing."""
        facts = declared_lot(lot, gtin)

        def declare(seq: int) -> DeclarationEntry:
            body = {"version": 1, "previous": None, "lot": facts}
            return sign_declaration(seq, _now_ms(), body, self.key)

        return self.lots.create(_new_lot(lot, gtin), self.signer, declare)

    def revise(self, lot: LotCreate, gtin: str) -> DeclarationEntry | None:
        """Sign the lot's next declaration version (naming the newest stored one) and make its
        facts the lot's, in one transaction; ``None`` if there is no such lot. Facts equal to
        the newest version's sign nothing (a repeated ``PUT`` is no new version): that version
        is returned."""
        facts = declared_lot(lot, gtin)
        current = self.get(gtin, lot.lot)
        if current is None:
            return None
        if current.declarations and current.declarations[-1].entry.lot == facts:
            return current.declarations[-1].entry

        def declare(seq: int, before: tuple[bytes, ...]) -> DeclarationEntry:
            versions = [decode_declaration(raw) for raw in before]
            newest = max(versions, key=lambda d: d.version, default=None)
            previous = (
                None
                if newest is None
                else {"version": newest.version, "entry_sha256": entry_sha256(newest.payload)}
            )
            version = 1 if newest is None else newest.version + 1
            body = {"version": version, "previous": previous, "lot": facts}
            return sign_declaration(seq, _now_ms(), body, self.key)

        return self.lots.revise(_new_lot(lot, gtin), self.signer, declare)

    def get(self, gtin: str, lot: str) -> LotRecord | None:
        """The lot with its stages and events, or ``None``."""
        stored = self.lots.get(gtin, lot)
        if stored is None:
            return None
        events: list[StoredEvent] = []
        acks: list[StoredAck] = []
        declarations: list[StoredDeclaration] = []
        for record in stored.records:
            raw = record.payload
            if raw.startswith(ACK_PREFIX):
                ack = ExcursionAck.parse(raw[:-SIGNATURE_SIZE])
                acks.append(StoredAck(ack, record.signer, record.seq, raw, record.anchor))
            elif raw.startswith(DECLARATION_PREFIX):
                declarations.append(StoredDeclaration(decode_declaration(raw), record.anchor))
            else:
                events.append(StoredEvent(decode(raw), record.anchor))
        declarations.sort(key=lambda d: d.entry.version)
        if declarations:
            return _declared_record(stored.id, events, acks, declarations)
        return LotRecord(
            stored.id,
            stored.gtin,
            stored.lot,
            stored.product_name,
            stored.product_class,
            stored.farm,
            stored.origin_region,
            stored.stages,
            tuple(events),
            tuple(acks),
            LotDetails.model_validate_json(stored.details) if stored.details else LotDetails(),
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

        def signed(seq: int) -> EventEntry:
            return sign_event(seq, _ms(event.time), body, self.key)

        return self.lots.add_signed(lot_id, self.signer, signed)

    def add_ack(self, lot_id: int, ack: ExcursionAck) -> StoredAck:
        """Sign an excursion acknowledgement with the API's key and record it for the chain."""
        payload = sign_ack(ack, self.key)

        def signed(seq: int) -> StoredAck:
            return StoredAck(ack, self.signer, seq, payload, None)

        return self.lots.add_signed(lot_id, self.signer, signed)

    @property
    def signer(self) -> str:
        """The signer ID of the API's key (``device_id`` of its entries on the chain)."""
        return signer_id(self.key.public_key().public_bytes_raw())

    def readings(self, record: LotRecord) -> list[LotEntry]:
        """The lot's reading entries, by stage window and device, ordered by time (then device
        and seq), each with its clock-backwards flag (one query per stage)."""
        return self.lots.readings(record.stages)


def _stage(stage: StageIn) -> StageRecord:
    return StageRecord(
        stage.kind,
        stage.name,
        _ms(stage.start),
        None if stage.end is None else _ms(stage.end),
        tuple(stage.device_ids),
        stage.place_id,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_lot(lot: LotCreate, gtin: str) -> NewLot:
    return NewLot(
        gtin,
        lot.lot,
        lot.product_name,
        lot.product_class,
        lot.farm,
        lot.origin_region,
        lot.details.model_dump_json(),
        tuple(_stage(stage) for stage in lot.stages),
    )


def declared_lot(lot: LotCreate, gtin: str) -> dict[str, Any]:
    """The facts of a lot as its declaration states them (``docs/bundle.md``)."""
    return {
        "gtin": gtin,
        "lot": lot.lot,
        "product_name": lot.product_name,
        "product_class": lot.product_class,
        "farm": lot.farm,
        "origin_region": lot.origin_region,
        "harvest_date": None if lot.harvest_date is None else lot.harvest_date.isoformat(),
        "pack_date": None if lot.pack_date is None else lot.pack_date.isoformat(),
        "details": {
            "grower": lot.details.grower,
            "method": lot.details.method,
            "certifications": list(lot.details.certifications),
            "farm_location": lot.details.farm_location,
            "time_zone": lot.details.time_zone,
        },
        "stages": [
            {
                "kind": s.kind,
                "name": s.name,
                "place_id": s.place_id,
                "start": iso_ms(_ms(s.start)),
                "end": None if s.end is None else iso_ms(_ms(s.end)),
                "device_ids": list(s.device_ids),
            }
            for s in lot.stages
        ],
    }


def _declared_ms(value: str) -> int:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _declared_record(
    lot_id: int,
    events: list[StoredEvent],
    acks: list[StoredAck],
    declarations: list[StoredDeclaration],
) -> LotRecord:
    """A lot whose facts are its newest declaration's."""
    facts = declarations[-1].entry.lot
    harvest, pack = facts["harvest_date"], facts["pack_date"]
    return LotRecord(
        lot_id,
        facts["gtin"],
        facts["lot"],
        facts["product_name"],
        facts["product_class"],
        facts["farm"],
        facts["origin_region"],
        tuple(
            StageRecord(
                s["kind"],
                s["name"],
                _declared_ms(s["start"]),
                None if s["end"] is None else _declared_ms(s["end"]),
                tuple(s["device_ids"]),
                s["place_id"],
            )
            for s in facts["stages"]
        ),
        tuple(events),
        tuple(acks),
        LotDetails.model_validate(facts["details"]),
        None if harvest is None else date.fromisoformat(harvest),
        None if pack is None else date.fromisoformat(pack),
        tuple(declarations),
    )
