"""What a grower, a backer and a client see when the campaign API refuses them: a JSON key sent
twice is refused rather than read as its last value, a pledge after the harvest says so, a
statement that is not one names the ``statement`` field, times in refusals are readable, and
the OpenAPI document shows a working example of each holder statement."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce_api import DAY, GCN, NOW_MS, Shop, address, terms

from farmtrace.commerce.entries import decode_statement
from farmtrace.commerce.gcn import coupon_id


def test_a_key_sent_twice_is_refused_naming_it_and_nothing_is_opened(shop: Shop) -> None:
    body = json.dumps(terms())
    doubled = body[:-1] + ', "cap": 600}'
    answer = shop.client.post(
        "/v1/campaigns",
        content=doubled.encode(),
        headers={"Content-Type": "application/json", **shop.farm},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid"
    assert "'cap' appears twice" in answer.json()["detail"]
    assert shop.client.get(f"/v1/campaigns/{GCN}").status_code == 404
    nested = json.dumps(terms(price={"amount": 4500, "currency": "CNY"}))
    nested = nested.replace('"currency": "CNY"', '"currency": "CNY", "amount": 1')
    answer = shop.client.post(
        "/v1/campaigns",
        content=nested.encode(),
        headers={"Content-Type": "application/json", **shop.farm},
    )
    assert answer.status_code == 422 and "'amount' appears twice" in answer.json()["detail"]


def test_a_holder_statement_sent_with_a_key_twice_is_refused(shop: Shop) -> None:
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    c1 = coupon_id(GCN, 1)
    answer = shop.client.post(
        f"/v1/coupons/{c1}/transfers",
        content=b'{"statement": "AAAA", "statement": "BBBB"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "'statement' appears twice" in answer.json()["detail"]
    assert shop.client.get(f"/v1/coupons/{c1}").json()["moves"] == 0


def test_a_statement_that_is_not_one_names_the_field(shop: Shop) -> None:
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    junk = base64.b64encode(b"x" * 200).decode()
    answer = shop.client.post(
        f"/v1/coupons/{coupon_id(GCN, 1)}/transfers", json={"statement": junk}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("statement: not a holder statement")


def test_a_pledge_after_the_harvest_says_the_harvest_is_in(shop: Shop) -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 3)
    assert shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).status_code == 200
    harvested = shop.client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 15}, headers=shop.farm
    )
    assert harvested.status_code == 200, harvested.text
    refused = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(bob), "count": 1}
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"campaign {GCN} is harvested already: no more pledges"


def test_refusals_about_time_give_the_time_readably(shop: Shop) -> None:
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    shop.clock.ms = NOW_MS + 11 * DAY  # past the deadline of terms()
    late = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(alice), "count": 1}
    )
    assert late.status_code == 409
    deadline = NOW_MS + 10 * DAY
    assert late.json()["detail"] == (
        f"campaign {GCN} passed its deadline, {deadline} ms (2030-03-27T17:46:40Z)"
    )


def test_the_openapi_examples_of_holder_statements_decode(shop: Shop) -> None:
    schemas = shop.client.get("/openapi.json").json()["components"]["schemas"]
    transfer = schemas["TransferCreate"]["examples"][0]["statement"]
    redeem = schemas["RedemptionCreate"]["examples"][0]["statement"]
    assert decode_statement(base64.b64decode(transfer)).op == "transfer"
    assert decode_statement(base64.b64decode(redeem)).op == "redeem"
    assert schemas["RedemptionCreate"]["examples"][0]["event"]["seq"] >= 1


def test_a_farm_action_the_rules_refuse_names_the_campaign_and_the_next_step(
    shop: Shop,
) -> None:
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    early = shop.client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 5}, headers=shop.farm
    )
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"campaign {GCN}: harvest recorded while the campaign is open; settle it first "
        f"(POST /v1/campaigns/{GCN}/settle) once its target is reached or its deadline has "
        "passed"
    )


def test_a_control_character_in_a_backers_contact_is_named_not_a_pattern(shop: Shop) -> None:
    shop.client.post("/v1/campaigns", json=terms(), headers=shop.farm).raise_for_status()
    bob = Ed25519PrivateKey.generate()
    answer = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges",
        json={"holder": address(bob), "count": 1, "contact": "Li Wei\x00 138"},
    )
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "contact"]
    assert "control character U+0000 at position 6" in error["msg"]
    fine = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges",
        json={"holder": address(bob), "count": 1, "delivery": "山东省寿光市\n一路3号\t门口"},
    )
    assert fine.status_code == 201, fine.text


def test_a_body_json_cannot_decode_says_why_it_might_be(shop: Shop) -> None:
    shop.client.post("/v1/campaigns", json=terms(), headers=shop.farm).raise_for_status()
    for raw in (
        b'{"holder": "\xff\xfe", "count": 1}',
        b"[" * 100_000,
        b'{"count": ' + b"9" * 5000 + b"}",
    ):
        answer = shop.client.post(
            f"/v1/campaigns/{GCN}/pledges",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("body: cannot be read as JSON (not UTF-8")
