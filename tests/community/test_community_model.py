"""The community service against a plain model of the barbershop's rules: random deposits,
services, transfers (overspends included) and dividends through the service and its database;
after every step the stored balances, supply and member count are the model's, and every
dividend's parts are the model's largest-remainder shares."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.community_api import ADDR, KEYS, NOW_MS, barbershop

from farmtrace.api.services.communities import CommunityService
from farmtrace.commerce.community.entries import sign_transfer
from farmtrace.commerce.errors import CommerceError
from farmtrace.store.communities import Communities
from farmtrace.store.community_keys import CommunityKeys
from farmtrace.store.database import Database, open_database

pytestmark = pytest.mark.slow

NAMES = ("investor", "team", "customer", "barber")


def model_mint_deposit(amount: int) -> int:
    """Half the deposit at 0.02 CNY a token: amount (fen) / 2 / 2 fen per token."""
    return amount // 4


def model_mint_service(revenue: int, cost: int) -> int:
    """10 % of the profit at 2 fen a token."""
    return (revenue - cost) // 20


def model_shares(total: int, balances: dict[str, int]) -> dict[str, int]:
    """Largest remainder, ties to the lowest address: written out plainly."""
    holders = sorted(a for a, b in balances.items() if b > 0)
    whole = sum(balances[a] for a in holders)
    shares = {a: (total * balances[a]) // whole for a in holders}
    remainders = sorted(holders, key=lambda a: (-((total * balances[a]) % whole), a))
    for a in remainders[: total - sum(shares.values())]:
        shares[a] += 1
    return shares


step = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(NAMES), st.integers(1, 10**7)),
    st.tuples(
        st.just("service"), st.sampled_from(NAMES), st.integers(1, 10**6), st.integers(0, 100)
    ),
    st.tuples(
        st.just("transfer"),
        st.sampled_from(NAMES),
        st.sampled_from(NAMES),
        st.integers(1, 6_000_000),
    ),
    st.tuples(st.just("dividend"), st.integers(1, 10**9)),
)


class Clock:
    def __init__(self) -> None:
        self.ms = NOW_MS

    def __call__(self) -> float:
        self.ms += 1000
        return self.ms / 1000


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_the_service_follows_the_plain_model(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = open_database(f"sqlite:///{Path(folder) / 'c.db'}")
        try:
            _run(database, steps)
        finally:
            database.close()


def _run(database: Database, steps: list[tuple[Any, ...]]) -> None:
    keys = CommunityKeys(database, None)
    keys.provide("barbershop", KEYS["operator"])
    svc = CommunityService(Communities(database), keys, None, Clock())
    svc.create(barbershop())
    balances = {ADDR["investor"]: 5_000_000, ADDR["team"]: 5_000_000}
    moves: dict[str, int] = {}
    spend: dict[str, str] = {}
    until = 0
    for item in steps:
        kind = item[0]
        if kind == "deposit":
            _, who, amount = item
            got = svc.deposit("barbershop", ADDR[str(who)], amount, "r")
            assert got.minted == model_mint_deposit(int(amount))
            balances[ADDR[str(who)]] = balances.get(ADDR[str(who)], 0) + got.minted
        elif kind == "service":
            _, who, revenue, percent = item
            cost = revenue * percent // 100
            got = svc.service("barbershop", ADDR[str(who)], revenue, cost, "r")
            assert got.minted == model_mint_service(int(revenue), cost)
            balances[ADDR[str(who)]] = balances.get(ADDR[str(who)], 0) + got.minted
        elif kind == "transfer":
            _, sender, to, amount = item
            a, b = ADDR[str(sender)], ADDR[str(to)]
            if a == b:
                continue
            signed = sign_transfer(
                moves.get(a, 0) + 1,
                NOW_MS,
                "barbershop",
                b,
                int(amount),
                spend.get(a, "0" * 64),
                KEYS[str(sender)],
            )
            encoded = base64.b64encode(signed.payload).decode()
            if int(amount) > balances.get(a, 0):
                with pytest.raises(CommerceError) as refused:
                    svc.transfer("barbershop", encoded)
                assert refused.value.kind == "conflict"
                continue
            svc.transfer("barbershop", encoded)
            balances[a] -= int(amount)
            balances[b] = balances.get(b, 0) + int(amount)
            moves[a] = moves.get(a, 0) + 1
            spend[a] = signed.hash
        else:
            _, surplus = item
            got = svc.distribute("barbershop", until, until + 1, surplus)
            until += 1
            assert dict(got.body["parts"]) == model_shares(int(surplus), balances)
        head = svc.head("barbershop")
        stored = {m.address: m.balance for m in svc.communities.members(head.id)}
        assert stored == balances
        assert head.supply == sum(balances.values())
        assert head.members == sum(1 for b in balances.values() if b > 0)
