"""A lot's excursions (computed from its readings) and their signed acknowledgements."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from farmtrace.api.auth import ApiKey
from farmtrace.api.deps import get_state, rate_limit, require_scope
from farmtrace.api.errors import BadRequest, Conflict, NotFound
from farmtrace.api.routes.lots import find_lot
from farmtrace.api.schemas.excursions import AckCreate, AckPublic, ExcursionPublic
from farmtrace.api.services.coldchain import ColdChainError
from farmtrace.api.services.coldchain.ack import ExcursionAck
from farmtrace.api.services.lots.excursions import LotExcursion, ack_for, lot_excursions
from farmtrace.api.services.lots.store import StoredAck
from farmtrace.api.state import AppState

__all__ = ["router"]

router = APIRouter(prefix="/v1/lots", tags=["excursions"])
State = Annotated[AppState, Depends(get_state)]
Gtin = Annotated[str, Path(max_length=64)]
Lot = Annotated[str, Path(max_length=64)]


def _ack_public(stored: StoredAck) -> AckPublic:
    return AckPublic(
        by=stored.ack.by,
        time_ms=stored.ack.time_ms,
        comment=stored.ack.comment,
        signer=stored.signer,
        seq=stored.seq,
        status="pending-anchoring" if stored.anchor is None else "anchored",
        origin=None if stored.anchor is None else stored.anchor.origin,
        global_index=None if stored.anchor is None else stored.anchor.global_index,
    )


def _public(item: LotExcursion, ack: StoredAck | None) -> ExcursionPublic:
    e = item.excursion
    return ExcursionPublic(
        device_id=item.series.device_id,
        measurement=item.series.measurement,
        stage=item.series.stage,
        direction=e.direction,
        start_ms=e.start_ms,
        end_ms=e.end_ms,
        peak=e.peak,
        limit=e.limit,
        severity=str(e.severity),
        rule_id=e.rule.rule_id,
        acknowledgement=None if ack is None else _ack_public(ack),
    )


@router.get(
    "/{gtin}/{lot}/excursions",
    response_model=list[ExcursionPublic],
    dependencies=[Depends(rate_limit)],
)
def excursions(gtin: Gtin, lot: Lot, state: State) -> list[ExcursionPublic]:
    """The lot's excursions under its product class's rules, each with its acknowledgement."""
    _, record = find_lot(state, gtin, lot)
    return [_public(x, ack_for(x, record.acks)) for x in lot_excursions(state.lots, record)]


@router.post(
    "/{gtin}/{lot}/excursions/ack",
    response_model=ExcursionPublic,
    status_code=201,
    dependencies=[Depends(rate_limit)],
)
def acknowledge(
    gtin: Gtin,
    lot: Lot,
    body: AckCreate,
    state: State,
    key: Annotated[ApiKey, Depends(require_scope("excursions:ack"))],
) -> ExcursionPublic:
    """Acknowledge one excursion: a record signed by the API's key naming the API key used,
    queued for the chain like an event."""
    _, record = find_lot(state, gtin, lot)
    match = [
        x
        for x in lot_excursions(state.lots, record)
        if x.series.device_id == body.device_id
        and x.series.measurement == body.measurement
        and x.excursion.start_ms == body.start_ms
    ]
    if not match:
        raise NotFound(
            f"no excursion of {body.measurement} from {body.device_id} starting at "
            f"{body.start_ms} in lot {record.lot}"
        )
    item = match[0]
    if ack_for(item, record.acks) is not None:
        raise Conflict("this excursion is already acknowledged")
    try:
        ack = ExcursionAck.for_excursion(
            item.excursion,
            gtin=record.gtin,
            lot=record.lot,
            device=item.series.device_id,
            by=key.name,
            time_ms=int(time.time() * 1000),
            comment=body.comment,
        )
    except ColdChainError as exc:
        raise BadRequest(str(exc)) from None
    return _public(item, state.lots.add_ack(record.id, ack))
