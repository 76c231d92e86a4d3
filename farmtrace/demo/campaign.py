"""The demo's harvest campaign, run through the HTTP API as a farm and its backers would.

The farm (Greenacre, farm identifier ``greenacre``) declares a future lettuce lot growing in the
North field, whose sensors the simulator runs, and opens a campaign for it: coupons of 5 kg at
18.00 EUR, target 4, cap 10. Three backers (Python wallets whose keys live in the demo's state
directory, ``wallets/NAME.key``) pledge; the farm confirms their payments with its API key
(scopes ``campaigns:write`` and ``coupons:redeem``; the API signs with the farm's key), which
issues their coupons, and settles the campaign, funded. Coupon 1 then goes from alice to carol
as a gift (a peer-to-peer transfer), carol sells it to dave through the coupon market, the farm
records the harvest, and dave redeems it at the farm shop: his signed redeem statement,
confirmed by the farm and linked to the lot's ``retail_selling`` event.

The farm's requests carry the demo's API keys; every backer's request is what a wallet sends
(:mod:`farmtrace.wallet`: the coupon's head read from ``GET /v1/coupons/{coupon}``, a statement
signed by the holder). Nothing reaches the store any other way.

Every step is judged from what the API answers, so a second run (or a run after one that was
stopped half way) does only what is missing: a campaign that exists is kept, a coupon that has
moved is not moved again. The pledge IDs the farm confirms are kept in ``campaign.json``.
The figures printed (:func:`read_figures`) are read back from the API, not counted here.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.entries import decode_statement
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import check_digit, coupon_id, validate_gcn
from farmtrace.commerce.listing import list_statement, offer_statement
from farmtrace.demo.errors import DemoError
from farmtrace.demo.lots import SampleLot, request, sample_stage
from farmtrace.wallet.client import ApiClient
from farmtrace.wallet.keyfile import WalletError, address_of, load_key, save_key
from farmtrace.wallet.statements import encode, parse_coupon_view, sign_redeem, sign_transfer

__all__ = [
    "BACKERS",
    "CAMPAIGN_LOT",
    "FARM",
    "GCN",
    "STORY_COUPON",
    "Backer",
    "CampaignFigures",
    "campaign_gcn",
    "campaign_lot",
    "campaign_terms",
    "read_figures",
    "run_campaign",
]

FARM = "greenacre"
"""The farm identifier its terms name (and its farm key's name in the API's state)."""
COMPANY_PREFIX = "4012345"
"""The demo's GS1 Company Prefix, as in its GTINs (farmtrace/demo/lots.py)."""
COUPON_REFERENCE = "10001"
"""The campaign's coupon reference (5 digits after the 7-digit prefix)."""


def campaign_gcn(prefix: str = COMPANY_PREFIX, reference: str = COUPON_REFERENCE) -> str:
    """A GCN (13 digits): the company prefix, the coupon reference and the GS1 check digit
    computed as for a GTIN (``farmtrace/commerce/gcn.py``)."""
    body = prefix + reference
    if len(body) != 12 or not body.isdigit():
        raise DemoError(f"GCN body {body!r}: expected 12 digits (prefix and coupon reference)")
    return validate_gcn(body + check_digit(body))


GCN = campaign_gcn()
CAMPAIGN_LOT = "CSA-2026-NORTH"
"""The future lettuce lot the campaign is for (same GTIN as the sample lettuce)."""
GTIN = "04012345000016"
STORY_COUPON = coupon_id(GCN, 1)
"""The coupon the demo gives, sells and redeems; its page is the one printed."""

PER_COUPON_KG = 5
PRICE = 1800  # minor units: 18.00 EUR a coupon
SALE_PRICE = 2000  # what carol asks, and dave pays, for coupon 1 (outside farmtrace)
CURRENCY = "EUR"
TARGET = 4
CAP = 10
HARVEST_KG = 50  # covers 10 coupons: every coupon issued, so no shortfall
OPEN_FOR = timedelta(days=30)
DELIVERY_FOR = timedelta(days=30)
# Growing in the North field from after the sample lettuce left it until harvest a day later
# (simulated time: about 24 minutes at 60x, so the campaign page's charts fill while the demo
# runs); picked up at the farm shop an hour after harvest.
GROW_FROM = timedelta(minutes=15)
HARVEST_AT = timedelta(days=1)
PICKUP_AT = HARVEST_AT + timedelta(hours=1)
_FIELD_NORTH = ("urn:epc:id:sgln:4012345.00001.0", "North field")
_SHOP = ("urn:epc:id:sgln:4012345.00013.0", "Greenacre farm shop")
PROGRESS_FILE = "campaign.json"
WALLET_DIR = "wallets"


