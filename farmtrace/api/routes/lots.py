"""Lots: create and revise (``lots:write``; each writes a signed declaration version), read,
record events (``events:write``), and export them as a
verification bundle, an EPCIS 2.0 document and the pack's QR code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response

from farmtrace.api.auth import ApiKey
from farmtrace.api.deps import get_state, rate_limit, require_scope
from farmtrace.api.errors import BadRequest, Conflict, NotFound
from farmtrace.api.schemas.lots import EventCreate, EventPublic, LotCreate, LotPublic
from farmtrace.api.services.bundle import build_bundle
from farmtrace.api.services.coldchain import PRODUCT_CLASSES
from farmtrace.api.services.digital_link import DigitalLink, DigitalLinkError
from farmtrace.api.services.epcis import lot_document
from farmtrace.api.services.lots.declaration import DeclarationError
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.views import event_public, lot_public
from farmtrace.api.state import AppState
from farmtrace.qr import qr_png, qr_svg

__all__ = ["find_lot", "parse_identity", "router"]

router = APIRouter(prefix="/v1/lots", tags=["lots"])
State = Annotated[AppState, Depends(get_state)]
Gtin = Annotated[str, Path(max_length=64, description="GTIN-8/12/13/14 with its check digit")]
Lot = Annotated[str, Path(max_length=64, description="the lot number (AI 10)")]


def parse_identity(gtin: str, lot: str) -> DigitalLink:
    """The lot's Digital Link; 400 naming what is wrong with the GTIN or lot."""
    try:
        return DigitalLink(gtin, lot=lot)
    except DigitalLinkError as exc:
        raise BadRequest(str(exc)) from None


def find_lot(state: AppState, gtin: str, lot: str) -> tuple[DigitalLink, LotRecord]:
    """The stored lot; 400 for a malformed identity, 404 for an unknown one."""
    link = parse_identity(gtin, lot)
    assert link.lot is not None
    found = link.gtin, link.lot
    # The same (frozen) record until the next commit to the database.
    record = state.answers.get(("lot", *found), lambda: state.lots.get(*found))
    if record is None:
        raise NotFound(f"no lot {link.lot!r} of GTIN {link.gtin}")
    return link, record


def _checked(body: LotCreate) -> DigitalLink:
    """The lot's Digital Link; 400 naming what is wrong with the body."""
    link = parse_identity(body.gtin, body.lot)
    if body.product_class not in PRODUCT_CLASSES:
        known = ", ".join(sorted(PRODUCT_CLASSES))
        raise BadRequest(f"unknown product class {body.product_class!r} (known: {known})")
    for stage in body.stages:
        if stage.end is not None and stage.end < stage.start:
            raise BadRequest(f"stage {stage.name!r} ends before it starts")
    return link


@router.post("", response_model=LotPublic, status_code=201, dependencies=[Depends(rate_limit)])
def create_lot(
    body: LotCreate,
    state: State,
    _key: Annotated[ApiKey, Depends(require_scope("lots:write"))],
) -> LotPublic:
    """Create a lot: GTIN and lot number, product, farm and the stages it passed through,
    stated in its signed declaration version 1."""
    link = _checked(body)
    try:
        created = state.lots.create(body, link.gtin)
    except DeclarationError as exc:
        raise BadRequest(str(exc)) from None
    if not created:
        raise Conflict(f"lot {body.lot!r} of GTIN {link.gtin} already exists")
    return lot_public(state, *find_lot(state, link.gtin, body.lot))


@router.put("/{gtin}/{lot}", response_model=LotPublic, dependencies=[Depends(rate_limit)])
def revise_lot(
    gtin: Gtin,
    lot: Lot,
    body: LotCreate,
    state: State,
    _key: Annotated[ApiKey, Depends(require_scope("lots:write"))],
) -> LotPublic:
    """Revise a lot's facts: a new signed declaration version naming the one before; the lot's
    facts are the newest version's, and its bundle carries every version."""
    path_link = parse_identity(gtin, lot)
    link = _checked(body)
    if (link.gtin, link.lot) != (path_link.gtin, path_link.lot):
        raise BadRequest("the body's gtin and lot must be the lot's in the path")
    assert link.lot is not None
    try:
        revised = state.lots.revise(body, link.gtin)
    except DeclarationError as exc:
        raise BadRequest(str(exc)) from None
    if revised is None:
        raise NotFound(f"no lot {link.lot!r} of GTIN {link.gtin}")
    return lot_public(state, *find_lot(state, link.gtin, link.lot))


@router.get("/{gtin}/{lot}", response_model=LotPublic, dependencies=[Depends(rate_limit)])
def read_lot(gtin: Gtin, lot: Lot, state: State) -> LotPublic:
    """A lot with its stages and events (each event says whether a block anchors it yet)."""
    return lot_public(state, *find_lot(state, gtin, lot))


@router.post(
    "/{gtin}/{lot}/events",
    response_model=EventPublic,
    status_code=201,
    dependencies=[Depends(rate_limit)],
)
def create_event(
    gtin: Gtin,
    lot: Lot,
    body: EventCreate,
    state: State,
    _key: Annotated[ApiKey, Depends(require_scope("events:write"))],
) -> EventPublic:
    """Record an event: signed at once, pending anchoring until the gateway's next block."""
    link, record = find_lot(state, gtin, lot)
    assert link.lot is not None
    entry = state.lots.add_event(record.id, link.gtin, link.lot, body)
    return event_public(entry, None)


@router.get("/{gtin}/{lot}/bundle", dependencies=[Depends(rate_limit)])
def bundle(gtin: Gtin, lot: Lot, state: State) -> Response:
    """Everything to verify the lot offline (``docs/bundle.md``); ``farmtrace verify`` checks it."""

    def make() -> tuple[bytes, str]:
        link, record = find_lot(state, gtin, lot)
        body = bytes(JSONResponse(build_bundle(state, link, record)).body)
        return body, f"{link.gtin}-{record.lot}"

    # The same bundle until the next commit to the database: kept meanwhile.
    body, name = state.answers.get(("bundle", gtin, lot), make)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get("/{gtin}/{lot}/epcis", dependencies=[Depends(rate_limit)])
def epcis(gtin: Gtin, lot: Lot, state: State) -> JSONResponse:
    """The lot as an EPCIS 2.0 JSON-LD document: events and sensor summaries with alarms."""
    link, record = find_lot(state, gtin, lot)
    return JSONResponse(lot_document(state, link, record), media_type="application/ld+json")


@router.get("/{gtin}/{lot}/qr.svg", dependencies=[Depends(rate_limit)])
def qr_code_svg(gtin: Gtin, lot: Lot, state: State) -> Response:
    """The pack's QR code (SVG) holding the lot's Digital Link URI on this resolver."""
    link, _ = find_lot(state, gtin, lot)
    return Response(qr_svg(state.link_uri(link)), media_type="image/svg+xml")


@router.get("/{gtin}/{lot}/qr.png", dependencies=[Depends(rate_limit)])
def qr_code_png(gtin: Gtin, lot: Lot, state: State) -> Response:
    """The pack's QR code (PNG) holding the lot's Digital Link URI on this resolver."""
    link, _ = find_lot(state, gtin, lot)
    return Response(qr_png(state.link_uri(link)), media_type="image/png")
