"""Bad input to every campaign and coupon endpoint: a 4xx whose detail names what was wrong,
and nothing changed (the campaign's head, totals and pledges, every coupon's state, and the
count of stored campaigns, coupons and moves are as before).

Malformed or wrong-length keys, bad signatures, a stale or unknown previous state, an unknown
or void coupon, pledges to a closed or failed campaign, over-cap pledges, negative or
overflowing amounts, unknown currencies and units, extra fields, numbers sent as text. On
SQLite and on PostgreSQL (which refuses text that SQLite stores, such as NUL)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, Served
from support.commerce_api import DAY, GCN, Shop, address, sign_transfer, terms

from farmtrace.chain.entry import COUPON_MOVE_PREFIX
from farmtrace.chain.signed_entry import frame
from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.entries import sign_statement, statement_signer
from farmtrace.commerce.gcn import check_digit, coupon_id

C1 = coupon_id(GCN, 1)
OTHER_GCN = "950600013436" + check_digit("950600013436")
BAD_CHECK = GCN[:12] + str((int(GCN[12]) + 1) % 10)
MISSING_PLEDGE = "0" * 32
NOT_ON_CURVE = "02" + "ff" * 31  # 64 hex digits that are no point of the curve
SMALL_ORDER = "01" + "00" * 31  # the identity: anyone could sign for it


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def snapshot(shop: Shop) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    store = shop.state.campaigns.campaigns
    head = store.get(GCN)
    coupons = {}
    if head is not None:
        for serial in range(1, head.issued + 1):
            record = store.coupon(GCN, serial)
            assert record is not None
            coupons[serial] = (record.holder, record.state, record.moves, record.status)
    return {
        "head": None
        if head is None
        else (head.cseq, head.head, head.status, head.issued, head.redeemed, head.voided),
        "pledges": None if head is None else [(p.id, p.status) for p in store.pledges(head.id)],
        "coupons": coupons,
        "counts": store.counts(),
    }


@pytest.fixture
def funded(shop: Shop) -> Iterator[tuple[Shop, Ed25519PrivateKey]]:
    """A funded campaign: 3 coupons of cap 6 issued to ``alice``."""
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 3)
    shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).raise_for_status()
    yield shop, alice


def refused(shop: Shop, response: Any, status: int, *named: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "detail"}
    text = json.dumps(body["detail"], ensure_ascii=False)
    for word in named:
        assert word in text, (word, body)


def unchanged(shop: Shop, before: dict[str, Any]) -> None:
    assert snapshot(shop) == before


# -- creating campaigns -------------------------------------------------------------------------


BAD_TERMS: list[tuple[dict[str, Any], int, list[str]]] = [
    ({"campaign": BAD_CHECK}, 422, ["gcn", "check digit"]),
    ({"campaign": GCN[:12]}, 422, ["gcn", "13 digits"]),
    ({"campaign": GCN + "0"}, 422, ["campaign"]),
    ({"price": {"amount": 4500, "currency": "XYZ"}}, 422, ["price.currency", "ISO 4217"]),
    ({"price": {"amount": 4500, "currency": "cny"}}, 422, ["ISO 4217"]),
    ({"price": {"amount": -1, "currency": "CNY"}}, 422, ["amount"]),
    ({"price": {"amount": 2**64, "currency": "CNY"}}, 422, ["amount"]),
    ({"price": {"amount": "4500", "currency": "CNY"}}, 422, ["amount"]),
    ({"price": {"amount": 45.5, "currency": "CNY"}}, 422, ["amount"]),
    ({"per_coupon": {"quantity": 5, "unit": "KGX"}}, 422, ["per_coupon.unit", "Rec 20"]),
    ({"per_coupon": {"quantity": 0, "unit": "KGM"}}, 422, ["quantity"]),
    ({"per_coupon": {"quantity": 5, "unit": "KGM", "x": 1}}, 422, ["x"]),
    ({"cap": -3}, 422, ["cap"]),
    ({"cap": 10**7}, 422, ["cap"]),
    ({"target": 7}, 422, ["target", "cap"]),
    ({"deadline_ms": 2**63}, 422, ["deadline_ms"]),
    ({"deadline_ms": 1}, 422, ["deadline_ms"]),
    ({"opens_ms": -1}, 422, ["opens_ms"]),
    ({"gtin": "09506000134353"}, 422, ["gtin", "check digit"]),
    ({"lot": "NO-SUCH-LOT"}, 404, ["not declared"]),
    ({"farm": "green acre"}, 422, ["farm"]),
    ({"text": {"zh": "", "en": "x"}}, 422, ["zh"]),
    ({"text": {"zh": "x" * 4001, "en": "x"}}, 422, ["zh"]),
    ({"extra": 1}, 422, ["extra"]),
]


def test_bad_terms_are_refused_naming_the_field(shop: Shop) -> None:
    before = snapshot(shop)
    for over, status, named in BAD_TERMS:
        answer = shop.client.post("/v1/campaigns", json=terms(**over), headers=shop.farm)
        refused(shop, answer, status, *named)
    unchanged(shop, before)


def test_creating_needs_the_scope_and_a_new_gcn(shop: Shop) -> None:
    client = shop.client
    assert client.post("/v1/campaigns", json=terms()).status_code == 401
    denied = client.post("/v1/campaigns", json=terms(), headers=shop.redeemer)
    refused(shop, denied, 403, "campaigns:write")
    assert client.post("/v1/campaigns", json=terms(), headers=shop.farm).status_code == 201
    before = snapshot(shop)
    again = client.post("/v1/campaigns", json=terms(), headers=shop.farm)
    refused(shop, again, 409, GCN, "exists already")
    shop.clock.ms += 30 * DAY
    late = client.post("/v1/campaigns", json=terms(campaign=OTHER_GCN), headers=shop.farm)
    refused(shop, late, 422, "deadline")
    unchanged(shop, before)
    assert client.post("/v1/campaigns", content=b"{", headers=shop.farm).status_code == 422
    assert client.post("/v1/campaigns", json=[1], headers=shop.farm).status_code == 422


# -- reading ----------------------------------------------------------------------------------


def test_bad_and_unknown_names_in_reads(funded: tuple[Shop, Ed25519PrivateKey]) -> None:
    shop, _ = funded
    client = shop.client
    refused(shop, client.get(f"/v1/campaigns/{BAD_CHECK}"), 422, "check digit")
    refused(shop, client.get("/v1/campaigns/12x"), 422, "gcn")
    refused(shop, client.get(f"/v1/campaigns/{OTHER_GCN}"), 404, OTHER_GCN, "not found")
    refused(shop, client.get(f"/v1/coupons/{coupon_id(GCN, 99)}"), 404, "not found")
    refused(shop, client.get(f"/v1/coupons/{GCN}0"), 422, "leading zeros")
    refused(shop, client.get(f"/v1/coupons/{coupon_id(OTHER_GCN, 1)}"), 404, OTHER_GCN)
    refused(shop, client.get("/v1/coupons/" + "9" * 26), 422, "coupon")
    for holder, named in (
        ("ab" * 31, "64 lowercase hex"),
        ("AB" * 32, "64 lowercase hex"),
        ("zz" * 32, "64 lowercase hex"),
        (NOT_ON_CURVE, "not a point on the curve"),
    ):
        refused(shop, client.get("/v1/coupons", params={"holder": holder}), 422, named)
    refused(shop, client.get("/v1/coupons"), 422, "holder")
    refused(shop, client.get("/v1/campaigns", params={"limit": 0}), 422, "limit")
    refused(shop, client.get(f"/v1/campaigns/{GCN}/refunds"), 401)
    refused(shop, client.get(f"/v1/campaigns/{OTHER_GCN}/refunds", headers=shop.farm), 404)
    refused(shop, client.get(f"/255/{BAD_CHECK}"), 422, "check digit")
    refused(shop, client.get("/255/abc"), 422, "coupon")
    refused(shop, client.get(f"/255/{OTHER_GCN}"), 404, OTHER_GCN)


# -- pledges and payment ------------------------------------------------------------------------


BAD_PLEDGES: list[tuple[dict[str, Any], int, list[str]]] = [
    ({"count": 1}, 422, ["holder"]),
    ({"holder": "ab" * 31, "count": 1}, 422, ["holder", "64 lowercase hex"]),
    ({"holder": "ab" * 33, "count": 1}, 422, ["holder", "64 lowercase hex"]),
    ({"holder": "AB" * 32, "count": 1}, 422, ["holder", "64 lowercase hex"]),
    ({"holder": "g" * 64, "count": 1}, 422, ["holder", "64 lowercase hex"]),
    ({"holder": NOT_ON_CURVE, "count": 1}, 422, ["holder", "not a point on the curve"]),
    ({"holder": SMALL_ORDER, "count": 1}, 422, ["holder", "small order"]),
    ({"holder": "HOLDER", "count": 0}, 422, ["count"]),
    ({"holder": "HOLDER", "count": -2}, 422, ["count"]),
    ({"holder": "HOLDER", "count": 2**70}, 422, ["count"]),
    ({"holder": "HOLDER", "count": "2"}, 422, ["count"]),
    ({"holder": "HOLDER", "count": True}, 422, ["count"]),
    ({"holder": "HOLDER", "count": 4}, 409, ["count", "cap", "3 of 6"]),
    ({"holder": "HOLDER", "count": 1, "contact": "x" * 501}, 422, ["contact"]),
    ({"holder": "HOLDER", "count": 1, "contact": "a\x00b"}, 422, ["contact"]),
    ({"holder": "HOLDER", "count": 1, "email": "a@b"}, 422, ["email"]),
]


def test_bad_pledges_are_refused(funded: tuple[Shop, Ed25519PrivateKey]) -> None:
    shop, alice = funded
    before = snapshot(shop)
    for body, status, named in BAD_PLEDGES:
        if body.get("holder") == "HOLDER":
            body = body | {"holder": address(alice)}
        answer = shop.client.post(f"/v1/campaigns/{GCN}/pledges", json=body)
        refused(shop, answer, status, *named)
    unchanged(shop, before)


def test_pledges_to_unknown_campaigns_and_bad_confirmations(
    funded: tuple[Shop, Ed25519PrivateKey],
) -> None:
    shop, alice = funded
    client = shop.client
    before = snapshot(shop)
    body = {"holder": address(alice), "count": 1}
    refused(shop, client.post(f"/v1/campaigns/{OTHER_GCN}/pledges", json=body), 404, OTHER_GCN)
    refused(shop, client.post(f"/v1/campaigns/{BAD_CHECK}/pledges", json=body), 422, "gcn")
    unchanged(shop, before)

    pledge = client.post(f"/v1/campaigns/{GCN}/pledges", json=body).json()["pledge"]
    before = snapshot(shop)
    confirm = f"/v1/campaigns/{GCN}/pledges/{pledge}/confirm"
    ok = {"payment_reference": "ref"}
    refused(shop, client.post(confirm, json=ok), 401)
    refused(shop, client.post(confirm, json=ok, headers=shop.redeemer), 403, "campaigns:write")
    refused(shop, client.post(confirm, json={}, headers=shop.farm), 422, "payment_reference")
    for reference in ("", "x" * 201, "a\x00b", 7):
        answer = client.post(confirm, json={"payment_reference": reference}, headers=shop.farm)
        refused(shop, answer, 422, "payment_reference")
    unknown = f"/v1/campaigns/{GCN}/pledges/{MISSING_PLEDGE}/confirm"
    refused(shop, client.post(unknown, json=ok, headers=shop.farm), 404, MISSING_PLEDGE)
    malformed = f"/v1/campaigns/{GCN}/pledges/XYZ/confirm"
    refused(shop, client.post(malformed, json=ok, headers=shop.farm), 422, "pledge")
    elsewhere = f"/v1/campaigns/{OTHER_GCN}/pledges/{pledge}/confirm"
    refused(shop, client.post(elsewhere, json=ok, headers=shop.farm), 404, OTHER_GCN)
    unchanged(shop, before)
    assert client.post(confirm, json=ok, headers=shop.farm).status_code == 200
    before = snapshot(shop)
    refused(shop, client.post(confirm, json=ok, headers=shop.farm), 409, "issued already")
    unchanged(shop, before)


def test_a_pledge_past_the_cap_cannot_be_confirmed(shop: Shop) -> None:
    client = shop.client
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 4)
    late = client.post(f"/v1/campaigns/{GCN}/pledges", json={"holder": address(bob), "count": 2})
    assert late.status_code == 201  # fits the cap now: 4 + 2 of 6
    over = client.post(f"/v1/campaigns/{GCN}/pledges", json={"holder": address(bob), "count": 2})
    assert over.status_code == 201  # pledges are not reserved: the confirmation counts
    confirm = f"/v1/campaigns/{GCN}/pledges/{late.json()['pledge']}/confirm"
    assert client.post(confirm, json={"payment_reference": "r"}, headers=shop.farm).is_success
    before = snapshot(shop)
    confirm = f"/v1/campaigns/{GCN}/pledges/{over.json()['pledge']}/confirm"
    answer = client.post(confirm, json={"payment_reference": "r2"}, headers=shop.farm)
    refused(shop, answer, 409, "cap", "6 of 6")
    unchanged(shop, before)


# -- farm actions ---------------------------------------------------------------------------


def test_bad_farm_actions_change_nothing(funded: tuple[Shop, Ed25519PrivateKey]) -> None:
    shop, _ = funded
    client = shop.client
    base = f"/v1/campaigns/{GCN}"
    before = snapshot(shop)
    for path in ("/settle", "/close", "/harvest", "/shortfall"):
        refused(shop, client.post(base + path, json={}), 401)
        refused(shop, client.post(base + path, json={}, headers=shop.redeemer), 403)
    for quantity in (-1, MAX_INT + 1, 2**64, "5", 1.5, None):
        answer = client.post(base + "/harvest", json={"quantity": quantity}, headers=shop.farm)
        refused(shop, answer, 422, "quantity")
    answer = client.post(base + "/harvest", json={"quantity": 1, "x": 2}, headers=shop.farm)
    refused(shop, answer, 422, "x")
    for policy in ("half", "", None, 1):
        answer = client.post(base + "/shortfall", json={"policy": policy}, headers=shop.farm)
        refused(shop, answer, 422, "policy")
    answer = client.post(base + "/shortfall", json={"policy": "refund"}, headers=shop.farm)
    refused(shop, answer, 409, "harvest first")
    refused(shop, client.post(base + "/settle", headers=shop.farm), 409, "funded", "nothing")
    refused(shop, client.post(base + "/close", headers=shop.farm), 409, "outstanding")
    answer = client.post(
        f"/v1/campaigns/{OTHER_GCN}/harvest", json={"quantity": 1}, headers=shop.farm
    )
    refused(shop, answer, 404, OTHER_GCN)
    # Refunds: none owed by a funded campaign; bad amounts and pledge IDs named.
    owed = client.get(base + "/refunds", headers=shop.farm)
    assert owed.status_code == 200 and owed.json() == []
    pledge = shop.state.campaigns.campaigns.pledges(shop.state.campaigns.head(GCN).id)[0].id
    for amount in (0, -5, MAX_INT + 1, "10", None):
        answer = client.post(f"{base}/refunds/{pledge}", json={"amount": amount}, headers=shop.farm)
        refused(shop, answer, 422, "amount")
    answer = client.post(f"{base}/refunds/{pledge}", json={"amount": 1}, headers=shop.farm)
    refused(shop, answer, 409, pledge, "owed no refund")
    answer = client.post(f"{base}/refunds/nothex", json={"amount": 1}, headers=shop.farm)
    refused(shop, answer, 422, "pledge")
    unchanged(shop, before)
    # After the harvest: a second one is refused by the replay, a shortfall with none too.
    shop.clock.ms += 21 * DAY
    assert client.post(base + "/harvest", json={"quantity": 15}, headers=shop.farm).is_success
    before = snapshot(shop)
    answer = client.post(base + "/harvest", json={"quantity": 15}, headers=shop.farm)
    refused(shop, answer, 409, "harvest")
    answer = client.post(base + "/shortfall", json={"policy": "pro-rata"}, headers=shop.farm)
    refused(shop, answer, 409, "no shortfall")
    unchanged(shop, before)


# -- transfers ------------------------------------------------------------------------------


def _framed(coupon: str, body: dict[str, Any], key: Ed25519PrivateKey, move: int = 1) -> str:
    """A statement signed over any body, encoded as canonical JSON would be but unchecked (to
    send what sign_statement refuses to make)."""
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    signed = frame(COUPON_MOVE_PREFIX, move, 1_000, statement_signer(coupon), data)
    return base64.b64encode(signed + key.sign(signed)).decode()


def test_bad_transfers_are_refused_naming_the_flaw(
    funded: tuple[Shop, Ed25519PrivateKey],
) -> None:
    shop, alice = funded
    client = shop.client
    bob, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    head = client.get(f"/v1/coupons/{C1}").json()["state"]
    path = f"/v1/coupons/{C1}/transfers"
    before = snapshot(shop)

    def send(statement: object, status: int, *named: str, at: str = path) -> None:
        refused(shop, client.post(at, json={"statement": statement}), status, *named)

    send("not base64!", 422, "base64")
    send("", 422, "statement")
    send(7, 422, "statement")
    send("A" * 9000, 422, "statement")
    send(base64.b64encode(b"FH\x01garbage").decode(), 422, "holder statement")
    send(base64.b64encode(b"FE\x01" + b"\x00" * 40).decode(), 422, "FH 01")
    # Signed by someone else than the holder: a bad signature, not a stale state.
    send(sign_transfer(shop, C1, head, mallory, address(mallory)), 422, "not signed by the holder")
    forged = base64.b64decode(sign_transfer(shop, C1, head, alice, address(bob)))
    send(base64.b64encode(forged[:-1] + bytes([forged[-1] ^ 1])).decode(), 422, "not signed")
    # A previous state that is not the head: unknown, or the coupon's issue state later.
    send(sign_transfer(shop, C1, "ab" * 32, alice, address(bob)), 409, head, "head")
    send(sign_transfer(shop, C1, head, alice, address(bob), move=5), 409, "move")
    # Another coupon's statement, or a redeem sent as a transfer.
    c2 = coupon_id(GCN, 2)
    send(sign_transfer(shop, c2, head, alice, address(bob)), 422, c2)
    redeem = sign_statement(1, shop.clock.ms, "redeem", C1, head, alice)
    send(base64.b64encode(redeem.payload).decode(), 422, "redeem")
    # Malformed recipient keys, negative or overflowing prices, unknown currencies.
    body: dict[str, Any] = {"op": "transfer", "coupon": C1, "prev": head}
    for to, named in (
        ("ab" * 31, "64 lowercase hex"),
        ("AB" * 32, "64 lowercase hex"),
        (NOT_ON_CURVE, "not a point on the curve"),
        (SMALL_ORDER, "small order"),
    ):
        send(_framed(C1, body | {"to": to}, alice), 422, named)
    for price, named in (
        ({"amount": -1, "currency": "CNY"}, "price"),
        ({"amount": MAX_INT + 1, "currency": "CNY"}, "price.amount"),
        ({"amount": 10, "currency": "XYZ"}, "ISO 4217"),
        ({"amount": 10}, "price"),
    ):
        send(_framed(C1, body | {"to": address(bob), "price": price}, alice), 422, named)
    send(_framed(C1, body | {"to": address(bob), "memo": "x"}, alice), 422, "memo")
    # Dated far in the future.
    future = sign_statement(1, shop.clock.ms + DAY, "transfer", C1, head, alice, to=address(bob))
    send(base64.b64encode(future.payload).decode(), 422, "future")
    # Unknown coupons and malformed coupon IDs.
    c99 = coupon_id(GCN, 99)
    send(
        sign_transfer(shop, c99, head, alice, address(bob)),
        404,
        c99,
        at=f"/v1/coupons/{c99}/transfers",
    )
    send(
        sign_transfer(shop, C1, head, alice, address(bob)),
        422,
        "coupon",
        at="/v1/coupons/123/transfers",
    )
    refused(shop, client.post(path, json={"statement": "x", "extra": 1}), 422, "extra")
    refused(shop, client.post(path, json={}), 422, "statement")
    unchanged(shop, before)

    # The good one is accepted; replaying it is the same state spent twice: 409 naming the head.
    good = sign_transfer(shop, C1, head, alice, address(bob))
    moved = client.post(path, json={"statement": good})
    assert moved.status_code == 201, moved.text
    before = snapshot(shop)
    send(good, 409, moved.json()["state"])
    unchanged(shop, before)


# -- redemptions ----------------------------------------------------------------------------


SHIPPING = {
    "kind": "shipping",
    "time": "2030-03-01T08:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


def test_bad_redemptions_are_refused(funded: tuple[Shop, Ed25519PrivateKey]) -> None:
    shop, alice = funded
    client = shop.client
    head = client.get(f"/v1/coupons/{C1}").json()["state"]
    ship = client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=SHIPPING, headers=shop.events)
    harvest = client.post(
        f"/v1/lots/{GTIN}/{LOT}/events",
        json=SHIPPING | {"kind": "harvest"},
        headers=shop.events,
    )
    assert ship.status_code == harvest.status_code == 201
    shipped = {"signer": ship.json()["signer"], "seq": ship.json()["seq"]}
    statement = base64.b64encode(
        sign_statement(1, shop.clock.ms, "redeem", C1, head, alice).payload
    ).decode()
    path = f"/v1/coupons/{C1}/redemptions"
    body = {"statement": statement, "event": shipped}
    before = snapshot(shop)

    def send(payload: object, status: int, *named: str, headers: Any = None) -> None:
        answer = client.post(
            path, json=payload, headers=shop.redeemer if headers is None else headers
        )
        refused(shop, answer, status, *named)

    send(body, 401, headers={})
    send(body, 403, "coupons:redeem", headers=shop.farm)
    send(body, 409, "before the harvest")
    shop.clock.ms += 21 * DAY
    assert client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 15}, headers=shop.farm
    ).is_success
    before = snapshot(shop)
    send(body | {"event": {"signer": shipped["signer"], "seq": 999}}, 404, "no event")
    send(body | {"event": {"signer": "nobody", "seq": 1}}, 404, "nobody")
    send(body | {"event": {"signer": shipped["signer"], "seq": 0}}, 422, "seq")
    send(body | {"event": {"signer": shipped["signer"], "seq": -1}}, 422, "seq")
    send(body | {"event": {"signer": shipped["signer"], "seq": 2**64}}, 422, "seq")
    send(body | {"event": {"signer": "", "seq": 1}}, 422, "signer")
    send({"statement": statement}, 422, "event")
    other = {"signer": harvest.json()["signer"], "seq": harvest.json()["seq"]}
    send(body | {"event": other}, 422, "shipping", "harvest")
    transfer = sign_transfer(shop, C1, head, alice, address(alice))
    send(body | {"statement": transfer}, 422, "transfer")
    mallory = Ed25519PrivateKey.generate()
    forged = sign_statement(1, shop.clock.ms, "redeem", C1, head, mallory)
    send(body | {"statement": base64.b64encode(forged.payload).decode()}, 422, "not signed")
    stale = sign_statement(1, shop.clock.ms, "redeem", C1, "cd" * 32, alice)
    send(body | {"statement": base64.b64encode(stale.payload).decode()}, 409, head)
    send(body | {"statement": "%%%"}, 422, "base64")
    unchanged(shop, before)
    assert client.post(path, json=body, headers=shop.redeemer).status_code == 200
    before = snapshot(shop)
    send(body, 409, "redeemed")
    unchanged(shop, before)


def test_void_coupons_and_failed_or_closed_campaigns_refuse_everything(shop: Shop) -> None:
    client = shop.client
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    head = client.get(f"/v1/coupons/{C1}").json()["state"]
    shop.clock.ms += 11 * DAY
    assert client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).is_success
    before = snapshot(shop)
    pledge = {"holder": address(alice), "count": 1}
    refused(shop, client.post(f"/v1/campaigns/{GCN}/pledges", json=pledge), 409, "failed")
    transfer = sign_transfer(shop, C1, head, alice, address(alice))
    answer = client.post(f"/v1/coupons/{C1}/transfers", json={"statement": transfer})
    refused(shop, answer, 409, "void")
    answer = client.post(f"/v1/campaigns/{GCN}/harvest", json={"quantity": 5}, headers=shop.farm)
    refused(shop, answer, 409)
    unchanged(shop, before)
    assert client.post(f"/v1/campaigns/{GCN}/close", headers=shop.farm).is_success
    before = snapshot(shop)
    refused(shop, client.post(f"/v1/campaigns/{GCN}/pledges", json=pledge), 409, "closed")
    refused(shop, client.post(f"/v1/campaigns/{GCN}/close", headers=shop.farm), 409, "closed")
    refused(shop, client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm), 409, "closed")
    unchanged(shop, before)


def test_text_that_is_no_unicode_is_refused(funded: tuple[Shop, Ed25519PrivateKey]) -> None:
    shop, alice = funded
    before = snapshot(shop)
    raw = json.dumps({"holder": address(alice), "count": 1, "contact": "@"}).replace("@", "\\ud800")
    answer = shop.client.post(
        f"/v1/campaigns/{GCN}/pledges",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.text
    terms_raw = json.dumps(terms(campaign=OTHER_GCN)).replace("Each coupon", "\\udc00 coupon")
    answer = shop.client.post(
        "/v1/campaigns",
        content=terms_raw.encode(),
        headers={"Content-Type": "application/json"} | shop.farm,
    )
    assert 400 <= answer.status_code < 500, answer.text
    unchanged(shop, before)
