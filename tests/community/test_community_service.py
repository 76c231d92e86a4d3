"""The community service over a real database: the barbershop's worked figures from its rule
file, transfers and double spends, distributions, new rule versions, and every refusal named
with nothing recorded; the stored history replays clean under the reference rules."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from support.community_api import ADDR, KEYS, NOW_MS, barbershop

from farmtrace.api.services.communities import CommunityService, replay_entries
from farmtrace.commerce.community.entries import GENESIS, sign_transfer
from farmtrace.commerce.errors import CommerceError
from farmtrace.store.communities import Communities
from farmtrace.store.community_keys import CommunityKeys
from farmtrace.store.database import open_database
from farmtrace.store.key_history import KIND_COMMUNITY, key_history


class Clock:
    def __init__(self) -> None:
        self.ms = NOW_MS

    def __call__(self) -> float:
        self.ms += 1000
        return self.ms / 1000


@pytest.fixture
def service(db_url: str) -> Iterator[CommunityService]:
    database = open_database(db_url)
    keys = CommunityKeys(database, None)
    keys.provide("barbershop", KEYS["operator"])
    try:
        yield CommunityService(Communities(database), keys, None, Clock())
    finally:
        database.close()


def _transfer(
    svc: CommunityService, sender: str, to: str, amount: int, prev: str = "", move: int = 0
) -> str:
    view = svc.member("barbershop", ADDR[sender])
    statement = sign_transfer(
        move or view["moves"] + 1,
        NOW_MS,
        "barbershop",
        ADDR[to],
        amount,
        prev or view["spend_state"],
        KEYS[sender],
    )
    return base64.b64encode(statement.payload).decode("ascii")


def test_the_worked_figures_and_a_whole_life(service: CommunityService) -> None:
    svc = service
    head = svc.create(barbershop())
    assert (head.eseq, head.supply, head.members) == (1, 10_000_000, 2)
    deposit = svc.deposit("barbershop", ADDR["customer"], 100_000, "receipt 1")
    assert (deposit.minted, deposit.supply) == (25_000, 10_025_000)
    assert deposit.body["payment_sha256"] == hashlib.sha256(b"receipt 1").hexdigest()
    served = svc.service("barbershop", ADDR["barber"], 10_000, 5_000, "ticket 7")
    assert (served.minted, served.supply) == (250, 10_025_250)
    sent = svc.transfer("barbershop", _transfer(svc, "customer", "barber", 5_000))
    assert sent.op == "transfer" and sent.supply == 10_025_250
    customer = svc.member("barbershop", ADDR["customer"])
    assert customer["balance"] == 20_000 and customer["moves"] == 1
    dividend = svc.distribute("barbershop", NOW_MS - 10_000, NOW_MS, 1_000_000)
    parts = dict(dividend.body["parts"])
    assert sum(parts.values()) == 1_000_000
    assert set(parts) == {ADDR[n] for n in ("investor", "team", "customer", "barber")}
    rules2 = barbershop()
    del rules2["initial"]
    rules2["version"] = 2
    rules2["surplus"] = "reinvest"
    published = svc.publish_rules("barbershop", rules2)
    assert published.n == 6
    reinvest = svc.distribute("barbershop", NOW_MS, NOW_MS + 5_000, 20_000)
    assert reinvest.minted == 10_000 and reinvest.supply == 10_035_250
    head = svc.head("barbershop")
    stored = svc.communities.entries(head.id, with_anchors=False)
    replay = replay_entries(bytes.fromhex(head.operator_key), stored)
    assert replay.supply == head.supply == sum(m.balance for m in svc.communities.members(head.id))
    assert [r.version for r in svc.communities.rules(head.id)] == [1, 2]
    history = [line["op"] for line in svc.member("barbershop", ADDR["customer"])["history"]]
    assert history == ["deposit", "transfer", "distribution"]
    recorded = key_history(svc.communities.database, KIND_COMMUNITY, "barbershop")
    assert [p.public_key for p in recorded] == [
        base64.b64encode(bytes.fromhex(ADDR["operator"])).decode()
    ]


def test_double_spend_is_refused_naming_the_current_state(service: CommunityService) -> None:
    svc = service
    svc.create(barbershop())
    first = _transfer(svc, "investor", "customer", 10)
    second = _transfer(svc, "investor", "barber", 10)  # the same spend state
    svc.transfer("barbershop", first)
    current = svc.member("barbershop", ADDR["investor"])["spend_state"]
    with pytest.raises(CommerceError) as caught:
        svc.transfer("barbershop", second)
    assert caught.value.kind == "conflict"
    assert f"state {GENESIS} was already spent" in str(caught.value)
    assert current in str(caught.value)
    with pytest.raises(CommerceError, match="balance is 5000000") as over:
        svc.transfer("barbershop", _transfer(svc, "team", "barber", 5_000_001))
    assert over.value.kind == "conflict"
    forged = _transfer(svc, "team", "barber", 1)
    tampered = base64.b64decode(forged)
    tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
    with pytest.raises(CommerceError, match="not signed by the key") as bad:
        svc.transfer("barbershop", base64.b64encode(tampered).decode())
    assert bad.value.kind == "invalid"
    assert svc.head("barbershop").eseq == 2


def _refusals() -> list[tuple[str, Any, str]]:
    unknown_kind = barbershop()
    unknown_kind["mint"]["haircut"] = {"share": {"num": 1, "den": 2}}
    bad_sum = barbershop()
    bad_sum["initial"]["supply"] = 10_000_001
    return [
        ("create", unknown_kind, "unknown mint rule kind 'haircut'"),
        ("create", bad_sum, "initial allocation sums to 10000000, not the declared supply"),
        ("deposit", -5, "amount: -5 is negative"),
        ("deposit", 0, "amount: 0 is outside 1"),
        ("mint", 30_000, "mints 30000 tokens but the rules give 25000"),
        ("work", 60, "no work rule in force"),
        ("parts", None, "parts sum to"),
    ]


@pytest.mark.parametrize(("action", "value", "reason"), _refusals())
def test_bad_input_is_named_and_nothing_is_recorded(
    service: CommunityService, action: str, value: Any, reason: str
) -> None:
    svc = service
    if action == "create":
        with pytest.raises(CommerceError, match=reason) as caught:
            svc.create(value)
        assert caught.value.kind == "invalid"
        assert svc.communities.get("barbershop") is None
        return
    svc.create(barbershop())
    with pytest.raises(CommerceError, match=reason) as caught:
        if action == "deposit":
            svc.deposit("barbershop", ADDR["customer"], value, "r")
        elif action == "mint":
            svc.deposit("barbershop", ADDR["customer"], 100_000, "r", minted=value)
        elif action == "work":
            svc.work("barbershop", ADDR["barber"], value, "r")
        else:
            parts = [[ADDR["investor"], 1], [ADDR["team"], 1]]
            parts.sort()
            svc.distribute("barbershop", NOW_MS - 10, NOW_MS, 100, parts)
    assert caught.value.kind == "invalid"
    assert svc.head("barbershop").eseq == 1
