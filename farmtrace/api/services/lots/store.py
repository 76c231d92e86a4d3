"""The API's lots: what it stores of them, the events it signs, and the entries of a lot.

The database side is :mod:`farmtrace.store.lots`: lots, stages and signed records, and a lot's
reading entries (the ``reading`` entries of the devices of its stages whose signed timestamps
fall inside that stage's window). Here events and excursion acknowledgements are signed with
the API's key (:mod:`farmtrace.api.services.lots.event_entry`) and stored records are decoded; the
gateway integrates each into its chain as an entry keyed ``(signer, seq)``, and until then it
is *pending anchoring*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.api.schemas.lots import EventCreate, LotCreate, LotDetails, StageIn
from farmtrace.api.services.coldchain.ack import SIGNATURE_SIZE, ExcursionAck, sign_ack
from farmtrace.api.services.lots.event_entry import EventEntry, decode, sign_event, signer_id
from farmtrace.chain.entry import ACK_PREFIX
from farmtrace.store.lots import Anchor, LotEntry, Lots, NewLot, StageRecord

__all__ = ["LotRecord", "LotStore", "StoredAck", "StoredEvent"]


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


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class LotStore:
    """Reads and writes lots (``lots``, the store's); ``key`` signs new events."""

    def __init__(self, lots: Lots, key: Ed25519PrivateKey) -> None:
        self.lots = lots
        self.key = key

    def create(self, lot: LotCreate, gtin: str) -> bool:
        """Store a new lot (``gtin`` normalised); ``False`` if ``(gtin, lot)`` already exists."""
        return self.lots.create(
            NewLot(
                gtin,
                lot.lot,
                lot.product_name,
                lot.product_class,
                lot.farm,
                lot.origin_region,
                lot.details.model_dump_json(),
                tuple(_stage(stage) for stage in lot.stages),
            )
        )

    def get(self, gtin: str, lot: str) -> LotRecord | None:
        """The lot with its stages and events, or ``None``."""
        stored = self.lots.get(gtin, lot)
        if stored is None:
            return None
        events: list[StoredEvent] = []
        acks: list[StoredAck] = []
        for record in stored.records:
            raw = record.payload
            if raw.startswith(ACK_PREFIX):
                ack = ExcursionAck.parse(raw[:-SIGNATURE_SIZE])
                acks.append(StoredAck(ack, record.signer, record.seq, raw, record.anchor))
            else:
                events.append(StoredEvent(decode(raw), record.anchor))
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
    )
