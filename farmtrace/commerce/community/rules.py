"""A value community's rules document (``farmtrace-community-rules/v1``, ``docs/community.md``).

The rules are one canonical JSON object, carried whole in the community's ``rules`` entries
together with their SHA-256, so any member can read the rules in force and recompute every mint
from them. Version 1 declares the token's initial supply and its allocation to member keys; later
versions change the mint and surplus rules from their place in the community's chain on.
Everything is integers: the reference price is the exact rational ``amount / tokens`` (minor
units per token), shares are ``num / den``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from farmtrace.commerce.canonical import MAX_INT, canonical_json, check_value
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.points import address_problem
from farmtrace.commerce.units import validate_currency

__all__ = [
    "FORMAT",
    "MAX_MEMBERS",
    "MAX_MONEY",
    "MAX_PRICE_PART",
    "MINT_KINDS",
    "SURPLUS_KINDS",
    "CommunityRules",
    "MintRule",
    "Price",
    "load_rules_file",
    "parse_rules",
    "validate_address",
    "validate_community_id",
]

FORMAT = "farmtrace-community-rules/v1"
MINT_KINDS = ("deposit", "service", "work", "pledge")
SURPLUS_KINDS = ("dividend", "reinvest")
MAX_MONEY = 10**12
"""The largest money amount (minor units) of one input, surplus or hourly rate."""
MAX_PRICE_PART = 10**15
MAX_MEMBERS = 1000
"""The most members the initial allocation may name."""
MAX_SHARE_DEN = 10**6
MAX_TOKENS_PER_HOUR = 10**9
MAX_TEXT = 4000
_COMMUNITY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SYMBOL = re.compile(r"[A-Z0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = {
    "format", "community", "version", "operator", "token", "currency", "price", "margin",
    "initial", "mint", "surplus", "text",
}  # fmt: skip


def validate_community_id(value: object, where: str = "community") -> str:
    if not isinstance(value, str) or not _COMMUNITY.fullmatch(value):
        raise CommerceError(
            f"{where}: {value!r} is not a community ID (1-64 of A-Z a-z 0-9 . _ : -)"
        )
    return value


def validate_address(value: object, where: str) -> str:
    """A member or operator address: 64 lowercase hex digits of a usable Ed25519 public key."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise CommerceError(f"{where}: expected 64 lowercase hex digits (an Ed25519 public key)")
    problem = address_problem(bytes.fromhex(value))
    if problem is not None:
        raise CommerceError(f"{where}: not a usable Ed25519 public key: {problem}")
    return value


@dataclass(frozen=True, slots=True)
class Price:
    """The reference price: ``amount`` minor units buy ``tokens`` tokens."""

    amount: int
    tokens: int

    def tokens_for(self, money: Fraction) -> Fraction:
        """How many tokens (exactly, before rounding) ``money`` minor units are worth."""
        return money * self.tokens / self.amount

    @property
    def per_token(self) -> Fraction:
        """Minor units per token."""
        return Fraction(self.amount, self.tokens)


@dataclass(frozen=True, slots=True)
class MintRule:
    """One mint rule: ``share`` for deposit, service and pledge; for work exactly one of
    ``tokens_per_hour`` and ``money_per_hour``."""

    kind: str
    share: Fraction | None = None
    tokens_per_hour: int | None = None
    money_per_hour: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.share is not None:
            return {"share": {"num": self.share.numerator, "den": self.share.denominator}}
        if self.tokens_per_hour is not None:
            return {"tokens_per_hour": self.tokens_per_hour}
        return {"money_per_hour": self.money_per_hour}


@dataclass(frozen=True, slots=True)
class CommunityRules:
    """A validated rules document; ``document`` is the object as given (its canonical bytes and
    hash are what entries carry, so a share written ``2/4`` stays ``2/4`` there)."""

    community: str
    version: int
    operator: str  # address
    token_name: str
    token_symbol: str
    currency: str
    price: Price
    margin_cost: int
    margin_revenue: int
    initial_supply: int | None  # version 1 only
    allocation: dict[str, int]  # address -> tokens; empty after version 1
    mint: dict[str, MintRule]
    surplus: str  # dividend or reinvest
    text_zh: str
    text_en: str
    document: dict[str, Any]

    @property
    def canonical(self) -> bytes:
        return canonical_json(self.document)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    @property
    def margin(self) -> Fraction:
        """Cost as a share of revenue."""
        return Fraction(self.margin_cost, self.margin_revenue)


