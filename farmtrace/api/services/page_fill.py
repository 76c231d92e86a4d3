"""Filling helper-8's view model (:class:`farmtrace.api.services.page.model.ProductPage`) for one lot and
rendering it with :func:`farmtrace.api.services.page.render.render_page`."""

from __future__ import annotations

from datetime import UTC, datetime

from farmtrace.api.services.coldchain import PRODUCT_CLASSES, ColdChainError
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.series import lot_series
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.model import (
    Anchoring,
    ConditionView,
    EventKind,
    Farm,
    Localized,
    ProductPage,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page
from farmtrace.api.state import AppState

__all__ = ["build_page", "render_lot_page"]

_KINDS = {
    "harvest": EventKind.HARVEST,
    "cooling": EventKind.COOLING,
    "packing": EventKind.PACKING,
    "storing": EventKind.STORAGE,
    "shipping": EventKind.SHIPPING,
    "receiving": EventKind.RECEIVING,
}


def build_page(state: AppState, link: DigitalLink, record: LotRecord, base: str) -> ProductPage:
    """The page's view model for a lot."""
    klass = PRODUCT_CLASSES.get(record.product_class)
    events = tuple(
        TimelineEvent(
            kind=_KINDS.get(e.entry.body["kind"], EventKind.OTHER),
            time=datetime.fromisoformat(e.entry.body["eventTime"].replace("Z", "+00:00")),
            place=e.entry.body.get("placeName")
            or e.entry.body.get("bizLocation", e.entry.body["readPoint"]),
            actor=e.entry.body["actor"],
            anchoring=Anchoring.PENDING if e.anchor is None else Anchoring.ANCHORED,
            entry_index=None if e.anchor is None else e.anchor.global_index,
        )
        for e in record.events
    )
    readings = state.lots.readings(record)
    conditions = []
    for series in lot_series(readings):
        rule = None if klass is None else klass.rule_for(series.measurement)
        if rule is not None and rule.unit != series.uom:
            rule = None
        try:
            view = ConditionView.build(
                series.measurement,
                series.uom,
                series.samples,
                rule,
                place=series.stage,
                device=series.device_id,
                clock_backwards=series.clock_backwards,
            )
        except ColdChainError:
            continue
        conditions.append(view)
    origin = state.default_origin()
    keys = state.verifier_keys(origin)
    harvest = next((e.time for e in events if e.kind is EventKind.HARVEST), None)
    packing = next((e.time for e in events if e.kind is EventKind.PACKING), None)
    return ProductPage(
        name=Localized(record.product_name, None if klass is None else klass.title_zh),
        gtin=record.gtin,
        lot=record.lot,
        digital_link=state.link_uri(link),
        verification=VerificationInfo(
            bundle_url=f"/v1/lots/{record.gtin}/{record.lot}/bundle",
            verifier_key=keys[-1] if keys else "",
            retired_keys=tuple(keys[:-1]),
            checkpoint_url="/checkpoint",
            readings=len(readings),
            events=len(events),
            pending=sum(1 for e in events if e.anchoring is Anchoring.PENDING),
        ),
        product_class=record.product_class,
        harvest_date=None if harvest is None else harvest.date(),
        pack_date=None if packing is None else packing.date(),
        origin=record.origin_region,
        events=events,
        conditions=tuple(conditions),
        farm=Farm(
            name=record.farm,
            grower=record.details.grower or record.farm,
            method=record.details.method or "",
            certifications=tuple(record.details.certifications),
            location=record.details.farm_location or record.origin_region,
        ),
        generated_at=datetime.now(UTC),
        display_tz=record.details.time_zone,
    )


def render_lot_page(
    state: AppState, link: DigitalLink, record: LotRecord, accept_language: str | None, base: str
) -> str:
    """The provenance page's HTML in the language the browser prefers."""
    return render_page(build_page(state, link, record, base), choose_language(accept_language))
