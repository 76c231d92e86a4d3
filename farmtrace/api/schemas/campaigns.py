"""Campaigns, pledges and coupons as the API receives and returns them.

Request bodies are strict (no unknown fields, no numbers given as text, every integer and
string bounded); what their values mean -- a GCN's check digit, an ISO 4217 code, a Rec 20
unit, an Ed25519 public key -- is judged by :mod:`farmtrace.commerce` in the campaign service,
whose message names the field (answered as 422). Times are milliseconds since the epoch (UTC);
money is an integer of the currency's minor units.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.terms import MAX_CAP, MAX_PRICE, MAX_QUANTITY, MAX_TEXT

__all__ = [
    "TERMS_EXAMPLE",
    "CampaignChangesPublic",
    "CampaignEntryPublic",
    "CampaignPublic",
    "CampaignSummary",
    "CouponHistoryItem",
    "CouponPublic",
    "CouponSummary",
    "DeliveryWindow",
    "Entitlement",
    "EventRef",
    "HarvestCreate",
    "IssuedPublic",
    "Money",
    "PerCoupon",
    "PledgeConfirm",
    "PledgeCreate",
    "PledgePublic",
    "PricePublic",
    "RedemptionCreate",
    "RedemptionPublic",
    "RefundCreate",
    "RefundPublic",
    "Share",
    "ShortfallCreate",
    "ShortfallPublic",
    "TermsIn",
    "TermsText",
    "TotalsPublic",
    "TransferCreate",
    "TransferPublic",
]

_STRICT = ConfigDict(extra="forbid", strict=True)
_PLAIN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Text without control characters other than tab and line breaks (PostgreSQL refuses NUL)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(text: str) -> str:
    """``text`` unless it has a control character: the answer names the character and where,
    not the regular expression (which a client could not act on)."""
    found = _CONTROL.search(text)
    if found is not None:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()}: "
            "only tab and line breaks are allowed"
        )
    return text


_PLAIN_SCHEMA = {"pattern": _PLAIN}
_Text500 = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra=_PLAIN_SCHEMA),
    AfterValidator(_plain),
]
"""Contact or delivery text: 1..500 characters without control characters but tab and line
breaks (PostgreSQL refuses NUL); the pattern is still published in the schema."""
_Text200 = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra=_PLAIN_SCHEMA),
    AfterValidator(_plain),
]


_ADDRESS = "an Ed25519 public key: 64 lowercase hex digits"
MAX_STATEMENT = 8192
"""The longest base64 holder statement accepted (a statement's body is a few hundred bytes)."""

GCN_EXAMPLE = "0950600013439"
COUPON_EXAMPLE = "09506000134391"
HOLDER_EXAMPLE = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
TERMS_EXAMPLE: dict[str, Any] = {
    "campaign": GCN_EXAMPLE,
    "farm": "greenacre",
    "gtin": "09506000134352",
    "lot": "LOT-1",
    "per_coupon": {"quantity": 5, "unit": "KGM"},
    "price": {"amount": 4500, "currency": "CNY"},
    "target": 30,
    "cap": 60,
    "opens_ms": 1_900_000_000_000,
    "deadline_ms": 1_900_864_000_000,
    "delivery": {"from_ms": 1_901_728_000_000, "until_ms": 1_902_592_000_000},
    "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
}
STATE_EXAMPLE = "5f1d3c1f0d6b8a4e9e2b7c3a1f0e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e"


# -- requests -----------------------------------------------------------------------------------


class PerCoupon(BaseModel):
    """What one coupon is worth: an integer quantity of a UN/ECE Rec 20 unit (KGM, GRM, ...)."""

    model_config = _STRICT

    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit: str = Field(min_length=1, max_length=8, description="UN/ECE Rec 20 code, e.g. KGM")


class Money(BaseModel):
    """An amount in minor units (cents, fen) of an ISO 4217 currency."""

    model_config = _STRICT

    amount: int = Field(ge=0, le=MAX_PRICE)
    currency: str = Field(min_length=1, max_length=8, description="ISO 4217 code, e.g. CNY")


class DeliveryWindow(BaseModel):
    model_config = _STRICT

    from_ms: int = Field(ge=0, le=MAX_INT)
    until_ms: int = Field(ge=0, le=MAX_INT)


class TermsText(BaseModel):
    """The terms as backers read them, in Chinese and English."""

    model_config = _STRICT

    zh: str = Field(min_length=1, max_length=MAX_TEXT)
    en: str = Field(min_length=1, max_length=MAX_TEXT)


class TermsIn(BaseModel):
    """A campaign's terms (the shape the ``open`` entry signs, ``docs/commerce.md``): the GCN of
    its coupon class, the farm and the lot (declared first), what a coupon is worth and costs,
    the funding target and cap in coupons, opening time, deadline and delivery window."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [TERMS_EXAMPLE]},
    )

    campaign: str = Field(min_length=1, max_length=13, description="GCN: 13 digits")
    farm: str = Field(min_length=1, max_length=64)
    gtin: str = Field(min_length=1, max_length=14, description="the lot's GTIN, 14 digits")
    lot: str = Field(min_length=1, max_length=20)
    per_coupon: PerCoupon
    price: Money
    target: int = Field(ge=1, le=MAX_CAP)
    cap: int = Field(ge=1, le=MAX_CAP)
    opens_ms: int = Field(ge=0, le=MAX_INT)
    deadline_ms: int = Field(ge=0, le=MAX_INT)
    delivery: DeliveryWindow
    text: TermsText


class PledgeCreate(BaseModel):
    """A backer's pledge of ``count`` coupons to be issued to ``holder`` once the farm confirms
    the payment. ``contact`` and ``delivery`` stay off the chain (erasable)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"holder": HOLDER_EXAMPLE, "count": 2, "contact": "alice@example.org"}]
        },
    )

    holder: str = Field(min_length=1, max_length=128, description=_ADDRESS)
    count: int = Field(ge=1, le=MAX_CAP)
    contact: _Text500 | None = None
    delivery: _Text500 | None = None


