"""The view model of the consumer's page: everything the page shows, and nothing it computes.

The API fills a :class:`ProductPage` from a lot (its events, readings, farm, checkpoint) and
hands it to :func:`farmtrace.api.services.page.render.render_page` with the language chosen by
:func:`farmtrace.api.services.page.language.choose_language`. The renderer only formats: it does no I/O and no
judging, except the one-line condition summary, which it asks :mod:`farmtrace.api.services.coldchain` for in the
page's language. All strings are plain text (the renderer escapes them); all datetimes must be
timezone-aware (UTC is fine: the page shows UTC times with the offset).

Filling it, in short::

    rule = product_class("lettuce").rule_for("Temperature")
    cond = ConditionView.build("Temperature", "CEL", samples, rule, place="Cold room 2")
    page = ProductPage(name=Localized("Butterhead lettuce", "奶油生菜"), gtin=..., lot=...,
                       conditions=(cond,), verification=VerificationInfo(...), ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from farmtrace.api.services.coldchain import Assessment, Rule, Sample, assess

__all__ = [
    "Anchoring",
    "CampaignLink",
    "ConditionView",
    "EventKind",
    "Farm",
    "Lang",
    "Localized",
    "ProductPage",
    "ScanPlace",
    "ScanStats",
    "SeriesGap",
    "StageView",
    "TimelineEvent",
    "VerificationInfo",
]

Lang = Literal["en", "zh"]
"""The page's languages."""


@dataclass(frozen=True, slots=True)
class Localized:
    """A text in English and, when known, Chinese; :meth:`get` falls back to English."""

    en: str
    zh: str | None = None

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" and self.zh else self.en


class EventKind(StrEnum):
    """A lot's event kinds (EPCIS 2.0 business steps in brackets)."""

    HARVEST = "harvest"  # commissioning
    COOLING = "cooling"  # cbv:BizStep-holding at a pre-cooler
    PACKING = "packing"
    STORAGE = "storage"
    SHIPPING = "shipping"
    RECEIVING = "receiving"
    OTHER = "other"


class Anchoring(StrEnum):
    """Whether an event (or reading) is already covered by a signed checkpoint."""

    ANCHORED = "anchored"
    """In a sealed block that the newest signed checkpoint covers."""
    PENDING = "pending"
    """Recorded, not yet sealed into a block under a signed checkpoint."""


@dataclass(frozen=True, slots=True)
class Farm:
    """Who grows the product and how; ``certifications`` as named by their issuers."""

    name: str
    grower: str
    method: str = ""
    certifications: tuple[str, ...] = ()
    location: str = ""


@dataclass(frozen=True, slots=True)
class StageView:
    """A place the lot passed through, in order: its kind (``field``, ``room``, ``truck``,
    ``display``), display name, window (``end`` None while open) and the place's identifier
    (a URI such as an SGLN URN, shown on tap, never as the name)."""

    kind: str
    name: str
    start: datetime
    end: datetime | None = None
    place_id: str = ""


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One step of the lot's journey. ``place`` and ``actor`` are display names.

    ``entry_index``: the event's global index on the chain, if it has one (shown as a reference
    that the bundle's verifier output names). ``detail`` is an optional short line.
    """

    kind: EventKind
    time: datetime
    place: str
    actor: str
    anchoring: Anchoring
    detail: str = ""
    entry_index: int | None = None
    place_id: str = ""
    """The place's identifier (``readPoint``), shown on tap; ``place`` is its name."""


@dataclass(frozen=True, slots=True)
class ConditionView:
    """One measurement of the lot over time (e.g. temperature in a cold room) and its judgement.

    ``rule`` None: the product class has no band for this measurement; the chart shows the
    series only. ``assessment`` is ``assess(samples, rule)`` (use :meth:`build`).
    ``unit`` is the UN/ECE code (``CEL``, ``P1``). ``clock_backwards``: how many samples come
    from readings whose device clock went backwards (shown as signed; the page says so).
    """

    measurement: str
    unit: str
    samples: tuple[Sample, ...]
    rule: Rule | None
    assessment: Assessment | None
    place: str = ""
    device: str = ""
    clock_backwards: int = 0

    @classmethod
    def build(
        cls,
        measurement: str,
        unit: str,
        samples: Sequence[Sample],
        rule: Rule | None,
        *,
        place: str = "",
        device: str = "",
        interval_ms: int | None = None,
        clock_backwards: int = 0,
    ) -> ConditionView:
        """Assess ``samples`` (strictly increasing times) under ``rule`` and wrap the result."""
        judged = None if rule is None else assess(samples, rule, interval_ms=interval_ms)
        return cls(measurement, unit, tuple(samples), rule, judged, place, device, clock_backwards)


