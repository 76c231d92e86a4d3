"""Campaign and coupon bundles: one JSON file with everything needed to check a campaign's
coupons, or one coupon's history, offline.

The formats are specified in ``docs/commerce.md``; ``farmtrace verify``
(:mod:`farmtrace.api.services.verify_commerce`) is the reference verifier. Proofs are made
exactly as for a lot bundle (:class:`~farmtrace.api.services.bundle.Prover`): every item of a
chain relative to the one checkpoint the bundle carries for that chain; an entry the checkpoint
does not cover yet goes in as ``pending-anchoring`` with its bytes only.

* A **campaign bundle** holds the campaign's entries ``cseq`` 1..n in order and every holder
  transfer of its coupons (a redemption or void names the state a coupon reached through its
  transfers, so the replay needs them to recount).
* A **coupon bundle** holds the same campaign entries (the caps and the chain of the coupon's
  issue, redeem or void entries need all of them), the transfers of its coupon, and those of
  every other coupon that a redeem or void entry has ended (whose last state those entries
  name); transfers of other coupons still active are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from farmtrace.api.services.bundle import Prover
from farmtrace.api.services.convert import b64
from farmtrace.api.services.verify_commerce import CAMPAIGN_BUNDLE, COUPON_BUNDLE
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import (
    CampaignEntry,
    decode_campaign_entry,
    decode_statement,
    farm_signer,
    statement_signer,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id, parse_coupon_id, validate_gcn
from farmtrace.store.campaigns import CampaignHead, Campaigns
from farmtrace.store.lots import Anchor

__all__ = ["HeldEntry", "assemble_bundle", "build_campaign_bundle", "build_coupon_bundle"]


@dataclass(frozen=True, slots=True)
class HeldEntry:
    """A stored commerce entry (a campaign entry or a holder transfer) and, once a block holds
    it, where: ``(origin, global_index)``."""

    payload: bytes
    anchor: tuple[str, int] | None = None


def assemble_bundle(
    state: AppState,
    campaign: str,
    entries: Sequence[HeldEntry],
    moves: Sequence[HeldEntry],
    coupon: str | None = None,
) -> dict[str, Any]:
    """The bundle (a coupon bundle when ``coupon`` is given, else a campaign bundle) of a
    campaign's ``entries`` (``cseq`` 1..n in order) and holder transfers ``moves`` (in the order
    they were accepted), as a JSON-ready dict. For a coupon bundle, ``moves`` may hold every
    transfer of the campaign: those the coupon bundle needs are kept."""
    decoded = _decodable(entries)
    if coupon is not None:
        _, serial = parse_coupon_id(coupon)
        keep = _ended_serials(decoded) | {serial}
        moves = [m for m in moves if _serial_of(m.payload) in keep]
    prover = Prover(state)

    def item(held: HeldEntry) -> dict[str, Any]:
        proved = None if held.anchor is None else prover.prove(*held.anchor)
        if proved is None:
            return {"status": "pending-anchoring", "entry": b64(held.payload)}
        return {"status": "anchored", **proved}

    entry_items = [item(e) for e in entries]
    move_items = [item(m) for m in moves]
    bundle: dict[str, Any] = {
        "format": CAMPAIGN_BUNDLE if coupon is None else COUPON_BUNDLE,
        "campaign": campaign,
    }
    if coupon is not None:
        bundle["coupon"] = coupon
    bundle.update(
        {
            "chains": prover.chains(),
            "blocks": prover.blocks(),
            "farm_keys": _farm_keys(decoded),
            "entries": entry_items,
            "moves": move_items,
        }
    )
    return bundle


def _decodable(entries: Sequence[HeldEntry]) -> list[CampaignEntry]:
    """The entries that decode: a stored row that does not still goes into the bundle, for the
    verifier to name."""
    found = []
    for held in entries:
        try:
            found.append(decode_campaign_entry(held.payload))
        except CommerceError:
            continue
    return found


def _farm_keys(entries: list[CampaignEntry]) -> dict[str, str]:
    """The farm key named by the ``open`` entry, under its signer ID."""
    keys: dict[str, str] = {}
    for entry in entries:
        if entry.op == "open":
            key = bytes.fromhex(entry.body["farm_key"])
            keys[farm_signer(key)] = b64(key)
    return keys


def _ended_serials(entries: list[CampaignEntry]) -> set[int]:
    """Serials of coupons a redeem or void entry ended."""
    ended: set[int] = set()
    for entry in entries:
        if entry.op == "redeem":
            ended.add(int(entry.body["serial"]))
        elif entry.op == "void":
            ended.update(int(serial) for serial, _ in entry.body["coupons"])
    return ended


def _serial_of(payload: bytes) -> int | None:
    try:
        return parse_coupon_id(decode_statement(payload).coupon)[1]
    except CommerceError:
        return None  # not ours to judge here: the verifier names it


def build_campaign_bundle(state: AppState, gcn: str) -> dict[str, Any]:
    """The campaign bundle of campaign ``gcn`` (format ``farmtrace-campaign-bundle/v1``): its
    entries 1..n and every transfer of its coupons, as stored now.
    :class:`~farmtrace.commerce.errors.CommerceError` for a malformed GCN (``invalid``) or an
    unknown campaign (``not-found``)."""
    store, head = _campaign(state, validate_gcn(gcn))
    return assemble_bundle(state, head.gcn, _entries(store, head), _transfers(store, head))


def build_coupon_bundle(state: AppState, coupon: str) -> dict[str, Any]:
    """The coupon bundle of ``coupon`` (format ``farmtrace-coupon-bundle/v1``): its campaign's
    entries 1..n, its own transfers and those of the coupons already redeemed or void.
    :class:`~farmtrace.commerce.errors.CommerceError` for a malformed coupon ID (``invalid``)
    or an unknown campaign or coupon (``not-found``)."""
    gcn, serial = parse_coupon_id(coupon)
    store, head = _campaign(state, gcn)
    if store.coupon(gcn, serial) is None:
        raise CommerceError(f"coupon {coupon} was never issued", "not-found")
    return assemble_bundle(state, head.gcn, _entries(store, head), _transfers(store, head), coupon)


def _campaign(state: AppState, gcn: str) -> tuple[Campaigns, CampaignHead]:
    store = Campaigns(state.database)
    head = store.get(gcn)
    if head is None:
        raise CommerceError(f"no campaign {gcn}", "not-found")
    return store, head


def _anchor(anchor: Anchor | None) -> tuple[str, int] | None:
    return None if anchor is None else (anchor.origin, anchor.global_index)


def _entries(store: Campaigns, head: CampaignHead) -> list[HeldEntry]:
    return [HeldEntry(e.payload, _anchor(e.anchor)) for e in store.entries(head.id)]


def _transfers(store: Campaigns, head: CampaignHead) -> list[HeldEntry]:
    """Every holder transfer of the campaign's coupons, by serial and move (redemptions and
    voids are in the campaign's entries already)."""

    def stream(serial: int) -> str:
        return statement_signer(coupon_id(head.gcn, serial))

    return [
        HeldEntry(m.payload, _anchor(m.anchor))
        for m in store.moves(head.id, stream=stream)
        if m.op == "transfer" and m.payload is not None
    ]