class PledgeConfirm(BaseModel):
    """The farm's confirmation that a pledge is paid; the reference is kept only as a hash."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"payment_reference": "b-1"}]}
    )

    payment_reference: _Text200


class RefundCreate(BaseModel):
    """A refund the farm made (farmtrace never moves money), in the campaign's minor units."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"amount": 9000}]}
    )

    amount: int = Field(ge=1, le=MAX_INT)


class HarvestCreate(BaseModel):
    """The quantity harvested, in the unit of a coupon's worth."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"quantity": 280}]}
    )

    quantity: int = Field(ge=0, le=MAX_INT)


class ShortfallCreate(BaseModel):
    """The farm's decision when the harvest cannot cover the coupons: every outstanding coupon
    gets an equal share (``pro-rata``), or the uncovered ones are voided and refunded."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"policy": "pro-rata"}]}
    )

    policy: Literal["pro-rata", "refund"]


_TRANSFER_EXAMPLE = (
    "RkgBAAAAAAAAAAEAAAGiTqZIEBVjb3Vwb24uMDYxNDE0MTAwMDAxMjcAAADmeyJjb3Vwb24iOiIwNjE0MTQxMDAw"
    "MDEyNyIsIm9wIjoidHJhbnNmZXIiLCJwcmV2IjoiNTgxZjNhNTgwMTYyYzkzZGY0YWZlYTQwZDUyODVjMTEyZWUw"
    "ZTkyNDJjODNhZTNmNzJlYzU4MmNmMzlmYTk5OSIsInByaWNlIjp7ImFtb3VudCI6NDgwMCwiY3VycmVuY3kiOiJD"
    "TlkifSwidG8iOiI4MTM5NzcwZWE4N2QxNzVmNTZhMzU0NjZjMzRjN2VjY2NiOGQ4YTkxYjRlZTM3YTI1ZGY2MGY1"
    "YjhmYzliMzk0In1DsG4f0T87yyGneLOND/AZAf/nOYvCT3WQPwBKc8VPNNHeRMPBmX3LuPKICkZKteYzn6J6XjoN"
    "M+d9RUzcUWcA"
)
"""A transfer of coupon 06141410000127 (move 1) with a declared price of 4800 CNY, as
``farmtrace.commerce.entries.sign_statement`` makes it (docs/commerce.md)."""
_REDEEM_EXAMPLE = (
    "RkgBAAAAAAAAAAIAAAGiTqcLYBVjb3Vwb24uMDYxNDE0MTAwMDAxMjcAAABzeyJjb3Vwb24iOiIwNjE0MTQxMDAw"
    "MDEyNyIsIm9wIjoicmVkZWVtIiwicHJldiI6IjMyNWI4MTIzMzBmNjg5NzZhM2Y0YmNiOTBiZGViNmIzYmRhZDA1"
    "YWFlZWM4NTFiMTIxODYzNDQwMTU1NTlmZjEifZ5G7B11GG+FlwrqOe0rdTaH7eEufSu0RsJ4wxnlC2NRdFGjvwsW"
    "VPEtZX1peqIaCvU+KbZAFYEuQMYBd1eSSwQ="
)
"""The new holder's redeem statement for the same coupon (move 2)."""