@dataclass(frozen=True, slots=True)
class VerificationInfo:
    """Where the proof lives and what it should cover.

    ``bundle_url``: the lot's bundle (``/v1/lots/{gtin}/{lot}/bundle``), fetched by badge.js and
    offered for download. ``verifier_key``: the gateway's C2SP verifier key
    (``<name>+<hex id>+<base64>``), published with the page; ``retired_keys``: the chain's older
    keys (after ``farmtrace keys rotate``), which still verify the checkpoints they signed and
    which the badge also trusts. ``checkpoint_url``: ``/checkpoint``.
    ``readings`` / ``events``: how many the bundle holds; ``pending``: how many are recorded but
    not yet under a signed checkpoint (the badge says "pending anchoring" for them).
    """

    bundle_url: str
    verifier_key: str
    checkpoint_url: str
    readings: int = 0
    events: int = 0
    pending: int = 0
    retired_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanPlace:
    """Scans from one coarse place (a city or region, never a precise location)."""

    place: str
    count: int


@dataclass(frozen=True, slots=True)
class ScanStats:
    """Anti-cloning: how often and where this code was scanned.

    ``unusual``: the API's judgement that the pattern looks like a copied code (e.g. scans in
    distant places within hours), with ``reason`` as plain text for the page.
    """

    total: int
    first_scan: datetime | None = None
    places: tuple[ScanPlace, ...] = ()
    unusual: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SeriesGap:
    """Readings ``first_seq..last_seq`` of ``device`` missing inside ``stage``'s series
    (``docs/bundle.md``, "Complete series"): ``cause`` is ``dropped-by-device`` (the device
    signed that it gave them up), ``rejected-by-gateway`` (signed, but refused) or
    ``not-received`` (the store holds none of them yet)."""

    stage: str
    device: str
    first_seq: int
    last_seq: int
    cause: str


@dataclass(frozen=True, slots=True)
class CampaignLink:
    """A harvest campaign for the lot: its GCN, its page's path and its status (``open``,
    ``funded``, ``failed``, ``closed``)."""

    gcn: str
    href: str
    status: str


@dataclass(frozen=True, slots=True)
class ProductPage:
    """Everything the consumer's page shows for one lot.

    ``gtin`` is the 14-digit GTIN; ``digital_link`` the pack's Digital Link URI. Dates are
    calendar dates at the farm; ``origin`` a display place ("Shouguang, Shandong, China").
    """

    name: Localized
    gtin: str
    lot: str
    digital_link: str
    verification: VerificationInfo
    product_class: str = ""
    harvest_date: date | None = None
    pack_date: date | None = None
    expiry_date: date | None = None
    origin: str = ""
    farm: Farm | None = None
    events: tuple[TimelineEvent, ...] = ()
    stages: tuple[StageView, ...] = ()
    """The lot's stages by start; each condition's ``place`` names one of them."""
    conditions: tuple[ConditionView, ...] = ()
    scans: ScanStats | None = None
    generated_at: datetime | None = None
    display_tz: str = "UTC"
    """IANA time zone for times on the page (the farm's, e.g. ``Asia/Shanghai``)."""
    extra: dict[str, str] = field(default_factory=dict)
    """More facts to list under the product (label -> value), e.g. variety or grade."""
    revised_at: datetime | None = None
    """When the lot's signed declaration was last revised (None: never); the page says so."""
    gaps: tuple[SeriesGap, ...] = ()
    """Readings missing inside the lot's series, by stage and device: shown as gaps."""
    campaigns: tuple[CampaignLink, ...] = ()
    """Harvest campaigns for this lot, linked from a small section of their own."""
