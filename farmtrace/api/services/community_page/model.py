"""The view model of a community's page, filled from the one rules engine.

:func:`community_page_view` replays the community's stored entries with
:class:`~farmtrace.commerce.community.replay.CommunityReplay` (through
:meth:`~farmtrace.api.services.communities.CommunityService.replay`, as the API's reads do) and
keeps what the page shows: the supply after each entry, where the supply came from (initial
allocation, each mint kind, reinvested surplus), every distribution, every rules version with
the entry it applies from, how many member keys hold tokens (never a name: the chain has none),
and what the member view needs to fetch and verify a statement (the verifier keys). The worked
examples beside each mint rule are computed by the rules engine's own mint functions from the
rules in force, not written in the page. The renderer only formats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from farmtrace.api.errors import NotFound
from farmtrace.api.services.community_page.chart import SupplyPoint
from farmtrace.api.state import AppState
from farmtrace.chain.entry import COMMUNITY
from farmtrace.commerce.community.mint import deposit_mint, pledge_mint, service_mint, work_mint
from farmtrace.commerce.community.replay import CommunityReplay
from farmtrace.commerce.community.rules import CommunityRules, validate_community_id
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.units import CURRENCIES

__all__ = [
    "CommunityPageView",
    "DistributionView",
    "MintRuleView",
    "RulesView",
    "community_page_view",
]

MADE_OPS = ("rules", "deposit", "service", "work", "pledge", "distribution")
"""The ops that add tokens, in the order the page lists where the supply came from."""


@dataclass(frozen=True, slots=True)
class MintRuleView:
    """One mint rule with its numbers and a worked example from the rules engine:
    ``example`` (money in minor units, or minutes for work) mints ``minted`` tokens."""

    kind: str
    share: tuple[int, int] | None  # (num, den) for deposit, service, pledge
    tokens_per_hour: int | None
    money_per_hour: int | None  # minor units
    example: int
    example_cost: int | None  # a service's cost by the margin assumption
    minted: int


@dataclass(frozen=True, slots=True)
class RulesView:
    """One rules version and where it applies from (entry ``since_n`` at ``since_ms``)."""

    version: int
    since_n: int
    since_ms: int
    token_name: str
    symbol: str
    currency: str
    digits: int
    price_amount: int
    price_tokens: int
    margin_cost: int
    margin_revenue: int
    initial_supply: int | None
    initial_keys: int
    mint: tuple[MintRuleView, ...]
    surplus: str
    text_en: str
    text_zh: str
    sha256: str
    operator_fingerprint: str


@dataclass(frozen=True, slots=True)
class DistributionView:
    """A distribution as replayed: money surplus, what the parts sum to (the surplus, or the
    tokens it bought) and how many holders shared it."""

    n: int
    time_ms: int
    kind: str
    version: int
    from_ms: int
    until_ms: int
    surplus: int
    total: int
    holders: int


@dataclass(frozen=True, slots=True)
class CommunityPageView:
    """Everything a community's page shows; plain values, no names of members."""

    community: str
    supply: int
    holders: int
    entries: int
    anchored: int
    head: str
    rules: tuple[RulesView, ...]  # every version, oldest first; the last is in force
    supply_points: tuple[SupplyPoint, ...]
    made: tuple[tuple[str, int, int], ...]  # (op, tokens, entries) that added to the supply
    distributions: tuple[DistributionView, ...]
    balance_total: int
    verifier_key: str
    retired_keys: tuple[str, ...]
    generated_ms: int

    @property
    def in_force(self) -> RulesView:
        return self.rules[-1]