class TransferCreate(BaseModel):
    """A transfer statement signed by the coupon's holder (``FH 01`` bytes in base64)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"statement": _TRANSFER_EXAMPLE}]},
    )

    statement: str = Field(min_length=1, max_length=MAX_STATEMENT, description="base64")


class EventRef(BaseModel):
    """A lot event, as ``GET /v1/lots/{gtin}/{lot}`` lists it: its signer and sequence number."""

    model_config = _STRICT

    signer: str = Field(min_length=1, max_length=128)
    seq: int = Field(ge=1, le=MAX_INT)


class RedemptionCreate(BaseModel):
    """A holder's signed redeem statement (base64), confirmed by the farm and linked to the
    lot event where the goods left (shipping or retail_selling)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "statement": _REDEEM_EXAMPLE,
                    "event": {"signer": "farmtrace-api.96c6397aa71db444", "seq": 2},
                }
            ]
        },
    )

    statement: str = Field(min_length=1, max_length=MAX_STATEMENT, description="base64")
    event: EventRef


# -- responses ----------------------------------------------------------------------------------


class TotalsPublic(BaseModel):
    issued: int
    redeemed: int
    voided: int
    outstanding: int


class Share(BaseModel):
    """What is left of the harvest for the outstanding coupons at the decision."""

    quantity: int
    coupons: int


class ShortfallPublic(BaseModel):
    """A recorded shortfall decision: coupons the harvest covers, those it does not, and for
    ``pro-rata`` the share the outstanding coupons split."""

    policy: str
    covered: int
    uncovered: int
    share: Share | None
    cseq: int | None


class CampaignEntryPublic(BaseModel):
    """One entry of the campaign's own chain, signed by the farm's key."""

    cseq: int
    op: str
    state: str
    time_ms: int
    signer: str
    seq: int
    anchored: bool
    origin: str | None
    global_index: int | None


class CampaignSummary(BaseModel):
    """A campaign without its entries (``GET /v1/campaigns/{gcn}`` has them)."""

    campaign: str
    farm: str
    gtin: str
    lot: str
    status: str
    terms: TermsIn
    terms_sha256: str
    totals: TotalsPublic
    harvested: int | None
    shortfall: ShortfallPublic | None
    farm_key: str | None
    farm_signer: str
    head: str
    cseq: int
    digital_link: str
    lot_digital_link: str
    links: dict[str, str]


class CampaignPublic(CampaignSummary):
    """A campaign: its signed terms and their hash, status, running totals, harvest and
    shortfall decision, the farm key that signs its entries, and every entry."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": GCN_EXAMPLE,
                    "farm": "greenacre",
                    "gtin": "09506000134352",
                    "lot": "LOT-1",
                    "status": "funded",
                    "terms": TERMS_EXAMPLE,
                    "terms_sha256": STATE_EXAMPLE,
                    "totals": {"issued": 30, "redeemed": 0, "voided": 0, "outstanding": 30},
                    "harvested": None,
                    "shortfall": None,
                    "farm_key": HOLDER_EXAMPLE,
                    "farm_signer": "farm.2f1c9a0b7d3e4f56",
                    "head": STATE_EXAMPLE,
                    "cseq": 3,
                    "digital_link": f"https://id.example/255/{GCN_EXAMPLE}",
                    "lot_digital_link": "https://id.example/01/09506000134352/10/LOT-1",
                    "links": {"bundle": f"/v1/campaigns/{GCN_EXAMPLE}/bundle"},
                    "entries": [
                        {
                            "cseq": 1,
                            "op": "open",
                            "state": STATE_EXAMPLE,
                            "time_ms": 1_900_000_000_000,
                            "signer": "farm.2f1c9a0b7d3e4f56",
                            "seq": 1,
                            "anchored": True,
                            "origin": "farmtrace.example/chain",
                            "global_index": 42,
                        }
                    ],
                }
            ]
        }
    )

    entries: list[CampaignEntryPublic]


class PledgePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pledge": "8c1f4e0a9b2d3c4e5f60718293a4b5c6",
                    "campaign": GCN_EXAMPLE,
                    "holder": HOLDER_EXAMPLE,
                    "count": 2,
                    "amount": 9000,
                    "currency": "CNY",
                    "status": "awaiting-payment",
                }
            ]
        }
    )

    pledge: str
    campaign: str
    holder: str
    count: int
    amount: int
    currency: str
    status: str


class IssuedPublic(BaseModel):
    """The coupons a confirmed pledge issued, and the campaign entry that issued them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": GCN_EXAMPLE,
                    "pledge": "8c1f4e0a9b2d3c4e5f60718293a4b5c6",
                    "coupons": ["09506000134391", "09506000134392"],
                    "cseq": 2,
                    "state": STATE_EXAMPLE,
                }
            ]
        }
    )

    campaign: str
    pledge: str
    coupons: list[str]
    cseq: int
    state: str


