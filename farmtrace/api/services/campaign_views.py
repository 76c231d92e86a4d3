"""Campaigns and coupons as response models, and their GS1 Digital Link addresses.

A campaign's address is ``/255/{gcn}`` and a coupon's ``/255/{gcn}{serial}`` (AI 255, the
Global Coupon Number with its serial component) on this resolver, ``id.gs1.org`` in canonical
form. Everything shown is read from the store; the state hashes, totals and decisions are
those the signed entries carry.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from farmtrace.api.schemas.campaigns import (
    CampaignChangesPublic,
    CampaignEntryPublic,
    CampaignPublic,
    CampaignSummary,
    CouponHistoryItem,
    CouponPublic,
    CouponSummary,
    Entitlement,
    PricePublic,
    Share,
    ShortfallPublic,
    TermsIn,
    TotalsPublic,
)
from farmtrace.api.services.digital_link import CANONICAL_DOMAIN, DigitalLink, public_base_url
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import (
    CampaignEntry,
    decode_campaign_entry,
    fingerprint,
    statement_signer,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.campaigns import (
    CampaignChange,
    CampaignHead,
    CouponRecord,
    MoveRecord,
    StoredCampaignEntry,
)
from farmtrace.store.lots import Anchor

__all__ = [
    "campaign_canonical_uri",
    "campaign_public",
    "campaign_summary",
    "campaign_uri",
    "changes_public",
    "coupon_canonical_uri",
    "coupon_public",
    "coupon_summary",
    "coupon_uri",
]


def _base(state: AppState) -> str:
    return public_base_url(state.settings.link_base)


def campaign_uri(state: AppState, gcn: str) -> str:
    """The campaign's Digital Link on this resolver."""
    return f"{_base(state)}/255/{gcn}"


def coupon_uri(state: AppState, coupon: str) -> str:
    """The coupon's Digital Link on this resolver."""
    return f"{_base(state)}/255/{coupon}"


def campaign_canonical_uri(gcn: str) -> str:
    return f"https://{CANONICAL_DOMAIN}/255/{gcn}"


def coupon_canonical_uri(coupon: str) -> str:
    return f"https://{CANONICAL_DOMAIN}/255/{coupon}"


def _anchor_fields(anchor: Anchor | None) -> dict[str, Any]:
    return {
        "anchored": anchor is not None,
        "origin": None if anchor is None else anchor.origin,
        "global_index": None if anchor is None else anchor.global_index,
    }


def _entry_public(entry: StoredCampaignEntry) -> CampaignEntryPublic:
    return CampaignEntryPublic(
        cseq=entry.cseq,
        op=entry.op,
        state=entry.state,
        time_ms=entry.time_ms,
        signer=entry.signer,
        seq=entry.seq,
        **_anchor_fields(entry.anchor),
    )


def _decoded(payload: bytes) -> CampaignEntry | None:
    try:
        return decode_campaign_entry(payload)
    except CommerceError:
        return None  # stored by this API, so well-formed; the audit names it otherwise


def _totals(head: CampaignHead) -> TotalsPublic:
    return TotalsPublic(
        issued=head.issued,
        redeemed=head.redeemed,
        voided=head.voided,
        outstanding=head.issued - head.redeemed - head.voided,
    )


def _shortfall(
    head: CampaignHead, entries: Sequence[StoredCampaignEntry] | None
) -> ShortfallPublic | None:
    """The recorded decision; its share and ``cseq`` come from the signed ``shortfall`` entry
    (read here when ``entries`` is not given)."""
    if head.shortfall is None:
        return None
    decision = json.loads(head.shortfall)
    share: Share | None = None
    cseq: int | None = None
    found = _shortfall_entry(head, entries)
    if found is not None:
        cseq, decoded = found
        raw = decoded.body.get("share")
        if isinstance(raw, dict):
            share = Share(quantity=int(raw["quantity"]), coupons=int(raw["coupons"]))
    return ShortfallPublic(
        policy=str(decision["policy"]),
        covered=int(decision["covered"]),
        uncovered=int(decision["uncovered"]),
        share=share,
        cseq=cseq,
    )


def _shortfall_entry(
    head: CampaignHead, entries: Sequence[StoredCampaignEntry] | None
) -> tuple[int, CampaignEntry] | None:
    if head.shortfall is None:
        return None
    if entries is None:
        return None
    for entry in entries:
        if entry.op == "shortfall":
            decoded = _decoded(entry.payload)
            if decoded is not None:
                return entry.cseq, decoded
    return None


def _farm_key(state: AppState, head: CampaignHead) -> str | None:
    key = state.farm_keys({head.signer}).get(head.signer)
    return None if key is None else key.hex()


def _summary_fields(
    state: AppState, head: CampaignHead, entries: Sequence[StoredCampaignEntry] | None
) -> dict[str, Any]:
    terms = state.campaigns.terms(head)
    lot = DigitalLink(head.gtin, lot=head.lot)
    return {
        "campaign": head.gcn,
        "farm": head.farm,
        "gtin": head.gtin,
        "lot": head.lot,
        "status": head.status,
        "terms": TermsIn.model_validate(terms.to_json()),
        "terms_sha256": terms.sha256(),
        "totals": _totals(head),
        "harvested": head.harvested,
        "shortfall": _shortfall(head, entries),
        "farm_key": _farm_key(state, head),
        "farm_signer": head.signer,
        "head": head.head,
        "cseq": head.cseq,
        "digital_link": campaign_uri(state, head.gcn),
        "lot_digital_link": state.link_uri(lot),
        "links": {
            "self": f"/v1/campaigns/{head.gcn}",
            "bundle": f"/v1/campaigns/{head.gcn}/bundle",
            "lot": f"/v1/lots/{head.gtin}/{head.lot}",
        },
    }


