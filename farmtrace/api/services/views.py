"""Lots and events as response models."""

from __future__ import annotations

from datetime import UTC, datetime

from farmtrace.api.schemas.lots import BIZ_STEPS, EventPublic, LotPublic, StagePublic
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.event_entry import EventEntry
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.state import AppState
from farmtrace.store.lots import Anchor

__all__ = ["event_public", "lot_public", "ms_to_datetime"]


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def event_public(entry: EventEntry, anchor: Anchor | None) -> EventPublic:
    body = entry.body
    return EventPublic(
        id=f"{entry.signer}/{entry.seq}",
        kind=body["kind"],
        biz_step=BIZ_STEPS[body["kind"]],
        time=body["eventTime"],
        time_zone_offset=body["eventTimeZoneOffset"],
        read_point=body["readPoint"],
        biz_location=body.get("bizLocation"),
        place_name=body.get("placeName"),
        actor=body["actor"],
        signer=entry.signer,
        seq=entry.seq,
        status="pending-anchoring" if anchor is None else "anchored",
        origin=None if anchor is None else anchor.origin,
        global_index=None if anchor is None else anchor.global_index,
    )


def lot_public(state: AppState, link: DigitalLink, record: LotRecord) -> LotPublic:
    return LotPublic(
        gtin=record.gtin,
        lot=record.lot,
        digital_link=state.link_uri(link),
        product_name=record.product_name,
        product_class=record.product_class,
        farm=record.farm,
        origin_region=record.origin_region,
        harvest_date=record.harvest_date,
        pack_date=record.pack_date,
        details=record.details,
        stages=[
            StagePublic(
                kind=s.kind,  # type: ignore[arg-type]
                name=s.name,
                place_id=s.place_id,
                start=ms_to_datetime(s.start_ms),
                end=None if s.end_ms is None else ms_to_datetime(s.end_ms),
                device_ids=list(s.device_ids),
            )
            for s in record.stages
        ],
        events=[event_public(e.entry, e.anchor) for e in record.events],
    )