class CampaignChangesPublic(BaseModel):
    """The campaign entries an action appended, and the campaign's status and head after it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": GCN_EXAMPLE,
                    "status": "funded",
                    "cseq": 4,
                    "head": STATE_EXAMPLE,
                    "entries": [
                        {
                            "cseq": 4,
                            "op": "funded",
                            "state": STATE_EXAMPLE,
                            "time_ms": 1_900_100_000_000,
                            "signer": "farm.2f1c9a0b7d3e4f56",
                            "seq": 4,
                            "anchored": False,
                            "origin": None,
                            "global_index": None,
                        }
                    ],
                }
            ]
        }
    )

    campaign: str
    status: str
    cseq: int
    head: str
    entries: list[CampaignEntryPublic]


class RefundPublic(BaseModel):
    """A refund owed to a backer: ``amount`` in all, ``refunded`` of it recorded as paid."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pledge": "8c1f4e0a9b2d3c4e5f60718293a4b5c6",
                    "holder": HOLDER_EXAMPLE,
                    "amount": 9000,
                    "currency": "CNY",
                    "refunded": 0,
                    "contact": "alice@example.org",
                    "delivery": None,
                }
            ]
        }
    )

    pledge: str
    holder: str
    amount: int
    currency: str
    refunded: int
    contact: str | None
    delivery: str | None


class Entitlement(BaseModel):
    """What the coupon is worth: ``quantity`` of ``unit``; under a pro-rata shortfall decision,
    ``pro_rata`` is the share it gets instead (``quantity`` ÷ ``coupons`` of the unit)."""

    quantity: int
    unit: str
    pro_rata: Share | None


class PricePublic(BaseModel):
    amount: int
    currency: str


class CouponHistoryItem(BaseModel):
    """One entry that changed the coupon's state: its issue (a campaign entry), each transfer
    (the holder's statement), then its redemption or void (campaign entries)."""

    kind: Literal["issue", "transfer", "redeem", "void"]
    state: str
    entry: str = Field(description="the entry's bytes, base64")
    cseq: int | None = Field(description="the campaign entry's cseq (issue, redeem, void)")
    move: int = Field(description="the coupon's move number after this entry")
    holder: str | None = Field(description="the holder after this entry (issue, transfer)")
    price: PricePublic | None = Field(description="the price a transfer declared")
    time_ms: int
    anchored: bool
    origin: str | None
    global_index: int | None


class CouponSummary(BaseModel):
    """A coupon: its ID (AI 255: ``gcn`` and ``serial``), holder, status and current state."""

    coupon: str
    campaign: str
    gcn: str
    serial: int
    holder: str
    fingerprint: str
    status: str
    state: str
    moves: int
    digital_link: str


class CouponPublic(CouponSummary):
    """A coupon: who holds it (address and fingerprint), its status and current state, what
    it is worth, and the history of entries that made that state."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "coupon": COUPON_EXAMPLE,
                    "campaign": GCN_EXAMPLE,
                    "gcn": GCN_EXAMPLE,
                    "serial": 1,
                    "holder": HOLDER_EXAMPLE,
                    "fingerprint": "9a3c5e7f1b2d4c6e",
                    "status": "active",
                    "state": STATE_EXAMPLE,
                    "moves": 1,
                    "digital_link": f"https://id.example/255/{COUPON_EXAMPLE}",
                    "entitlement": {"quantity": 5, "unit": "KGM", "pro_rata": None},
                    "history": [
                        {
                            "kind": "issue",
                            "state": STATE_EXAMPLE,
                            "entry": "RkMBAAAA...",
                            "cseq": 2,
                            "move": 0,
                            "holder": HOLDER_EXAMPLE,
                            "price": None,
                            "time_ms": 1_900_000_000_000,
                            "anchored": True,
                            "origin": "farmtrace.example/chain",
                            "global_index": 43,
                        }
                    ],
                    "links": {
                        "bundle": f"/v1/coupons/{COUPON_EXAMPLE}/bundle",
                        "campaign": f"/v1/campaigns/{GCN_EXAMPLE}",
                    },
                }
            ]
        }
    )

    entitlement: Entitlement
    history: list[CouponHistoryItem]
    links: dict[str, str]


class TransferPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "coupon": COUPON_EXAMPLE,
                    "state": STATE_EXAMPLE,
                    "moves": 1,
                    "holder": HOLDER_EXAMPLE,
                }
            ]
        }
    )

    coupon: str
    state: str
    moves: int
    holder: str


class RedemptionPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"coupon": COUPON_EXAMPLE, "state": STATE_EXAMPLE, "cseq": 9}]
        }
    )

    coupon: str
    state: str
    cseq: int