@dataclass(frozen=True)
class Backer:
    """A simulated backer: the wallet's name (its key file) and how many coupons it pledges
    (0: it only buys in the market). ``contact`` stays in the database, never on the chain."""

    name: str
    pledge: int
    contact: str | None = None


BACKERS = (
    Backer("alice", 2, "alice@example.org"),
    Backer("bob", 2, "bob@example.org"),
    Backer("carol", 1, "carol@example.org"),
    Backer("dave", 0),
)


@dataclass(frozen=True)
class CampaignFigures:
    """What the campaign did, as the API reports it."""

    gcn: str
    status: str
    target: int
    cap: int
    pledges: int  # confirmed pledges: the campaign's issue entries
    issued: int
    transferred: int  # transfers without a declared price
    sold: int  # transfers with a declared price
    market_sold: int  # market listings that ended sold
    redeemed: int
    voided: int
    outstanding: int
    harvested: int | None
    entries: int
    anchored: int

    def line(self) -> str:
        harvest = "" if self.harvested is None else f", harvest {self.harvested} KGM"
        return (
            f"campaign {self.gcn} {self.status}: {self.pledges} pledges paid, {self.issued} "
            f"coupons issued (target {self.target}, cap {self.cap}), {self.transferred} "
            f"transferred, {self.sold} sold ({self.market_sold} through the market), "
            f"{self.redeemed} redeemed, {self.outstanding} "
            f"outstanding{harvest}; {self.entries} campaign entries, {self.anchored} anchored"
        )


