"""The community HTTP API: the barbershop founded from its shipped rule file, the operator's
records (scoped key), members' transfers, reads with no names, every bad input answered 422/404/
409 naming its cause with nothing recorded, and a double-spend race won by exactly one."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from support.community_api import ADDR, Community, barbershop

from farmtrace.api.auth import create_key

BASE = "/v1/communities/barbershop"


def test_founding_records_and_reads(community: Community) -> None:
    c = community
    c.found()
    client, op = c.client, c.operator
    deposit = client.post(
        f"{BASE}/deposits",
        json={"member": ADDR["customer"], "amount": 100000, "payment_reference": "till 1"},
        headers=op,
    )
    assert deposit.status_code == 201, deposit.text
    assert (deposit.json()["minted"], deposit.json()["supply"]) == (25000, 10025000)
    service = client.post(
        f"{BASE}/services",
        json={"member": ADDR["barber"], "revenue": 10000, "cost": 5000, "reference": "t7"},
        headers=op,
    )
    assert service.status_code == 201 and service.json()["minted"] == 250
    sent = client.post(
        f"{BASE}/transfers", json={"statement": c.statement("customer", "barber", 5000)}
    )
    assert sent.status_code == 201, sent.text
    dividend = client.post(
        f"{BASE}/distributions",
        json={"period": {"from_ms": 1, "until_ms": 2}, "surplus": 100000},
        headers=op,
    )
    assert dividend.status_code == 201, dividend.text
    found = client.get(BASE).json()
    assert (found["supply"], found["members"], found["entries"]) == (10025250, 4, 5)
    assert found["rules"]["community"] == "barbershop" and found["rules_version"] == 1
    assert [s[2] for s in found["supply_history"]] == [
        10000000,
        10025000,
        10025250,
        10025250,
        10025250,
    ]
    assert found["distributions"][0]["total"] == 100000
    assert "name" not in str(found["distributions"])
    listed = client.get("/v1/communities").json()
    assert [x["community"] for x in listed] == ["barbershop"]
    entries = client.get(f"{BASE}/entries").json()
    assert [e["op"] for e in entries] == [
        "rules",
        "deposit",
        "service",
        "transfer",
        "distribution",
    ]
    assert all(e["anchored"] is None for e in entries)
    member = client.get(f"{BASE}/members/{ADDR['customer']}").json()
    assert member["balance"] == 20000
    assert [h["op"] for h in member["history"]] == ["deposit", "transfer"]
    assert member["distributions"][0]["part"] > 0
    bundle = client.get(f"{BASE}/members/{ADDR['customer']}/statement")
    assert bundle.status_code == 200
    assert bundle.json()["format"] == "farmtrace-community-statement/v1"
    assert len(bundle.json()["entries"]) == 5


def _bad() -> list[tuple[str, str, Any, int, str]]:
    customer = ADDR["customer"]
    unknown_kind = barbershop()
    unknown_kind["mint"]["haircut"] = {"share": {"num": 1, "den": 2}}
    bad_sum = barbershop()
    bad_sum["initial"]["allocation"][ADDR["investor"]] = 4_000_000
    deposit = {"member": customer, "amount": 100000, "payment_reference": "r"}
    return [
        ("create", "", unknown_kind, 422, "unknown mint rule kind 'haircut'"),
        ("create", "", bad_sum, 422, "initial allocation sums to 9000000"),
        ("create", "", barbershop(), 409, "exists already"),
        ("post", "/deposits", deposit | {"amount": -1000}, 422, "amount: -1000 is negative"),
        ("post", "/deposits", deposit | {"amount": "1000"}, 422, "amount"),
        ("post", "/deposits", deposit | {"member": "ab"}, 422, "member"),
        ("post", "/deposits", deposit | {"extra": 1}, 422, "extra"),
        ("post", "/deposits", deposit | {"minted": 30000}, 422, "mints 30000 tokens but"),
        ("post", "/work", {"member": customer, "minutes": 60, "reference": "r"}, 422, "no work"),
        (
            "post",
            "/services",
            {"member": customer, "revenue": 100, "cost": 200, "reference": "r"},
            422,
            "cost 200 is more than its revenue 100",
        ),
        (
            "post",
            "/distributions",
            {
                "period": {"from_ms": 1, "until_ms": 2},
                "surplus": 100,
                "parts": sorted([[ADDR["investor"], 50], [ADDR["team"], 49]]),
            },
            422,
            "parts sum to 99, not the surplus 100",
        ),
        ("post", "/transfers", {"statement": "not base64!"}, 422, "statement"),
        ("get", "/members/" + ADDR["operator"], None, 404, "not a member"),
        ("get404", "", None, 404, "community nowhere not found"),
    ]


@pytest.mark.parametrize(("how", "path", "body", "status", "detail"), _bad())
def test_bad_input_is_named_and_nothing_recorded(
    community: Community, how: str, path: str, body: Any, status: int, detail: str
) -> None:
    c = community
    c.found()
    client, op = c.client, c.operator
    if how == "create":
        answer = client.post("/v1/communities", json=body, headers=op)
    elif how == "post":
        answer = client.post(BASE + path, json=body, headers=op)
    elif how == "get":
        answer = client.get(BASE + path)
    else:
        answer = client.get("/v1/communities/nowhere")
    assert answer.status_code == status, answer.text
    assert detail in answer.text
    assert client.get(BASE).json()["entries"] == 1


def test_operator_records_need_the_scope(community: Community) -> None:
    c = community
    c.found()
    other = create_key(c.state.database, "farm", ["campaigns:write"])
    body = {"member": ADDR["customer"], "amount": 100, "payment_reference": "r"}
    assert c.client.post(f"{BASE}/deposits", json=body).status_code == 401
    forbidden = c.client.post(
        f"{BASE}/deposits", json=body, headers={"Authorization": f"Bearer {other}"}
    )
    assert forbidden.status_code == 403


def test_double_spend_race_has_one_winner(community_on_both: Community) -> None:
    """Eight different statements spending the investor's one spend state, sent at once: one
    is recorded, every other is refused 409 naming the state now current."""
    c = community_on_both
    c.found()
    statements = [c.statement("investor", "customer", 10 + i) for i in range(8)]
    answers: list[Any] = []

    def send(statement: str) -> None:
        answers.append(c.client.post(f"{BASE}/transfers", json={"statement": statement}))

    threads = [threading.Thread(target=send, args=(s,)) for s in statements]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 7, [a.text for a in answers]
    current = c.client.get(f"{BASE}/members/{ADDR['investor']}").json()
    assert current["moves"] == 1
    for refused in (a for a in answers if a.status_code == 409):
        assert current["spend_state"] in refused.json()["detail"]
    assert c.client.get(BASE).json()["entries"] == 2