def _exact(value: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CommerceError(f"{where}: expected an object")
    if set(value) != keys:
        missing = sorted(keys - set(value))
        if missing:
            raise CommerceError(f"{where}: field {missing[0]!r} missing")
        extra = sorted(set(value) - keys)
        raise CommerceError(f"{where}: unknown field {extra[0]!r}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommerceError(f"{where}: expected an integer")
    if value < low:
        if value < 0 <= low:
            raise CommerceError(f"{where}: {value} is negative")
        raise CommerceError(f"{where}: {value} is below {low}")
    if value > high:
        raise CommerceError(f"{where}: {value} is above {high}")
    return value


def _text(value: Any, where: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CommerceError(f"{where}: expected non-empty text")
    if len(value) > longest:
        raise CommerceError(f"{where}: longer than {longest} characters")
    return value


def _share(value: Any, where: str) -> Fraction:
    raw = _exact(value, {"num", "den"}, where)
    den = _int(raw["den"], f"{where}.den", 1, MAX_SHARE_DEN)
    num = _int(raw["num"], f"{where}.num", 0, MAX_SHARE_DEN)
    if num > den:
        raise CommerceError(f"{where}: {num}/{den} is more than one")
    return Fraction(num, den)


def _mint_rule(kind: str, value: Any, where: str) -> MintRule:
    if kind in ("deposit", "service", "pledge"):
        raw = _exact(value, {"share"}, where)
        return MintRule(kind, share=_share(raw["share"], f"{where}.share"))
    if not isinstance(value, dict):
        raise CommerceError(f"{where}: expected an object")
    if set(value) == {"tokens_per_hour"}:
        rate = _int(value["tokens_per_hour"], f"{where}.tokens_per_hour", 1, MAX_TOKENS_PER_HOUR)
        return MintRule(kind, tokens_per_hour=rate)
    if set(value) == {"money_per_hour"}:
        rate = _int(value["money_per_hour"], f"{where}.money_per_hour", 1, MAX_MONEY)
        return MintRule(kind, money_per_hour=rate)
    raise CommerceError(f"{where}: must hold exactly one of tokens_per_hour or money_per_hour")


def parse_rules(value: Any) -> CommunityRules:
    """Validate a rules document (``docs/community.md``, section 1); :class:`CommerceError`
    naming the first flaw: an unknown rule kind, an allocation that does not sum to the declared
    supply, a negative amount, an unknown currency..."""
    check_value(value, "rules")
    if not isinstance(value, dict):
        raise CommerceError("rules: expected an object")
    extra = sorted(set(value) - _KEYS)
    if extra:
        raise CommerceError(f"rules: unknown field {extra[0]!r}")
    if value.get("format") != FORMAT:
        raise CommerceError(f"rules: format must be {FORMAT!r}")
    community = validate_community_id(value.get("community"), "rules: community")
    version = _int(value.get("version"), "rules: version", 1, MAX_INT)
    operator = validate_address(value.get("operator"), "rules: operator")
    token = _exact(value.get("token"), {"name", "symbol"}, "rules: token")
    name = _text(token["name"], "rules: token.name", 64)
    symbol = token["symbol"]
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise CommerceError(f"rules: token.symbol {symbol!r} is not 1-12 of A-Z 0-9")
    currency = validate_currency(value.get("currency"), "rules: currency")
    raw_price = _exact(value.get("price"), {"amount", "tokens"}, "rules: price")
    price = Price(
        _int(raw_price["amount"], "rules: price.amount", 1, MAX_PRICE_PART),
        _int(raw_price["tokens"], "rules: price.tokens", 1, MAX_PRICE_PART),
    )
    raw_margin = _exact(value.get("margin"), {"cost", "revenue"}, "rules: margin")
    revenue = _int(raw_margin["revenue"], "rules: margin.revenue", 1, MAX_SHARE_DEN)
    cost = _int(raw_margin["cost"], "rules: margin.cost", 0, MAX_SHARE_DEN)
    if cost > revenue:
        raise CommerceError(f"rules: margin cost {cost} is more than its revenue {revenue}")
    supply: int | None = None
    allocation: dict[str, int] = {}
    if version == 1:
        if "initial" not in value:
            raise CommerceError("rules: version 1 must declare the initial supply and allocation")
        initial = _exact(value["initial"], {"supply", "allocation"}, "rules: initial")
        supply = _int(initial["supply"], "rules: initial.supply", 1, MAX_INT)
        raw_allocation = initial["allocation"]
        if not isinstance(raw_allocation, dict) or not 1 <= len(raw_allocation) <= MAX_MEMBERS:
            raise CommerceError(
                f"rules: initial.allocation must name 1 to {MAX_MEMBERS} members (address -> tokens)"
            )
        for address, amount in raw_allocation.items():
            where = f"rules: initial.allocation[{address[:16]}]"
            validate_address(address, where)
            allocation[address] = _int(amount, where, 1, MAX_INT)
        total = sum(allocation.values())
        if total != supply:
            raise CommerceError(
                f"rules: initial allocation sums to {total}, not the declared supply {supply}"
            )
    elif "initial" in value:
        raise CommerceError(
            f"rules: version {version} may not declare an initial allocation (only version 1)"
        )
    raw_mint = value.get("mint")
    if not isinstance(raw_mint, dict):
        raise CommerceError("rules: mint must be an object (rule kind -> parameters)")
    mint: dict[str, MintRule] = {}
    for kind in sorted(raw_mint):
        if kind not in MINT_KINDS:
            raise CommerceError(
                f"rules: unknown mint rule kind {kind!r} (known: {', '.join(MINT_KINDS)})"
            )
        mint[kind] = _mint_rule(kind, raw_mint[kind], f"rules: mint.{kind}")
    surplus = value.get("surplus")
    if surplus not in SURPLUS_KINDS:
        raise CommerceError(
            f"rules: unknown surplus rule {surplus!r} (known: {', '.join(SURPLUS_KINDS)})"
        )
    text = _exact(value.get("text"), {"zh", "en"}, "rules: text")
    return CommunityRules(
        community=community,
        version=version,
        operator=operator,
        token_name=name,
        token_symbol=symbol,
        currency=currency,
        price=price,
        margin_cost=cost,
        margin_revenue=revenue,
        initial_supply=supply,
        allocation=allocation,
        mint=mint,
        surplus=str(surplus),
        text_zh=_text(text["zh"], "rules: text.zh", MAX_TEXT),
        text_en=_text(text["en"], "rules: text.en", MAX_TEXT),
        document=value,
    )


def load_rules_file(path: Path | str) -> CommunityRules:
    """Read and validate a rules file (JSON, any layout; its canonical form is what is signed)."""
    raw = Path(path).read_bytes()
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommerceError(f"{path}: not valid UTF-8 JSON") from None
    return parse_rules(value)
