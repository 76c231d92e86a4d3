"""A campaign's terms: what is sold, for how much, how many, and when.

The terms are one canonical JSON object (:mod:`farmtrace.commerce.canonical`) carried whole in
the campaign's ``open`` entry together with its SHA-256, so a backer can check that the terms
shown to them are exactly the ones the farm signed. Nothing personal: a farm identifier, GS1 keys,
integers and the two texts of the terms.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from farmtrace.commerce.canonical import MAX_INT, canonical_json
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import check_digit, validate_gcn
from farmtrace.commerce.units import validate_currency, validate_unit

__all__ = ["MAX_CAP", "CampaignTerms", "parse_terms"]

MAX_CAP = 1_000_000
"""The most coupons one campaign may issue."""
MAX_TEXT = 4000
"""The longest text of the terms, per language, in characters."""
MAX_QUANTITY = 10**9
MAX_PRICE = 10**12
_FARM = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_GTIN = re.compile(r"[0-9]{14}")
_LOT = re.compile(r"[!-~]{1,20}")


@dataclass(frozen=True, slots=True)
class CampaignTerms:
    """A campaign's terms, validated. Times are ms since the epoch (UTC)."""

    campaign: str  # the GCN of the coupon class
    farm: str
    gtin: str
    lot: str
    quantity: int  # what one coupon is worth, in ``unit``
    unit: str
    price: int  # per coupon, in minor units of ``currency``
    currency: str
    target: int  # coupons that must be issued by the deadline
    cap: int  # coupons that may ever be issued
    opens_ms: int
    deadline_ms: int
    delivery_from_ms: int
    delivery_until_ms: int
    text_zh: str
    text_en: str

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "farm": self.farm,
            "gtin": self.gtin,
            "lot": self.lot,
            "per_coupon": {"quantity": self.quantity, "unit": self.unit},
            "price": {"amount": self.price, "currency": self.currency},
            "target": self.target,
            "cap": self.cap,
            "opens_ms": self.opens_ms,
            "deadline_ms": self.deadline_ms,
            "delivery": {"from_ms": self.delivery_from_ms, "until_ms": self.delivery_until_ms},
            "text": {"zh": self.text_zh, "en": self.text_en},
        }

    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    def sha256(self) -> str:
        """Hex SHA-256 of the canonical terms: what the ``open`` entry signs as ``terms_sha256``."""
        return hashlib.sha256(self.canonical()).hexdigest()


def _int(obj: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommerceError(f"{where}{key}: expected an integer")
    if not low <= value <= high:
        raise CommerceError(f"{where}{key}: {value} is outside {low}..{high}")
    return value


def _obj(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise CommerceError(f"{key}: expected an object")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CommerceError(f"{where}{key}: expected non-empty text")
    if len(value) > MAX_TEXT:
        raise CommerceError(f"{where}{key}: {len(value)} characters, more than {MAX_TEXT}")
    return value


_KEYS = {
    "campaign", "farm", "gtin", "lot", "per_coupon", "price", "target", "cap", "opens_ms",
    "deadline_ms", "delivery", "text",
}  # fmt: skip


def parse_terms(obj: object) -> CampaignTerms:
    """Validate a terms object (the shape of :meth:`CampaignTerms.to_json`); raise
    :class:`CommerceError` naming the first field that is wrong."""
    if not isinstance(obj, dict):
        raise CommerceError("terms: expected an object")
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise CommerceError(f"terms: unknown field {unknown[0]!r}")
    gcn = validate_gcn(obj.get("campaign"))
    farm = obj.get("farm")
    if not isinstance(farm, str) or not _FARM.fullmatch(farm):
        raise CommerceError("farm: expected 1-64 characters of A-Z a-z 0-9 . _ : -")
    gtin = obj.get("gtin")
    if not isinstance(gtin, str) or not _GTIN.fullmatch(gtin):
        raise CommerceError("gtin: expected 14 digits")
    if check_digit(gtin[:13]) != gtin[13]:
        raise CommerceError(f"gtin: check digit of {gtin} should be {check_digit(gtin[:13])}")
    lot = obj.get("lot")
    if not isinstance(lot, str) or not _LOT.fullmatch(lot):
        raise CommerceError("lot: expected 1-20 printable ASCII characters")
    per = _obj(obj, "per_coupon")
    price = _obj(obj, "price")
    delivery = _obj(obj, "delivery")
    text = _obj(obj, "text")
    for name, part, keys in (
        ("per_coupon", per, {"quantity", "unit"}),
        ("price", price, {"amount", "currency"}),
        ("delivery", delivery, {"from_ms", "until_ms"}),
        ("text", text, {"zh", "en"}),
    ):
        extra = sorted(set(part) - keys)
        if extra:
            raise CommerceError(f"{name}: unknown field {extra[0]!r}")
    terms = CampaignTerms(
        campaign=gcn,
        farm=farm,
        gtin=gtin,
        lot=lot,
        quantity=_int(per, "quantity", 1, MAX_QUANTITY, "per_coupon."),
        unit=validate_unit(per.get("unit"), "per_coupon.unit"),
        price=_int(price, "amount", 0, MAX_PRICE, "price."),
        currency=validate_currency(price.get("currency"), "price.currency"),
        target=_int(obj, "target", 1, MAX_CAP, ""),
        cap=_int(obj, "cap", 1, MAX_CAP, ""),
        opens_ms=_int(obj, "opens_ms", 0, MAX_INT, ""),
        deadline_ms=_int(obj, "deadline_ms", 0, MAX_INT, ""),
        delivery_from_ms=_int(delivery, "from_ms", 0, MAX_INT, "delivery."),
        delivery_until_ms=_int(delivery, "until_ms", 0, MAX_INT, "delivery."),
        text_zh=_text(text, "zh", "text."),
        text_en=_text(text, "en", "text."),
    )
    if terms.target > terms.cap:
        raise CommerceError(f"target: {terms.target} coupons is more than the cap {terms.cap}")
    if terms.price * terms.cap > MAX_INT:
        raise CommerceError("price: price times cap overflows the largest exact amount (2**53-1)")
    if not terms.opens_ms < terms.deadline_ms:
        raise CommerceError("deadline_ms: must be after opens_ms")
    if not terms.deadline_ms <= terms.delivery_from_ms <= terms.delivery_until_ms:
        raise CommerceError(
            "delivery: must run from_ms <= until_ms, starting at or after the deadline"
        )
    return terms