def campaign_lot(start: datetime) -> SampleLot:
    """The future lot: lettuce in the North field from ``start`` + 15 min, harvested a day
    later (simulated time); its events are recorded when the story reaches them."""
    return SampleLot(
        {
            "gtin": GTIN,
            "lot": CAMPAIGN_LOT,
            "product_name": "Butterhead lettuce (harvest campaign)",
            "product_class": "lettuce",
            "farm": "Greenacre Farm",
            "origin_region": "Gelderland, NL",
            "stages": [
                sample_stage(
                    "field",
                    _FIELD_NORTH,
                    "field-north",
                    start,
                    _minutes(GROW_FROM),
                    _minutes(HARVEST_AT),
                )
            ],
        },
        [],
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _sign(key: Ed25519PrivateKey, signed: bytes) -> str:
    """A wallet's Ed25519 signature over a market statement, base64 as the API takes it."""
    return base64.b64encode(key.sign(signed)).decode("ascii")


def _minutes(span: timedelta) -> float:
    return span.total_seconds() / 60


def _event(kind: str, start: datetime, at: timedelta, place: tuple[str, str], actor: str) -> Any:
    return {
        "kind": kind,
        "time": (start + at).isoformat(),
        "read_point": place[0],
        "place_name": place[1],
        "actor": actor,
    }


def campaign_terms(now_ms: int) -> dict[str, Any]:
    """The campaign's terms (``docs/commerce.md``, Terms), open from a minute before
    ``now_ms`` (the wall clock: the API dates its entries by it) for 30 days."""
    deadline = now_ms + int(OPEN_FOR.total_seconds() * 1000)
    return {
        "campaign": GCN,
        "farm": FARM,
        "gtin": GTIN,
        "lot": CAMPAIGN_LOT,
        "per_coupon": {"quantity": PER_COUPON_KG, "unit": "KGM"},
        "price": {"amount": PRICE, "currency": CURRENCY},
        "target": TARGET,
        "cap": CAP,
        "opens_ms": now_ms - 60_000,
        "deadline_ms": deadline,
        "delivery": {
            "from_ms": deadline,
            "until_ms": deadline + int(DELIVERY_FOR.total_seconds() * 1000),
        },
        "text": {
            "zh": "每张券兑换5公斤北田的奶油生菜。收获后在Greenacre农场商店自取。",
            "en": "Each coupon is 5 kg of butterhead lettuce from the North field, "
            "picked up at the Greenacre farm shop after the harvest.",
        },
    }


class _Story:
    def __init__(
        self, base: str, lots_key: str, farm_key: str, state_dir: Path, start: datetime
    ) -> None:
        self.base = base
        self.lots_key = lots_key
        self.farm_key = farm_key
        self.dir = state_dir
        self.start = start
        self.wallet = ApiClient(base)  # what a backer's wallet talks to: no API key
        self.keys = {b.name: self._wallet_key(b.name) for b in BACKERS}

    # -- helpers ---------------------------------------------------------------------------

    def _wallet_key(self, name: str) -> Ed25519PrivateKey:
        path = self.dir / WALLET_DIR / f"{name}.key"
        try:
            if not path.exists():
                save_key(path, Ed25519PrivateKey.generate())
            return load_key(path)
        except WalletError as exc:
            raise DemoError(f"backer {name}'s wallet: {exc}") from None

    def address(self, name: str) -> str:
        return address_of(self.keys[name])

    def farm(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        """A request with the farm's API key; DemoError unless its status is in ``ok``."""
        status, answer = request(self.base, method, path, self.farm_key, body)
        if status not in ok:
            raise DemoError(f"{method} {path}: HTTP {status}: {answer}")
        return answer

    def get(self, path: str) -> Any:
        status, answer = request(self.base, "GET", path)
        if status != 200:
            raise DemoError(f"GET {path}: HTTP {status}: {answer}")
        return answer

    def coupon(self, coupon: str) -> dict[str, Any]:
        view: dict[str, Any] = self.get(f"/v1/coupons/{coupon}")
        return view

    def _progress(self) -> dict[str, Any]:
        path = self.dir / PROGRESS_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {"campaign": GCN, "pledges": {}}
        except (OSError, ValueError) as exc:
            raise DemoError(f"{path} is unreadable ({exc}); remove it to start over") from None
        return data

    def _save(self, progress: dict[str, Any]) -> None:
        path = self.dir / PROGRESS_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(progress, out, indent=2)
        os.replace(tmp, path)

    def lot_event(self, kind: str, at: timedelta, place: tuple[str, str], actor: str) -> Any:
        """The lot's event of ``kind`` (``{"signer", "seq", ...}``), recorded if missing."""
        path = f"/v1/lots/{GTIN}/{CAMPAIGN_LOT}"
        for event in self.get(path)["events"]:
            if event["kind"] == kind:
                return event
        body = _event(kind, self.start, at, place, actor)
        status, answer = request(self.base, "POST", path + "/events", self.lots_key, body)
        if status != 201:
            raise DemoError(f"recording {kind} of lot {CAMPAIGN_LOT}: HTTP {status}: {answer}")
        return answer

    def holder_signs(self, name: str, coupon: str, to: str, price: int | None) -> None:
        """``name``'s wallet transfers ``coupon`` to address ``to`` (with a declared price)."""
        try:
            head = parse_coupon_view(coupon, self.wallet.get(f"/v1/coupons/{coupon}"))
            declared = None if price is None else (price, CURRENCY)
            statement = sign_transfer(head, self.keys[name], to, declared)
            self.wallet.post(f"/v1/coupons/{coupon}/transfers", {"statement": encode(statement)})
        except WalletError as exc:
            raise DemoError(f"{name}'s wallet: {exc}") from None

    # -- the story ---------------------------------------------------------------------------

    def run(self) -> None:
        lot = campaign_lot(self.start)
        status, answer = request(self.base, "POST", "/v1/lots", self.lots_key, lot.body)
        if status not in (201, 409):
            raise DemoError(f"creating lot {CAMPAIGN_LOT}: HTTP {status}: {answer}")
        status, answer = request(self.base, "GET", f"/v1/campaigns/{GCN}")
        if status == 404:
            terms = campaign_terms(_now_ms())
            self.farm("POST", "/v1/campaigns", terms, ok=(201,))
        elif status != 200:
            raise DemoError(f"GET /v1/campaigns/{GCN}: HTTP {status}: {answer}")
        self.pledge_and_confirm()
        if self.get(f"/v1/campaigns/{GCN}")["status"] == "open":
            self.farm("POST", f"/v1/campaigns/{GCN}/settle")
        self.give()
        self.sell()
        self.harvest()
        self.redeem()

    def pledge_and_confirm(self) -> None:
        progress = self._progress()
        pledges: dict[str, Any] = progress.setdefault("pledges", {})
        for backer in BACKERS:
            if backer.pledge == 0:
                continue
            done = pledges.get(backer.name)
            if done is None:
                body: dict[str, Any] = {"holder": self.address(backer.name), "count": backer.pledge}
                if backer.contact is not None:
                    body["contact"] = backer.contact
                try:
                    made = self.wallet.post(f"/v1/campaigns/{GCN}/pledges", body)
                except WalletError as exc:
                    raise DemoError(f"{backer.name}'s pledge: {exc}") from None
                done = pledges[backer.name] = {"pledge": made["pledge"], "coupons": []}
                self._save(progress)
            if done["coupons"]:
                continue
            # The farm sees the payment arrive (outside farmtrace) and confirms it; only the
            # reference's SHA-256 reaches the chain.
            path = f"/v1/campaigns/{GCN}/pledges/{done['pledge']}/confirm"
            reference = {"payment_reference": f"demo bank transfer {backer.name}"}
            status, issued = request(self.base, "POST", path, self.farm_key, reference)
            if status == 200:
                done["coupons"] = issued["coupons"]
            elif status == 409 and "already" in str(issued):
                # Confirmed by a run stopped before it noted the coupons: the backer holds them.
                held = self.get(f"/v1/coupons?holder={self.address(backer.name)}")
                done["coupons"] = [c["coupon"] for c in held if c["campaign"] == GCN]
            else:
                raise DemoError(f"POST {path}: HTTP {status}: {issued}")
            self._save(progress)

    def give(self) -> None:
        """Coupon 1: alice gives it to carol (a peer-to-peer transfer, no price)."""
        if self.coupon(STORY_COUPON)["moves"] == 0:
            self.holder_signs("alice", STORY_COUPON, self.address("carol"), None)

    def sell(self) -> None:
        """Coupon 1 through the coupon market: carol lists it at 20.00 EUR (a statement signed
        by her wallet), dave offers to buy it (signed by his), they settle the payment outside
        farmtrace, and carol completes the sale with her ordinary transfer to dave's address,
        declaring the listed price; the market ends the listing as sold."""
        view = self.coupon(STORY_COUPON)
        carol, dave = self.address("carol"), self.address("dave")
        if view["status"] != "active" or view["holder"] != carol:
            return
        try:
            listing = self._open_listing(carol, view["state"])
            if listing is None:
                now = _now_ms()
                signed = list_statement(
                    STORY_COUPON, view["state"], carol, SALE_PRICE, CURRENCY, now
                )
                body = {
                    "state": view["state"],
                    "seller": carol,
                    "price": {"amount": SALE_PRICE, "currency": CURRENCY},
                    "time_ms": now,
                    "signature": _sign(self.keys["carol"], signed),
                }
                listing = self.wallet.post(f"/v1/coupons/{STORY_COUPON}/listings", body)
            if not any(offer["buyer"] == dave for offer in listing["offers"]):
                now = _now_ms()
                signed = offer_statement(listing["id"], dave, now)
                body = {
                    "buyer": dave,
                    "time_ms": now,
                    "signature": _sign(self.keys["dave"], signed),
                }
                listing = self.wallet.post(f"/v1/listings/{listing['id']}/offers", body)
        except (WalletError, CommerceError) as exc:
            raise DemoError(f"selling coupon {STORY_COUPON} in the market: {exc}") from None
        self.holder_signs("carol", STORY_COUPON, dave, int(listing["price"]["amount"]))

    def _open_listing(self, seller: str, state: str) -> dict[str, Any] | None:
        """``seller``'s open listing of the story coupon in ``state``, if a run made it."""
        market = self.wallet.get("/v1/listings", address=seller)
        for listing in market["selling"]:
            if (
                listing["coupon"] == STORY_COUPON
                and listing["state"] == state
                and listing["ended"] is None
            ):
                found: dict[str, Any] = listing
                return found
        return None

    def harvest(self) -> None:
        self.lot_event("harvest", HARVEST_AT, _FIELD_NORTH, "Greenacre harvest crew")
        if self.get(f"/v1/campaigns/{GCN}")["harvested"] is None:
            self.farm("POST", f"/v1/campaigns/{GCN}/harvest", {"quantity": HARVEST_KG})

    def redeem(self) -> None:
        """Dave picks up his 5 kg at the farm shop: his wallet signs the redeem statement (shown
        as a QR code there), the farm scans it and confirms it, linked to the lot's
        ``retail_selling`` event."""
        view = self.coupon(STORY_COUPON)
        if view["status"] != "active":
            return
        event = self.lot_event("retail_selling", PICKUP_AT, _SHOP, "Greenacre farm shop")
        try:
            head = parse_coupon_view(STORY_COUPON, view)
            statement = encode(sign_redeem(head, self.keys["dave"]))
        except WalletError as exc:
            raise DemoError(f"dave's wallet: {exc}") from None
        body = {"statement": statement, "event": {"signer": event["signer"], "seq": event["seq"]}}
        self.farm("POST", f"/v1/coupons/{STORY_COUPON}/redemptions", body)


def run_campaign(
    base_url: str, lots_key: str, farm_key: str, state_dir: Path, start: datetime
) -> CampaignFigures:
    """Run the campaign's story against the API at ``base_url`` (see the module docstring) and
    return its figures as the API reports them. ``lots_key`` holds ``lots:write`` and
    ``events:write``; ``farm_key`` ``campaigns:write`` and ``coupons:redeem``."""
    _Story(base_url, lots_key, farm_key, state_dir, start).run()
    return read_figures(base_url)


def read_figures(base_url: str, gcn: str = GCN) -> CampaignFigures:
    """The campaign's figures from ``GET /v1/campaigns/{gcn}`` (status, totals, entries), its
    bundle's transfers (``moves``: with a declared price a sale, else a transfer) and its
    market (``GET /v1/campaigns/{gcn}/listings``: listings that ended sold)."""
    status, view = request(base_url, "GET", f"/v1/campaigns/{gcn}")
    if status != 200:
        raise DemoError(f"GET /v1/campaigns/{gcn}: HTTP {status}: {view}")
    status, bundle = request(base_url, "GET", f"/v1/campaigns/{gcn}/bundle")
    if status != 200:
        raise DemoError(f"GET /v1/campaigns/{gcn}/bundle: HTTP {status}: {bundle}")
    transferred = sold = 0
    for move in bundle["moves"]:
        try:
            statement = decode_statement(base64.b64decode(move["entry"]))
        except (CommerceError, ValueError, KeyError) as exc:
            raise DemoError(
                f"campaign {gcn}'s bundle holds a move that does not decode: {exc}"
            ) from None
        if statement.price is None:
            transferred += 1
        else:
            sold += 1
    status, market = request(base_url, "GET", f"/v1/campaigns/{gcn}/listings")
    if status != 200:
        raise DemoError(f"GET /v1/campaigns/{gcn}/listings: HTTP {status}: {market}")
    totals = view["totals"]
    entries = view["entries"]
    return CampaignFigures(
        gcn=gcn,
        status=view["status"],
        target=view["terms"]["target"],
        cap=view["terms"]["cap"],
        pledges=sum(1 for e in entries if e["op"] == "issue"),
        issued=totals["issued"],
        transferred=transferred,
        sold=sold,
        market_sold=sum(1 for listing in market["ended"] if listing["ended"] == "sold"),
        redeemed=totals["redeemed"],
        voided=totals["voided"],
        outstanding=totals["outstanding"],
        harvested=view["harvested"],
        entries=len(entries),
        anchored=sum(1 for e in entries if e["anchored"]),
    )
