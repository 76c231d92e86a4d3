"""The rules document and the mint computations: the worked figures from the shipped rule files,
and every malformed rules document or input refused naming its cause (docs/community.md, 1, 3)."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest
from support.community import ADDR, RULES_DIR, rules_doc

from farmtrace.commerce.canonical import canonical_json
from farmtrace.commerce.community.mint import (
    deposit_mint,
    pledge_mint,
    pro_rata,
    reinvest_tokens,
    service_mint,
    work_mint,
)
from farmtrace.commerce.community.rules import load_rules_file, parse_rules
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.units import CURRENCIES


def test_barbershop_worked_figures_come_from_the_rule_file() -> None:
    rules = load_rules_file(RULES_DIR / "barbershop.json")
    minor = 10 ** CURRENCIES[rules.currency]  # minor units per currency unit (fen per CNY)
    # The issue: 100,000 for 5,000,000 tokens is 0.02 per token, 10,000,000 tokens in all.
    assert rules.price.per_token / minor == Fraction(2, 100)
    assert rules.initial_supply == 10_000_000
    assert sorted(rules.allocation.values()) == [5_000_000, 5_000_000]
    # A customer deposits 1,000: 25,000 tokens (500 / 0.02).
    assert deposit_mint(rules, 1_000 * minor) == 25_000
    # A barber does a 100 service with cost 50: 250 tokens (5 / 0.02).
    assert service_mint(rules, 100 * minor, 50 * minor) == 250
    # With no recorded cost the margin assumption (cost = half of revenue) gives the same.
    assert service_mint(rules, 100 * minor) == 250
    assert rules.margin == Fraction(1, 2)
    assert rules.surplus == "dividend"


def test_farm_coop_mints_on_pledges_and_hours() -> None:
    rules = load_rules_file(RULES_DIR / "farm-coop.json")
    assert set(rules.mint) == {"pledge", "work"}
    assert pledge_mint(rules, 9_000) == 9  # a 90 CNY pledge: 10 % of it at 1 CNY a share
    assert work_mint(rules, 60) == 30  # 30 CNY an hour at 1 CNY a share
    assert work_mint(rules, 90) == 45
    assert work_mint(rules, 1) == 0  # half a share: rounded down, owed to nobody
    with pytest.raises(CommerceError, match="no deposit rule in force"):
        deposit_mint(rules, 100)


def test_rule_files_name_the_fixed_test_keys() -> None:
    assert rules_doc("barbershop")["operator"] == ADDR["operator"]
    assert set(rules_doc("barbershop")["initial"]["allocation"]) == {ADDR["investor"], ADDR["team"]}
    assert rules_doc("farm-coop")["operator"] == ADDR["coop-operator"]


def test_rules_hash_is_of_the_canonical_bytes() -> None:
    doc = rules_doc("barbershop")
    rules = parse_rules(doc)
    assert rules.canonical == canonical_json(doc)
    assert len(rules.sha256) == 64


def _bad(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(rules_doc("barbershop"))
    change(doc)
    return doc


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _delete(key: str) -> Any:
    return lambda doc: doc.pop(key)


ALLOC = {ADDR["investor"]: 5_000_000, ADDR["team"]: 4_000_000}

BAD_RULES = [
    (_set("mint.airdrop", {"share": {"num": 1, "den": 2}}), "unknown mint rule kind 'airdrop'"),
    (
        _set("initial.allocation", ALLOC),
        "initial allocation sums to 9000000, not the declared supply 10000000",
    ),
    (_set("initial.allocation", {ADDR["investor"]: -5, ADDR["team"]: 10_000_005}), "is negative"),
    (_set("initial.supply", -1), "initial.supply: -1 is negative"),
    (_set("currency", "XYZ"), "'XYZ' is not an active ISO 4217 currency code"),
    (_set("price.amount", 0), "price.amount: 0 is below 1"),
    (_set("price.tokens", -5000000), "price.tokens: -5000000 is negative"),
    (_set("price.amount", 0.02), "only strings, integers, arrays and objects"),
    (_set("mint.deposit", {"share": {"num": 3, "den": 2}}), "3/2 is more than one"),
    (
        _set("mint.deposit", {"share": {"num": -1, "den": 2}}),
        "mint.deposit.share.num: -1 is negative",
    ),
    (_set("mint.deposit", {"share": {"num": 1, "den": 0}}), "den: 0 is below 1"),
    (_set("mint.deposit", {"rate": 5}), "field 'share' missing"),
    (
        _set("mint.work", {"tokens_per_hour": 5, "money_per_hour": 5}),
        "exactly one of tokens_per_hour",
    ),
    (_set("mint.work", {"tokens_per_hour": -5}), "tokens_per_hour: -5 is negative"),
    (_set("surplus", "burn"), "unknown surplus rule 'burn'"),
    (_set("margin", {"cost": 3, "revenue": 2}), "margin cost 3 is more than its revenue 2"),
    (_set("format", "farmtrace-community-rules/v2"), "format must be"),
    (_set("version", 0), "version: 0 is below 1"),
    (_set("operator", "00" * 32), "not a usable Ed25519 public key"),
    (_set("operator", "AB" * 32), "64 lowercase hex digits"),
    (_set("initial.allocation", {"01" + "00" * 31: 10_000_000}), "small order"),
    (_set("initial.allocation", {}), "must name 1 to 1000 members"),
    (_set("token.symbol", "cut"), "token.symbol 'cut' is not"),
    (_set("token.name", "  "), "token.name: expected non-empty text"),
    (_set("text.zh", ""), "text.zh: expected non-empty text"),
    (_set("community", "barber shop"), "is not a community ID"),
    (_set("bonus", 1), "unknown field 'bonus'"),
    (_delete("initial"), "version 1 must declare the initial supply"),
    (_delete("surplus"), "unknown surplus rule None"),
    (_set("version", 2), "version 2 may not declare an initial allocation"),
]


@pytest.mark.parametrize(("change", "reason"), BAD_RULES)
def test_bad_rules_are_refused_naming_the_cause(change: Any, reason: str) -> None:
    with pytest.raises(CommerceError) as caught:
        parse_rules(_bad(change))
    assert reason in str(caught.value)


def test_bad_mint_inputs_are_refused_naming_the_field() -> None:
    rules = parse_rules(rules_doc("barbershop"))
    cases: list[tuple[Any, str]] = [
        (lambda: deposit_mint(rules, -100), "deposit amount: -100 is negative"),
        (lambda: deposit_mint(rules, 0), "deposit amount: 0 is below 1"),
        (lambda: deposit_mint(rules, 10**13), "is above"),
        (lambda: service_mint(rules, -1, 0), "service revenue: -1 is negative"),
        (lambda: service_mint(rules, 100, -1), "service cost: -1 is negative"),
        (lambda: service_mint(rules, 100, 101), "service cost 101 is more than its revenue 100"),
        (lambda: work_mint(rules, 60), "no work rule in force (version 1)"),
        (lambda: pledge_mint(rules, 60), "no pledge rule in force (version 1)"),
        (lambda: reinvest_tokens(rules, -1), "surplus: -1 is negative"),
        (lambda: pro_rata(-1, {"a": 1}), "distribution total -1 is negative"),
        (lambda: pro_rata(5, {"a": 0}), "nobody to share with"),
    ]
    for call, reason in cases:
        with pytest.raises(CommerceError) as caught:
            call()
        assert reason in str(caught.value)


def test_pro_rata_largest_remainder_ties_to_lowest_address() -> None:
    assert pro_rata(10, {"c": 1, "a": 1, "b": 1}) == {"a": 4, "b": 3, "c": 3}
    assert list(pro_rata(10, {"c": 1, "a": 1, "b": 1})) == ["a", "b", "c"]
    # remainders 2*7 mod 10 = 4 and 3*7 mod 10 = 1... the larger remainder wins first
    assert pro_rata(7, {"a": 2, "b": 3, "c": 5}) == {"a": 1, "b": 2, "c": 4}
    assert pro_rata(0, {"a": 2, "b": 0}) == {"a": 0}  # zero balances are not holders
    parts = pro_rata(1_000_003, {"a": 333, "b": 333, "c": 334, "d": 1})
    assert sum(parts.values()) == 1_000_003
