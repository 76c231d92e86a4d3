"""The view models of the campaign page and the coupon page, filled from the store.

Every number and state shown comes from the API's own views
(:func:`farmtrace.api.services.campaign_views.campaign_public` and ``coupon_public``), so the
pages and ``GET /v1/campaigns/{gcn}`` / ``GET /v1/coupons/{coupon}`` cannot disagree. Holders
appear only as key fingerprints; pledges' contact and delivery details are never read here.
The lot behind a campaign is the provenance page's own view model
(:func:`farmtrace.api.services.page_fill.build_page`), so its charts are the provenance page's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from farmtrace.api.schemas.campaigns import CampaignPublic, CouponPublic, PricePublic
from farmtrace.api.services.campaign_views import campaign_public, coupon_public
from farmtrace.api.services.coldchain import PRODUCT_CLASSES
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.page.model import Localized, ProductPage
from farmtrace.api.services.page.timefmt import zone
from farmtrace.api.services.page_fill import build_page
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.units import CURRENCIES

__all__ = [
    "CampaignPageView",
    "CouponPageView",
    "HistoryRow",
    "campaign_page_view",
    "coupon_page_view",
]


@dataclass(frozen=True, slots=True)
class CampaignPageView:
    """Everything the campaign page shows.

    ``campaign``: the API's view; ``product``: the lot's product name; ``lot``: the lot's
    provenance view model (None if the lot is not recorded); ``lot_path``: its Digital Link
    path; ``currency_digits``: the price currency's minor-unit digits; ``display_tz``: the
    farm's IANA zone (from the lot; UTC without one).
    """

    campaign: CampaignPublic
    product: Localized
    lot_path: str
    lot: ProductPage | None
    currency_digits: int
    now_ms: int
    display_tz: str = "UTC"

    @property
    def gcn(self) -> str:
        return self.campaign.campaign

    @property
    def pledge_closed(self) -> str | None:
        """Why the API would refuse a pledge now (``status``, ``harvested``, ``not-yet``,
        ``deadline``, ``cap``), checked as
        :meth:`~farmtrace.api.services.campaigns.CampaignService.pledge` checks them; None when
        it would take one."""
        c, terms = self.campaign, self.campaign.terms
        if c.status not in ("open", "funded"):
            return "status"
        if c.harvested is not None:
            return "harvested"
        if self.now_ms < terms.opens_ms:
            return "not-yet"
        if self.now_ms > terms.deadline_ms:
            return "deadline"
        if c.totals.issued >= terms.cap:
            return "cap"
        return None

    @property
    def pledgeable(self) -> bool:
        return self.pledge_closed is None

    @property
    def page_path(self) -> str:
        return f"/campaigns/{self.gcn}"

    @property
    def market_path(self) -> str:
        return f"/campaigns/{self.gcn}/market"

    @property
    def pledge_url(self) -> str:
        return f"/v1/campaigns/{self.gcn}/pledges"

    @property
    def bundle_url(self) -> str:
        return f"/v1/campaigns/{self.gcn}/bundle"


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One step of a coupon's history: ``kind`` (issue, transfer, redeem, void), the coupon's
    state after it, its move number, the campaign entry's ``cseq`` (issue, redeem, void), the
    new holder's fingerprint (issue, transfer), the declared price (a transfer's, if any), when
    (ms) and whether a block anchors it."""

    kind: str
    state: str
    move: int
    cseq: int | None
    holder_fingerprint: str | None
    price: PricePublic | None
    time_ms: int
    anchored: bool


@dataclass(frozen=True, slots=True)
class CouponPageView:
    """Everything the coupon page shows: the API's coupon view and its campaign's, the history
    with holders as fingerprints, and where the badge gets its bundles and keys."""

    coupon: CouponPublic
    campaign: CampaignPublic
    product: Localized
    lot_path: str
    history: tuple[HistoryRow, ...]
    verifier_key: str
    retired_keys: tuple[str, ...]
    currency_digits: int
    display_tz: str = "UTC"

    @property
    def campaign_path(self) -> str:
        return f"/campaigns/{self.campaign.campaign}"

    @property
    def bundle_url(self) -> str:
        return f"/v1/coupons/{self.coupon.coupon}/bundle"

    @property
    def campaign_bundle_url(self) -> str:
        return f"/v1/campaigns/{self.campaign.campaign}/bundle"


def _product(state: AppState, gtin: str, lot: str) -> tuple[Localized, str, LotRecord | None]:
    record = state.lots.get(gtin, lot)
    if record is None:
        return Localized(gtin), "UTC", None
    klass = PRODUCT_CLASSES.get(record.product_class)
    name = Localized(record.product_name, None if klass is None else klass.title_zh)
    tz = record.details.time_zone or "UTC"
    try:
        zone(tz)
    except ValueError:
        tz = "UTC"  # a page must render: times in UTC, which the page says
    return name, tz, record


def _fingerprint(address: str | None) -> str | None:
    """How pages name a holder; None for no holder (or a stored value that is no key, which
    the badge and the audit then name)."""
    if address is None:
        return None
    try:
        return fingerprint(bytes.fromhex(address))
    except ValueError:
        return None


def campaign_page_view(
    state: AppState, gcn: str, base: str, now: datetime | None = None
) -> CampaignPageView:
    """The campaign page's view of campaign ``gcn`` (a valid GCN);
    :class:`~farmtrace.commerce.errors.CommerceError` (``not-found``) for an unknown one."""
    head = state.campaigns.head(gcn)
    view = campaign_public(state, head)
    link = DigitalLink(head.gtin, lot=head.lot)
    product, tz, record = _product(state, head.gtin, head.lot)
    lot = None if record is None else build_page(state, link, record, base, now)
    return CampaignPageView(
        campaign=view,
        product=product,
        lot_path=link.path(),
        lot=lot,
        currency_digits=CURRENCIES.get(view.terms.price.currency, 2),
        now_ms=state.campaigns.now_ms(),
        display_tz=tz,
    )


def coupon_page_view(state: AppState, coupon: str) -> CouponPageView:
    """The coupon page's view of ``coupon`` (a valid coupon ID);
    :class:`~farmtrace.commerce.errors.CommerceError` (``not-found``) for an unknown one."""
    head, record = state.campaigns.coupon(coupon)
    view = coupon_public(state, head, record)
    campaign = campaign_public(state, head)
    product, tz, _ = _product(state, head.gtin, head.lot)
    rows = tuple(
        HistoryRow(
            kind=h.kind,
            state=h.state,
            move=h.move,
            cseq=h.cseq,
            holder_fingerprint=_fingerprint(h.holder),
            price=h.price,
            time_ms=h.time_ms,
            anchored=h.anchored,
        )
        for h in view.history
    )
    keys = state.verifier_keys(state.default_origin())
    return CouponPageView(
        coupon=view,
        campaign=campaign,
        product=product,
        lot_path=DigitalLink(head.gtin, lot=head.lot).path(),
        history=rows,
        verifier_key=keys[-1] if keys else "",
        retired_keys=tuple(keys[:-1]),
        currency_digits=CURRENCIES.get(campaign.terms.price.currency, 2),
        display_tz=tz,
    )