def campaign_summary(state: AppState, head: CampaignHead) -> CampaignSummary:
    """A campaign without its entries (for lists; the shortfall's share is left out)."""
    return CampaignSummary(**_summary_fields(state, head, None))


def campaign_public(state: AppState, head: CampaignHead) -> CampaignPublic:
    """A campaign with every entry of its chain and whether a block anchors each."""
    entries = state.campaigns.campaigns.entries(head.id)
    return CampaignPublic(
        **_summary_fields(state, head, entries),
        entries=[_entry_public(e) for e in entries],
    )


def changes_public(
    state: AppState, gcn: str, changes: Sequence[CampaignChange]
) -> CampaignChangesPublic:
    """The entries an action appended (just signed: none anchored yet), and the head after."""
    head = state.campaigns.head(gcn)
    appended = []
    for change in changes:
        decoded = _decoded(change.payload)
        appended.append(
            CampaignEntryPublic(
                cseq=0 if decoded is None else decoded.cseq,
                op=change.op,
                state=change.state,
                time_ms=change.time_ms,
                signer=head.signer if decoded is None else decoded.signer,
                seq=0 if decoded is None else decoded.seq,
                anchored=False,
                origin=None,
                global_index=None,
            )
        )
    return CampaignChangesPublic(
        campaign=head.gcn, status=head.status, cseq=head.cseq, head=head.head, entries=appended
    )


def coupon_summary(state: AppState, record: CouponRecord) -> CouponSummary:
    coupon = coupon_id(record.gcn, record.serial)
    return CouponSummary(
        coupon=coupon,
        campaign=record.gcn,
        gcn=record.gcn,
        serial=record.serial,
        holder=record.holder,
        fingerprint=fingerprint(bytes.fromhex(record.holder)),
        status=record.status,
        state=record.state,
        moves=record.moves,
        digital_link=coupon_uri(state, coupon),
    )


def _history(
    head: CampaignHead,
    record: CouponRecord,
    entries: Sequence[StoredCampaignEntry],
    moves: Sequence[MoveRecord],
) -> list[CouponHistoryItem]:
    by_state = {e.state: e for e in entries}
    first_state = moves[0].prev if moves else record.state
    items: list[CouponHistoryItem] = []
    issue = by_state.get(first_state)
    if issue is not None:
        decoded = _decoded(issue.payload)
        items.append(
            CouponHistoryItem(
                kind="issue",
                state=issue.state,
                entry=base64.b64encode(issue.payload).decode("ascii"),
                cseq=issue.cseq,
                move=0,
                holder=None if decoded is None else str(decoded.body.get("holder")),
                price=None,
                time_ms=issue.time_ms,
                **_anchor_fields(issue.anchor),
            )
        )
    for move in moves:
        if move.op == "transfer":
            items.append(
                CouponHistoryItem(
                    kind="transfer",
                    state=move.state,
                    entry=base64.b64encode(move.payload or b"").decode("ascii"),
                    cseq=None,
                    move=move.move,
                    holder=move.holder,
                    price=None
                    if move.price is None
                    else PricePublic(amount=move.price[0], currency=move.price[1]),
                    time_ms=move.time_ms,
                    **_anchor_fields(move.anchor),
                )
            )
            continue
        # A redemption or void: the campaign entry that made the coupon's state.
        entry = by_state.get(move.state)
        items.append(
            CouponHistoryItem(
                kind="redeem" if move.op == "redeem" else "void",
                state=move.state,
                entry="" if entry is None else base64.b64encode(entry.payload).decode("ascii"),
                cseq=None if entry is None else entry.cseq,
                move=move.move,
                holder=None,
                price=None,
                time_ms=move.time_ms,
                **_anchor_fields(None if entry is None else entry.anchor),
            )
        )
    return items


def _entitlement(
    state: AppState,
    head: CampaignHead,
    entries: Sequence[StoredCampaignEntry],
    history: Sequence[CouponHistoryItem],
) -> Entitlement:
    """The coupon's worth; under a pro-rata decision, the share of a coupon that was still
    outstanding when it was decided (one redeemed before it got its whole quantity)."""
    terms = state.campaigns.terms(head)
    pro_rata: Share | None = None
    found = _shortfall_entry(head, entries)
    if found is not None:
        cseq, decoded = found
        redeemed_before = any(
            h.kind in ("redeem", "void") and h.cseq is not None and h.cseq < cseq for h in history
        )
        raw = decoded.body.get("share")
        if (
            decoded.body.get("policy") == "pro-rata"
            and isinstance(raw, dict)
            and not redeemed_before
        ):
            pro_rata = Share(quantity=int(raw["quantity"]), coupons=int(raw["coupons"]))
    return Entitlement(quantity=terms.quantity, unit=terms.unit, pro_rata=pro_rata)


def coupon_public(state: AppState, head: CampaignHead, record: CouponRecord) -> CouponPublic:
    """A coupon with its whole history, each entry's bytes and whether a block anchors it."""
    coupon = coupon_id(head.gcn, record.serial)
    store = state.campaigns.campaigns
    entries = store.entries(head.id)
    moves = store.moves(
        head.id, record.serial, stream=lambda serial: statement_signer(coupon_id(head.gcn, serial))
    )
    history = _history(head, record, entries, moves)
    summary = coupon_summary(state, dataclasses.replace(record, gcn=head.gcn))
    return CouponPublic(
        **summary.model_dump(),
        entitlement=_entitlement(state, head, entries, history),
        history=history,
        links={
            "self": f"/v1/coupons/{coupon}",
            "bundle": f"/v1/coupons/{coupon}/bundle",
            "campaign": f"/v1/campaigns/{head.gcn}",
            "campaign_link": campaign_uri(state, head.gcn),
        },
    )
