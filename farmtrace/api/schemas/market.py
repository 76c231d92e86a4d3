"""The coupon market as the API receives and returns it (``docs/commerce.md``, "Market").

Request bodies are strict (no unknown fields, no numbers as text, every value bounded). Each
carries the fields of a market statement (:mod:`farmtrace.commerce.listing`) and the Ed25519
signature (base64) over the statement's bytes, which the server rebuilds from those fields; what
the values mean (an address on the curve, an ISO 4217 code, a coupon ID) is judged by the market
service, whose message names the field (422). Money is an integer of minor units; times are
milliseconds since the epoch (UTC). Nothing personal: a buyer is a wallet address.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from farmtrace.api.schemas.campaigns import Money, PricePublic
from farmtrace.commerce.canonical import MAX_INT

__all__ = [
    "CampaignListings",
    "ListingCreate",
    "ListingPublic",
    "OfferCreate",
    "OfferPublic",
    "PricePointPublic",
    "WalletMarket",
    "WithdrawCreate",
]

_SELLER = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
_BUYER = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
_STATE = "581f3a580162c93df4afea40d5285c112ee0e9242c83ae3f72ec582cf39fa999"
_LISTING = "3f0c842ad552e85597ad4393ee218889"
_TIME = 1796615842527
# Signed with the Ed25519 keys whose seeds are 32 bytes of 0x01 (seller) and 0x02 (buyer).
_LIST_SIGNATURE = (
    "iKf6VTWohsk98hhGgAPAqVJPhgbnSREdMK4tUidhCfk37Hp/3ipBxk/KNIFpy5EhfSpyfLb01lOuJXVsPYs3AQ=="
)
_WITHDRAW_SIGNATURE = (
    "tfLtz24UWmhXVhGVOvX0euTKOPy/t0ArnX1/zXbeNHNtNnPNds0tsEhm/EaoZFnK2Ftn6llCYpGVW8eskvB+Dw=="
)
_OFFER_SIGNATURE = (
    "DbVHHLYDAx0e+q4iUo9MeGoVN1vpZ4T/MOaAVZ+CMVAuewB+ScV6R+uaVu2j6HMniKgSrDKn3eBTb/oeQLrgDw=="
)
_SIGNATURE = Field(
    min_length=1, max_length=128, description="Ed25519 signature over the statement, base64"
)

Ended = Literal["sold", "moved", "withdrawn", "redeemed", "void"]


class ListingCreate(BaseModel):
    """List the coupon in its current state at a price, signed by its holder over
    ``farmtrace/market/v1\\n`` and the canonical JSON ``{"coupon","op":"list","price",
    "seller","state","time_ms"}``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "state": _STATE,
                    "seller": _SELLER,
                    "price": {"amount": 4800, "currency": "CNY"},
                    "time_ms": _TIME,
                    "signature": _LIST_SIGNATURE,
                }
            ]
        },
    )

    state: str = Field(min_length=1, max_length=64, description="the coupon's head state")
    seller: str = Field(min_length=1, max_length=64, description="the holder's address")
    price: Money
    time_ms: int = Field(ge=1, le=MAX_INT)
    signature: str = _SIGNATURE


class WithdrawCreate(BaseModel):
    """Withdraw a listing, signed by its seller over ``{"listing","op":"withdraw","time_ms"}``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"time_ms": _TIME + 60000, "signature": _WITHDRAW_SIGNATURE}]
        },
    )

    time_ms: int = Field(ge=1, le=MAX_INT)
    signature: str = _SIGNATURE


class OfferCreate(BaseModel):
    """Ask to buy a listing with a wallet address, signed by that address's key over
    ``{"buyer","listing","op":"offer","time_ms"}``. Nothing else about the buyer is taken."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"buyer": _BUYER, "time_ms": _TIME + 30000, "signature": _OFFER_SIGNATURE}]
        },
    )

    buyer: str = Field(min_length=1, max_length=64, description="the buyer's wallet address")
    time_ms: int = Field(ge=1, le=MAX_INT)
    signature: str = _SIGNATURE


class OfferPublic(BaseModel):
    buyer: str = Field(description="the buyer's address: the seller transfers to it")
    buyer_fingerprint: str
    time_ms: int
    signature: str


class ListingPublic(BaseModel):
    """A listing: open while ``ended`` is null (its state is still the coupon's head)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _LISTING,
                    "coupon": "06141410000127",
                    "campaign": "0614141000012",
                    "state": _STATE,
                    "seller": _SELLER,
                    "seller_fingerprint": "3b0ac5fb2f3d0f44",
                    "price": {"amount": 4800, "currency": "CNY"},
                    "time_ms": _TIME,
                    "signature": _LIST_SIGNATURE,
                    "statement": "farmtrace/market/v1\\n{...}",
                    "ended": None,
                    "ended_state": None,
                    "ended_time_ms": None,
                    "offers": [],
                }
            ]
        }
    )

    id: str = Field(description="first 32 hex digits of SHA-256 of the signed statement")
    coupon: str
    campaign: str
    state: str
    seller: str
    seller_fingerprint: str
    price: PricePublic
    time_ms: int
    signature: str
    statement: str = Field(description="the signed listing statement, as text (UTF-8)")
    ended: Ended | None
    ended_state: str | None = Field(description="the state the move that ended it made")
    ended_time_ms: int | None
    offers: list[OfferPublic] = Field(
        description="requests to buy (listed in full only on GET /v1/listings/{id} and the "
        "seller's wallet view; empty in campaign lists)"
    )


class PricePointPublic(BaseModel):
    coupon: str
    time_ms: int
    price: PricePublic


class CampaignListings(BaseModel):
    """A campaign's market: open listings (cheapest first), ended ones (newest first) and the
    declared prices of its coupons' transfers (oldest first)."""

    campaign: str
    currency: str
    open: list[ListingPublic]
    ended: list[ListingPublic]
    prices: list[PricePointPublic]


class WalletMarket(BaseModel):
    """One address's side of the market: its listings (with offers) and those it offered on."""

    address: str
    selling: list[ListingPublic]
    offered: list[ListingPublic]
