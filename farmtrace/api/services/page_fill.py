"""Filling helper-8's view model (:class:`farmtrace.api.services.page.model.ProductPage`) for one lot and
rendering it with :func:`farmtrace.api.services.page.render.render_page`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from farmtrace.api.services.coldchain import PRODUCT_CLASSES, ColdChainError, Sample
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.series import lot_series
from farmtrace.api.services.lots.stage_rules import series_rules
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.page.gaps import page_gaps
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.model import (
    Anchoring,
    CampaignLink,
    ConditionView,
    EventKind,
    Farm,
    Localized,
    ProductPage,
    StageView,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page
from farmtrace.api.services.series_proof import lot_gaps
from farmtrace.api.services.uom import to_display
from farmtrace.api.services.views import ms_to_datetime
from farmtrace.api.state import AppState

__all__ = ["build_page", "lang_links", "render_lot_page"]

_KINDS = {
    "harvest": EventKind.HARVEST,
    "cooling": EventKind.COOLING,
    "packing": EventKind.PACKING,
    "storing": EventKind.STORAGE,
    "shipping": EventKind.SHIPPING,
    "receiving": EventKind.RECEIVING,
}


def build_page(
    state: AppState,
    link: DigitalLink,
    record: LotRecord,
    base: str,
    now: datetime | None = None,
) -> ProductPage:
    """The page's view model for a lot, made at ``now`` (default: the current time)."""
    klass = PRODUCT_CLASSES.get(record.product_class)
    named = {s.place_id: s.name for s in record.stages if s.place_id}
    events = tuple(
        TimelineEvent(
            kind=_KINDS.get(e.entry.body["kind"], EventKind.OTHER),
            time=datetime.fromisoformat(e.entry.body["eventTime"].replace("Z", "+00:00")),
            place=_place_name(e.entry.body, named),
            actor=e.entry.body["actor"],
            anchoring=Anchoring.PENDING if e.anchor is None else Anchoring.ANCHORED,
            entry_index=None if e.anchor is None else e.anchor.global_index,
            place_id=e.entry.body["readPoint"],
        )
        for e in record.events
    )
    readings = state.lots.readings(record)
    conditions = []
    all_series = lot_series(readings)
    rules = series_rules(record.product_class, record.stages, all_series)
    for series, rule in zip(all_series, rules, strict=True):
        unit, samples = _display(series.uom, series.samples)
        try:
            view = ConditionView.build(
                series.measurement,
                unit,
                samples,
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
        harvest_date=record.harvest_date or (None if harvest is None else harvest.date()),
        pack_date=record.pack_date or (None if packing is None else packing.date()),
        origin=record.origin_region,
        events=events,
        gaps=page_gaps(lot_gaps(state, record.stages)),
        stages=tuple(
            StageView(
                kind=s.kind,
                name=s.name,
                start=ms_to_datetime(s.start_ms),
                end=None if s.end_ms is None else ms_to_datetime(s.end_ms),
                place_id=s.place_id or "",
            )
            for s in record.stages
        ),
        revised_at=record.revised_at,
        campaigns=tuple(
            CampaignLink(h.gcn, f"/campaigns/{h.gcn}", h.status)
            for h in state.campaigns.campaigns.for_lot(record.gtin, record.lot)
        ),
        conditions=tuple(conditions),
        farm=Farm(
            name=record.farm,
            grower=record.details.grower or record.farm,
            method=record.details.method or "",
            certifications=tuple(record.details.certifications),
            location=record.details.farm_location or record.origin_region,
        ),
        generated_at=datetime.now(UTC) if now is None else now,
        display_tz=record.details.time_zone,
    )


def _display(uom: str, samples: tuple[Sample, ...]) -> tuple[str, tuple[Sample, ...]]:
    """Soil EC arrives in S/m (``D10``); people read dS/m (``H61``, 1 mS/cm = 1 dS/m)."""
    if uom != "D10":
        return uom, samples
    return "H61", tuple(Sample(s.time_ms, round(to_display(uom, s.value), 6)) for s in samples)


def _place_name(body: dict[str, Any], named: dict[str, str]) -> str:
    """The event's place as people call it: its signed ``placeName``, else the name of the
    stage declared with that identifier, else the identifier (shown on tap, not as a name)."""
    if body.get("placeName"):
        return str(body["placeName"])
    for key in ("bizLocation", "readPoint"):
        if body.get(key) in named:
            return named[body[key]]
    return str(body.get("bizLocation") or body["readPoint"])


def lang_links() -> dict[str, str]:
    """The page's address in each language (relative: the same path, ``?lang=``)."""
    return {"zh": "?lang=zh", "en": "?lang=en"}


def render_lot_page(
    state: AppState,
    link: DigitalLink,
    record: LotRecord,
    accept_language: str | None,
    base: str,
    requested_lang: str | None = None,
) -> str:
    """The provenance page's HTML in the language asked for (``?lang=``) or the browser's.

    The same page until the next commit to the database or the next minute (the page says
    when it was made, to the minute): kept in ``state.answers`` meanwhile.
    """
    lang = choose_language(accept_language, requested_lang)
    now = datetime.now(UTC)
    minute = int(now.timestamp()) // 60

    def render() -> str:
        return render_page(
            build_page(state, link, record, base, now), lang, lang_hrefs=lang_links()
        )

    return state.answers.get(("page", link.gtin, record.lot, record.id, lang, base, minute), render)
