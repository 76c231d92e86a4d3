"""The coupon market over HTTP, on SQLite and PostgreSQL: a holder-signed listing, refused
listings (bad signature, wrong holder, stale state, wrong currency, listed twice), a buyer's
signed offer, the sale (a transfer to the offering buyer at the listed price) ending the
listing as ``sold``, another transfer ending it as ``moved``, withdrawal, the campaign's
listings with the price history, the market page with its chart, and OpenAPI."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import Served
from support.commerce_api import GCN, Shop, address, sign_transfer

from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.listing import (
    list_statement,
    listing_id,
    offer_statement,
    withdraw_statement,
)


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def head(shop: Shop, coupon: str) -> dict[str, Any]:
    found = shop.client.get(f"/v1/coupons/{coupon}")
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def listing_body(
    shop: Shop,
    coupon: str,
    key: Ed25519PrivateKey,
    amount: int = 5000,
    currency: str = "CNY",
    state: str | None = None,
    seller: str | None = None,
    signer: Ed25519PrivateKey | None = None,
    time_ms: int | None = None,
) -> dict[str, Any]:
    state = state or head(shop, coupon)["state"]
    seller = seller or address(key)
    at = time_ms or shop.clock.ms
    signed = list_statement(coupon, state, seller, amount, currency, at)
    return {
        "state": state,
        "seller": seller,
        "price": {"amount": amount, "currency": currency},
        "time_ms": at,
        "signature": _b64((signer or key).sign(signed)),
    }


def offer_body(shop: Shop, listing: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    at = shop.clock.ms
    return {
        "buyer": address(key),
        "time_ms": at,
        "signature": _b64(key.sign(offer_statement(listing, address(key), at))),
    }


def withdraw_body(shop: Shop, listing: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    at = shop.clock.ms
    return {"time_ms": at, "signature": _b64(key.sign(withdraw_statement(listing, at)))}


def test_list_offer_and_sell(shop: Shop) -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    body = listing_body(shop, c1, alice)
    made = client.post(f"/v1/coupons/{c1}/listings", json=body)
    assert made.status_code == 201, made.text
    listing = made.json()
    signed = list_statement(c1, body["state"], address(alice), 5000, "CNY", body["time_ms"])
    assert listing["id"] == listing_id(signed)
    assert listing["statement"].encode() == signed
    assert listing["ended"] is None and listing["offers"] == []
    assert listing["price"] == {"amount": 5000, "currency": "CNY"}

    # The same statement again, or another listing of the same coupon: 409.
    again = client.post(f"/v1/coupons/{c1}/listings", json=body)
    assert again.status_code == 409, again.text
    other = listing_body(shop, c1, alice, amount=6000)
    assert client.post(f"/v1/coupons/{c1}/listings", json=other).status_code == 409

    market = client.get(f"/v1/campaigns/{GCN}/listings").json()
    assert [item["id"] for item in market["open"]] == [listing["id"]]
    assert market["ended"] == [] and market["prices"] == [] and market["currency"] == "CNY"

    offered = client.post(
        f"/v1/listings/{listing['id']}/offers", json=offer_body(shop, listing["id"], bob)
    )
    assert offered.status_code == 201, offered.text
    assert [o["buyer"] for o in offered.json()["offers"]] == [address(bob)]
    # The seller sees the offer in their wallet view; the buyer sees what they offered on.
    mine = client.get("/v1/listings", params={"address": address(alice)}).json()
    assert [o["buyer"] for o in mine["selling"][0]["offers"]] == [address(bob)]
    theirs = client.get("/v1/listings", params={"address": address(bob)}).json()
    assert [item["id"] for item in theirs["offered"]] == [listing["id"]]

    # The sale: Alice transfers to Bob at the listed price.
    stmt = sign_transfer(shop, c1, body["state"], alice, address(bob), price=(5000, "CNY"))
    assert client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt}).status_code == 201
    sold = client.get(f"/v1/listings/{listing['id']}").json()
    assert sold["ended"] == "sold" and sold["ended_state"] == head(shop, c1)["state"]
    market = client.get(f"/v1/campaigns/{GCN}/listings").json()
    assert market["open"] == [] and [e["ended"] for e in market["ended"]] == ["sold"]
    assert [(p["coupon"], p["price"]["amount"]) for p in market["prices"]] == [(c1, 5000)]
    # An ended listing takes no offer and cannot be withdrawn.
    late = client.post(
        f"/v1/listings/{listing['id']}/offers",
        json=offer_body(shop, listing["id"], Ed25519PrivateKey.generate()),
    )
    assert late.status_code == 409, late.text
    gone = client.post(
        f"/v1/listings/{listing['id']}/withdraw", json=withdraw_body(shop, listing["id"], alice)
    )
    assert gone.status_code == 409 and "sold" in gone.json()["detail"]

    # Bob lists it again in its new state: a new listing; the page shows both and the chart.
    relisted = client.post(f"/v1/coupons/{c1}/listings", json=listing_body(shop, c1, bob))
    assert relisted.status_code == 201, relisted.text
    page = client.get(f"/campaigns/{GCN}/market", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'lang="zh-Hans"' in html and 'id="price-chart"' in html
    assert f'data-listing="{relisted.json()["id"]}"' in html
    assert 'data-ended="sold"' in html and "<style" not in html and " onclick" not in html
    assert '<script type="module" src="/static/market/market.js">' in html
    english = client.get(f"/campaigns/{GCN}/market?lang=en").text
    assert "Coupon market" in english and "50.00\u00a0CNY" in english


def test_a_transfer_elsewhere_ends_the_listing_as_moved(shop: Shop) -> None:
    alice, bob, carol = (Ed25519PrivateKey.generate() for _ in range(3))
    shop.open_and_issue(alice, 1)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    body = listing_body(shop, c1, alice)
    listing = client.post(f"/v1/coupons/{c1}/listings", json=body).json()
    client.post(
        f"/v1/listings/{listing['id']}/offers", json=offer_body(shop, listing["id"], bob)
    ).raise_for_status()
    # To the offering buyer but at another price: moved, not sold.
    stmt = sign_transfer(shop, c1, body["state"], alice, address(bob), price=(4000, "CNY"))
    client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt}).raise_for_status()
    assert client.get(f"/v1/listings/{listing['id']}").json()["ended"] == "moved"
    # A listing by the new holder, then a gift to someone who never offered: moved.
    body = listing_body(shop, c1, bob)
    second = client.post(f"/v1/coupons/{c1}/listings", json=body).json()
    stmt = sign_transfer(shop, c1, body["state"], bob, address(carol), move=2)
    client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt}).raise_for_status()
    ended = client.get(f"/v1/campaigns/{GCN}/listings").json()["ended"]
    assert sorted((e["id"], e["ended"]) for e in ended) == sorted(
        [(listing["id"], "moved"), (second["id"], "moved")]
    )


def test_withdraw(shop: Shop) -> None:
    alice, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    listing = client.post(f"/v1/coupons/{c1}/listings", json=listing_body(shop, c1, alice)).json()
    forged = client.post(
        f"/v1/listings/{listing['id']}/withdraw", json=withdraw_body(shop, listing["id"], mallory)
    )
    assert forged.status_code == 422 and "seller" in forged.json()["detail"]
    done = client.post(
        f"/v1/listings/{listing['id']}/withdraw", json=withdraw_body(shop, listing["id"], alice)
    )
    assert done.status_code == 200, done.text
    assert done.json()["ended"] == "withdrawn"
    assert client.get(f"/v1/campaigns/{GCN}/listings").json()["open"] == []
    # Withdrawn, the coupon can be listed again (a new statement, a new price).
    again = client.post(
        f"/v1/coupons/{c1}/listings", json=listing_body(shop, c1, alice, amount=4700)
    )
    assert again.status_code == 201, again.text


def test_refused_listings(shop: Shop) -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    url = f"/v1/coupons/{c1}/listings"

    def post(body: dict[str, Any]) -> tuple[int, str]:
        answer = client.post(url, json=body)
        assert answer.status_code < 500, answer.text
        return answer.status_code, str(answer.json().get("detail"))

    # Signed by someone else than the seller it names: 422.
    status, detail = post(listing_body(shop, c1, alice, signer=bob))
    assert status == 422 and "signature" in detail
    # A valid signature by a key that does not hold the coupon: 409.
    status, detail = post(listing_body(shop, c1, bob))
    assert status == 409 and "held by another address" in detail
    # A state that is not the coupon's head: 409.
    status, detail = post(listing_body(shop, c1, alice, state="ab" * 32))
    assert status == 409 and "current state" in detail
    # The campaign sells in CNY.
    status, detail = post(listing_body(shop, c1, alice, currency="EUR"))
    assert status == 422 and "CNY" in detail
    # Dated in the future, a malformed signature, a negative price, unknown fields: 422.
    status, _ = post(listing_body(shop, c1, alice, time_ms=shop.clock.ms + 3_600_000))
    assert status == 422
    status, detail = post({**listing_body(shop, c1, alice), "signature": "AAAA"})
    assert status == 422 and "64 bytes" in detail
    negative = listing_body(shop, c1, alice)
    negative["price"]["amount"] = -1
    status, _ = post(negative)
    assert status == 422
    status, _ = post({**listing_body(shop, c1, alice), "note": "call me"})
    assert status == 422
    # Unknown coupon, campaign, listing: 404; a malformed listing ID: 422.
    missing = coupon_id(GCN, 99)
    assert (
        client.post(
            f"/v1/coupons/{missing}/listings",
            json=listing_body(shop, missing, alice, state="ab" * 32),
        ).status_code
        == 404
    )
    assert client.get("/v1/campaigns/0950600013439/listings").status_code in (404, 422)
    assert client.get(f"/v1/listings/{'0' * 32}").status_code == 404
    assert client.get("/v1/listings/not-an-id").status_code == 422
    unknown = client.get("/campaigns/0950600013439/market")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert "not found" in unknown.text
    malformed = client.get("/campaigns/0950600013438/market")
    assert malformed.status_code == 422 and "check digit" in malformed.text
    # Offers: by the seller, or badly signed, are refused.
    listing = client.post(url, json=listing_body(shop, c1, alice)).json()
    own = client.post(
        f"/v1/listings/{listing['id']}/offers", json=offer_body(shop, listing["id"], alice)
    )
    assert own.status_code == 409, own.text
    bad = {**offer_body(shop, listing["id"], bob), "buyer": address(alice)}
    assert client.post(f"/v1/listings/{listing['id']}/offers", json=bad).status_code in (409, 422)
    forged = {**offer_body(shop, listing["id"], bob), "signature": _b64(bytes(64))}
    assert client.post(f"/v1/listings/{listing['id']}/offers", json=forged).status_code == 422


def test_market_in_openapi(shop: Shop) -> None:
    paths = shop.client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/campaigns/{gcn}/listings",
        "/v1/coupons/{coupon}/listings",
        "/v1/listings",
        "/v1/listings/{listing}",
        "/v1/listings/{listing}/withdraw",
        "/v1/listings/{listing}/offers",
    ):
        assert path in paths, path
