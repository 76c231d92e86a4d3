"""Random community histories against a plain reference model of the rules.

Hypothesis draws sequences of deposits, services, work, transfers (some over the balance, to
oneself, or re-sending a spent statement), distributions and rule changes. A small model, written
separately with integer floor division only (no Fraction, nothing from the engine's mint code),
says what each entry must mint or share and whether it must be refused. The test builds each
body from the model's figures, signs it and applies it to ``CommunityReplay``: the replay accepts
exactly what the model accepts, and after every step the balances, the supply (== the sum of the
balances) and each distribution's parts (summing to its total) equal the model's. A mint that
states one token more than the model's figure is always refused.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.community import ADDR, KEYS, T0, rules_doc
from support.fast import examples

from farmtrace.commerce.community.entries import (
    GENESIS,
    TransferStatement,
    encode_statement,
    sign_community_entry,
    sign_transfer,
)
from farmtrace.commerce.community.replay import CommunityReplay, Violation

NAMES = ["investor", "team", "customer", "barber"]
MEMBERS = [ADDR[n] for n in NAMES]
HOUR = 3_600_000


class Model:
    """The rules, plainly: balances, supply and the rules in force as bare integers."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.balance = {a: 0 for a in MEMBERS}
        for a, amount in doc["initial"]["allocation"].items():
            self.balance[a] = amount
        self.supply = doc["initial"]["supply"]
        self.doc = doc
        self.moves = {a: 0 for a in MEMBERS}
        self.spend = {a: GENESIS for a in MEMBERS}
        self.sent: dict[str, list[TransferStatement]] = {a: [] for a in MEMBERS}
        self.last_until = 0

    @property
    def version(self) -> int:
        return int(self.doc["version"])

    def to_tokens(self, num: int, den: int) -> int:
        """floor((num / den) minor units at the price)."""
        price = self.doc["price"]
        return int(num * price["tokens"]) // int(den * price["amount"])

    def mint(self, op: str, inputs: dict[str, Any]) -> int | None:
        """Tokens the rules mint, or None if the entry must be refused."""
        rule = self.doc["mint"].get(op)
        if rule is None:
            return None
        if op == "work":
            minutes = inputs["minutes"]
            if not 1 <= minutes <= 100_000:
                return None
            if "tokens_per_hour" in rule:
                return int(minutes * rule["tokens_per_hour"] // 60)
            return self.to_tokens(minutes * rule["money_per_hour"], 60)
        share = rule["share"]
        if op == "deposit":
            if inputs["amount"] < 1:
                return None
            return self.to_tokens(inputs["amount"] * share["num"], share["den"])
        revenue, cost = inputs["revenue"], inputs.get("cost")
        if revenue < 1 or (cost is not None and not 0 <= cost <= revenue):
            return None
        if cost is None:  # cost = revenue * margin.cost / margin.revenue, kept exact
            m = self.doc["margin"]
            profit_num, profit_den = revenue * (m["revenue"] - m["cost"]), m["revenue"]
        else:
            profit_num, profit_den = revenue - cost, 1
        return self.to_tokens(profit_num * share["num"], profit_den * share["den"])

    def parts(self, total: int) -> dict[str, int]:
        holders = sorted(a for a in MEMBERS if self.balance[a] > 0)
        whole = sum(self.balance[a] for a in holders)
        exact = {a: (total * self.balance[a], whole) for a in holders}
        out = {a: n // d for a, (n, d) in exact.items()}
        picked: set[str] = set()
        for _ in range(total - sum(out.values())):
            best = min(
                (a for a in holders if a not in picked),
                key=lambda a: (-(exact[a][0] % exact[a][1]), a),
            )
            picked.add(best)
            out[best] += 1
        return out


share = st.builds(lambda d, n: {"num": min(n, d), "den": d}, st.integers(1, 12), st.integers(0, 12))
new_rules = st.fixed_dictionaries(
    {
        "deposit": st.none() | share,
        "service": st.none() | share,
        "work": st.none()
        | st.builds(lambda r: {"tokens_per_hour": r}, st.integers(1, 500))
        | st.builds(lambda r: {"money_per_hour": r}, st.integers(1, 10_000)),
        "price": st.tuples(st.integers(1, 1000), st.integers(1, 1000)),
        "surplus": st.sampled_from(["dividend", "reinvest"]),
    }
)
member = st.integers(0, len(MEMBERS) - 1)
ops = st.one_of(
    st.tuples(st.just("deposit"), member, st.integers(-3, 10**7), st.booleans()),
    st.tuples(
        st.just("service"),
        member,
        st.integers(-3, 10**6),
        st.none() | st.integers(-3, 10**6),
        st.booleans(),
    ),
    st.tuples(st.just("work"), member, st.integers(-3, 3000), st.booleans()),
    st.tuples(
        st.just("transfer"), member, member, st.integers(-1, 30_000) | st.integers(1, 6_000_000)
    ),
    st.tuples(st.just("resend"), member),
    st.tuples(st.just("distribution"), st.integers(-3, 10**7)),
    st.tuples(st.just("rules"), new_rules),
)


@pytest.mark.slow
@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(ops, max_size=25))
def test_replay_agrees_with_the_reference_model(steps: list[tuple[Any, ...]]) -> None:
    doc = copy.deepcopy(rules_doc("barbershop"))
    model = Model(doc)
    replay = CommunityReplay(operator_key=KEYS["operator"].public_key().public_bytes_raw())
    clock = [T0]

    def entry(body: dict[str, Any]) -> Any:
        clock[0] += HOUR
        full = {"community": "barbershop", "prev": replay.head, **body}
        return sign_community_entry(replay.n + 1, clock[0], full, KEYS["operator"])

    def accept(body: dict[str, Any]) -> None:
        replay.apply(entry(body))
        event(f"accepted {body['op']}")

    def refuse(body: dict[str, Any]) -> None:
        before = (replay.n, replay.supply, replay.balances())
        with pytest.raises(Violation):
            replay.apply(entry(body))
        event(f"refused {body['op']}")
        assert (replay.n, replay.supply, replay.balances()) == before

    accept({"op": "rules", "supply": model.supply, "rules": doc, "rules_sha256": _sha(doc)})
    for step in steps:
        kind = step[0]
        if kind in ("deposit", "service", "work"):
            who = MEMBERS[step[1]]
            if kind == "deposit":
                inputs: dict[str, Any] = {"amount": step[2], "payment_sha256": "ab" * 32}
            elif kind == "service":
                inputs = {"revenue": step[2], "ref_sha256": "cd" * 32}
                if step[3] is not None:
                    inputs["cost"] = step[3]
            else:
                inputs = {"minutes": step[2], "ref_sha256": "cd" * 32}
            minted = model.mint(kind, inputs)
            body = {"op": kind, "version": model.version, "member": who, **inputs}
            if minted is None:
                refuse({**body, "minted": 0, "supply": model.supply})
                continue
            if step[-1]:  # a mint one token above the rules is never accepted
                refuse({**body, "minted": minted + 1, "supply": model.supply + minted + 1})
            accept({**body, "minted": minted, "supply": model.supply + minted})
            model.balance[who] += minted
            model.supply += minted
        elif kind == "transfer":
            sender, to, amount = MEMBERS[step[1]], MEMBERS[step[2]], step[3]
            key = KEYS[NAMES[step[1]]]
            statement = sign_transfer(
                model.moves[sender] + 1,
                clock[0],
                "barbershop",
                to,
                amount,
                model.spend[sender],
                key,
            )
            body = {
                "op": "transfer",
                "supply": model.supply,
                "statement": encode_statement(statement),
            }
            if amount < 1 or sender == to or amount > model.balance[sender]:
                refuse(body)
                continue
            accept(body)
            model.balance[sender] -= amount
            model.balance[to] += amount
            model.moves[sender] += 1
            model.spend[sender] = statement.hash
            model.sent[sender].append(statement)
        elif kind == "resend":
            sender = MEMBERS[step[1]]
            for old in model.sent[sender]:  # every spent state stays spent
                refuse(
                    {"op": "transfer", "supply": model.supply, "statement": encode_statement(old)}
                )
        elif kind == "distribution":
            surplus = step[1]
            reinvest = doc["surplus"] == "reinvest"
            period = {"from_ms": model.last_until, "until_ms": clock[0] + HOUR}
            body = {
                "op": "distribution",
                "version": model.version,
                "period": period,
                "surplus": surplus,
            }
            if surplus < 1:
                refuse(
                    {
                        **body,
                        "supply": model.supply,
                        "parts": [],
                        **({"tokens": 0} if reinvest else {}),
                    }
                )
                continue
            total = model.to_tokens(surplus, 1) if reinvest else surplus
            parts = model.parts(total)
            assert sum(parts.values()) == total
            if reinvest:
                body["tokens"] = total
            accept(
                {
                    **body,
                    "supply": model.supply + (total if reinvest else 0),
                    "parts": [[a, p] for a, p in sorted(parts.items())],
                }
            )
            assert replay.distributions[-1].parts == parts
            if reinvest:
                for a, p in parts.items():
                    model.balance[a] += p
                model.supply += total
            model.last_until = period["until_ms"]
        else:
            change = step[1]
            doc = copy.deepcopy(doc)
            doc.pop("initial", None)
            doc["version"] += 1
            doc["mint"] = {
                k: change[k] if k == "work" else {"share": change[k]}
                for k in ("deposit", "service", "work")
                if change[k] is not None
            }
            doc["price"] = {"amount": change["price"][0], "tokens": change["price"][1]}
            doc["surplus"] = change["surplus"]
            accept({"op": "rules", "supply": model.supply, "rules": doc, "rules_sha256": _sha(doc)})
            model.doc = doc
        assert replay.balances() == {a: b for a, b in model.balance.items() if a in replay.members}
        assert all(b == 0 for a, b in model.balance.items() if a not in replay.members)
        assert replay.supply == model.supply == sum(replay.balances().values())
        assert replay.rules is not None and replay.rules.version == model.version
        for state in replay.members.values():  # the history explains the balance
            assert sum(line.delta for line in state.history) == state.balance


def _sha(doc: dict[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