def _mint_views(rules: CommunityRules, digits: int) -> tuple[MintRuleView, ...]:
    """Each mint rule in force with an example the engine computes: 1,000 (deposit), 100
    (service, its cost by the margin), one hour (work), 100 (pledge) in major units."""
    unit = 10**digits
    out = []
    for kind in ("deposit", "service", "work", "pledge"):
        rule = rules.mint.get(kind)
        if rule is None:
            continue
        share = None if rule.share is None else (rule.share.numerator, rule.share.denominator)
        raw = rules.document["mint"][kind].get("share")
        if raw is not None:  # as written in the document (2/4 stays 2/4)
            share = (raw["num"], raw["den"])
        cost = None
        if kind == "deposit":
            example, minted = 1000 * unit, deposit_mint(rules, 1000 * unit)
        elif kind == "service":
            example = 100 * unit
            cost = example * rules.margin_cost // rules.margin_revenue
            minted = service_mint(rules, example)
        elif kind == "work":
            example, minted = 60, work_mint(rules, 60)
        else:
            example, minted = 100 * unit, pledge_mint(rules, 100 * unit)
        out.append(
            MintRuleView(
                kind, share, rule.tokens_per_hour, rule.money_per_hour, example, cost, minted
            )
        )
    return tuple(out)


def _rules_view(n: int, time_ms: int, rules: CommunityRules) -> RulesView:
    digits = CURRENCIES.get(rules.currency, 2)
    return RulesView(
        version=rules.version,
        since_n=n,
        since_ms=time_ms,
        token_name=rules.token_name,
        symbol=rules.token_symbol,
        currency=rules.currency,
        digits=digits,
        price_amount=rules.price.amount,
        price_tokens=rules.price.tokens,
        margin_cost=rules.margin_cost,
        margin_revenue=rules.margin_revenue,
        initial_supply=rules.initial_supply,
        initial_keys=len(rules.allocation),
        mint=_mint_views(rules, digits),
        surplus=rules.surplus,
        text_en=rules.text_en,
        text_zh=rules.text_zh,
        sha256=rules.sha256,
        operator_fingerprint=fingerprint(bytes.fromhex(rules.operator)),
    )


def view_of_replay(
    community: str,
    replay: CommunityReplay,
    *,
    anchored: int,
    verifier_keys: list[str],
    generated_ms: int,
) -> CommunityPageView:
    """The page's view of a replayed community (``replay`` has applied entry 1 at least)."""
    times = {n: t for n, t, _ in replay.supply_history}
    distributed = {d.n for d in replay.distributions}
    made: dict[str, list[int]] = {op: [0, 0] for op in MADE_OPS}
    counted: set[tuple[str, int]] = set()
    for member in replay.members.values():
        for line in member.history:
            if line.op in made and line.delta > 0:
                made[line.op][0] += line.delta
                if (line.op, line.n) not in counted:
                    counted.add((line.op, line.n))
                    made[line.op][1] += 1
    return CommunityPageView(
        community=community,
        supply=replay.supply,
        holders=replay.holders,
        entries=replay.n,
        anchored=anchored,
        head=replay.head,
        rules=tuple(_rules_view(n, times[n], rules) for n, rules in replay.versions),
        supply_points=tuple(
            SupplyPoint(t, s, n in distributed) for n, t, s in replay.supply_history
        ),
        made=tuple((op, made[op][0], made[op][1]) for op in MADE_OPS if made[op][1]),
        distributions=tuple(
            DistributionView(
                d.n,
                d.time_ms,
                d.kind,
                d.version,
                d.from_ms,
                d.until_ms,
                d.surplus,
                d.total,
                len(d.parts),
            )
            for d in replay.distributions
        ),
        balance_total=sum(replay.balances().values()),
        verifier_key=verifier_keys[-1] if verifier_keys else "",
        retired_keys=tuple(verifier_keys[:-1]),
        generated_ms=generated_ms,
    )


def community_page_view(state: AppState, community: str) -> CommunityPageView:
    """The page's view of ``community`` as stored now.
    :class:`~farmtrace.commerce.errors.CommerceError` for a malformed ID (``invalid``) or an
    unknown community (``not-found``)."""
    validate_community_id(community)
    svc = state.communities
    head, replay = svc.replay(community)
    stored = svc.communities.entries(head.id, kind=COMMUNITY)
    anchors = [e.anchor for e in stored if e.anchor is not None]
    keys: list[str] = []
    try:
        origin = anchors[0].origin if anchors else state.default_origin()
        keys = state.verifier_keys(origin)
    except NotFound:
        keys = []  # no chain yet: every entry is pending, and the member view says so
    return view_of_replay(
        head.community,
        replay,
        anchored=len(anchors),
        verifier_keys=keys,
        generated_ms=int(time.time() * 1000),
    )
