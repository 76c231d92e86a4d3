"""The computations of a value community, exactly (``docs/community.md``, sections 1 and 3).

Every mint is an exact rational (``fractions.Fraction`` over integers, never a float) rounded
down once, at the end, to whole tokens: the fraction of a token below it is not minted and owed
to nobody, as the rules state. A distribution shares an integer total pro rata to balances by the
largest-remainder rule, ties to the lowest address, so its parts are integers that sum to the
total exactly. Each function checks its inputs' ranges and raises :class:`CommerceError` naming
the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from farmtrace.commerce.community.rules import MAX_MONEY, CommunityRules, MintRule
from farmtrace.commerce.errors import CommerceError

__all__ = [
    "MAX_MINUTES",
    "deposit_mint",
    "pledge_mint",
    "pro_rata",
    "reinvest_tokens",
    "service_mint",
    "work_mint",
]

MAX_MINUTES = 100_000
"""The most work minutes one work input may record."""


def _money(value: int, what: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommerceError(f"{what}: expected an integer of minor units")
    if value < 0:
        raise CommerceError(f"{what}: {value} is negative")
    if value < low:
        raise CommerceError(f"{what}: {value} is below {low}")
    if value > MAX_MONEY:
        raise CommerceError(f"{what}: {value} is above {MAX_MONEY}")
    return value


def _rule(rules: CommunityRules, kind: str) -> MintRule:
    rule = rules.mint.get(kind)
    if rule is None:
        raise CommerceError(f"no {kind} rule in force (version {rules.version})")
    return rule


def _floor(value: Fraction) -> int:
    return math.floor(value)


def deposit_mint(rules: CommunityRules, amount: int) -> int:
    """Tokens minted for a deposit of ``amount`` minor units: floor(amount * share / price)."""
    rule = _rule(rules, "deposit")
    _money(amount, "deposit amount")
    assert rule.share is not None
    return _floor(rules.price.tokens_for(amount * rule.share))


def service_mint(rules: CommunityRules, revenue: int, cost: int | None = None) -> int:
    """Tokens minted to the professional for a service: floor((revenue - cost) * share / price); with
    no recorded cost, cost = revenue * the margin assumption (exactly)."""
    rule = _rule(rules, "service")
    _money(revenue, "service revenue")
    if cost is None:
        exact_cost = revenue * rules.margin
    else:
        _money(cost, "service cost", 0)
        if cost > revenue:
            raise CommerceError(f"service cost {cost} is more than its revenue {revenue}")
        exact_cost = Fraction(cost)
    assert rule.share is not None
    return _floor(rules.price.tokens_for((revenue - exact_cost) * rule.share))


def work_mint(rules: CommunityRules, minutes: int) -> int:
    """Tokens minted for ``minutes`` of work: per hour in tokens, or in money at the price."""
    rule = _rule(rules, "work")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise CommerceError("work minutes: expected an integer")
    if minutes < 0:
        raise CommerceError(f"work minutes: {minutes} is negative")
    if not 1 <= minutes <= MAX_MINUTES:
        raise CommerceError(f"work minutes: {minutes} is outside 1..{MAX_MINUTES}")
    if rule.tokens_per_hour is not None:
        return _floor(Fraction(minutes * rule.tokens_per_hour, 60))
    assert rule.money_per_hour is not None
    return _floor(rules.price.tokens_for(Fraction(minutes * rule.money_per_hour, 60)))


def pledge_mint(rules: CommunityRules, amount: int) -> int:
    """Tokens minted to a backer for a confirmed pledge of ``amount`` minor units."""
    rule = _rule(rules, "pledge")
    _money(amount, "pledge amount")
    assert rule.share is not None
    return _floor(rules.price.tokens_for(amount * rule.share))


def reinvest_tokens(rules: CommunityRules, surplus: int) -> int:
    """The tokens a reinvested surplus buys at the reference price: floor(surplus / price)."""
    _money(surplus, "surplus")
    return _floor(rules.price.tokens_for(Fraction(surplus)))


def pro_rata(total: int, balances: Mapping[str, int]) -> dict[str, int]:
    """Share ``total`` among the members with a positive balance, pro rata to their balances.

    Each gets floor(total * b / B); the units left over go one each to the largest remainders
    ``(total * b) mod B``, ties to the lowest address. The parts sum to ``total`` exactly; the
    result lists every member with a positive balance, in ascending address order."""
    if total < 0:
        raise CommerceError(f"distribution total {total} is negative")
    holders = sorted(a for a, b in balances.items() if b > 0)
    whole = sum(balances[a] for a in holders)
    if whole <= 0:
        raise CommerceError("no member holds tokens, so there is nobody to share with")
    parts = {a: total * balances[a] // whole for a in holders}
    left = total - sum(parts.values())
    # Largest remainder first, then the lowest address; sorted() is stable on the address order.
    order = sorted(holders, key=lambda a: -(total * balances[a] % whole))
    for address in order[:left]:
        parts[address] += 1
    return parts
