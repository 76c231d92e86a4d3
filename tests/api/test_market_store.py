"""The market's store (farmtrace/store/listings.py) on SQLite and PostgreSQL: one open listing
per coupon whatever the caller does (the partial unique index), a void ending its listing as
``void`` and a redemption as ``redeemed``, settling being a no-op when nothing moved, and the
wallet reads."""

from __future__ import annotations

import base64
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, Served
from support.commerce_api import DAY, GCN, Shop, address

from farmtrace.commerce.entries import sign_statement
from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.errors import StateConflictError
from farmtrace.store.listings import Listings, NewListing


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def new_listing(shop: Shop, serial: int, seller: str, ident: str, amount: int = 100) -> NewListing:
    head, record = shop.state.campaigns.coupon(coupon_id(GCN, serial))
    return NewListing(
        ident, head.id, serial, record.state, seller, amount, "CNY", shop.clock.ms, "sig"
    )


def test_one_open_listing_per_coupon_and_a_void_ends_it(shop: Shop) -> None:
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)  # target 3: the campaign fails at its deadline
    listings = Listings(shop.state.database)
    first = listings.add(new_listing(shop, 1, address(alice), "a" * 32))
    assert first.ended is None and first.gcn == GCN and first.serial == 1
    with pytest.raises(StateConflictError):
        listings.add(new_listing(shop, 1, address(alice), "b" * 32, amount=200))
    with pytest.raises(StateConflictError):  # the same ID again
        listings.add(new_listing(shop, 2, address(alice), "a" * 32))
    with pytest.raises(StateConflictError, match="does not hold"):
        listings.add(new_listing(shop, 2, address(Ed25519PrivateKey.generate()), "c" * 32))
    listings.add(new_listing(shop, 2, address(alice), "d" * 32))
    assert listings.settle(first.campaign_id) == 0  # nothing moved

    selling = listings.by_seller(address(alice))
    assert sorted(r.id for r in selling) == ["a" * 32, "d" * 32]
    assert [r.id for r in listings.open_listings(first.campaign_id)] == ["a" * 32, "d" * 32]
    assert listings.campaigns_of(address(alice)) == [first.campaign_id]

    shop.clock.ms += 11 * DAY
    settled = shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm)
    assert settled.status_code == 200, settled.text
    assert listings.settle(first.campaign_id) == 2
    ended = listings.ended_listings(first.campaign_id)
    assert sorted((r.id, r.ended) for r in ended) == [("a" * 32, "void"), ("d" * 32, "void")]
    assert all(r.ended_state is not None for r in ended)
    assert listings.open_listings(first.campaign_id) == []
    assert listings.counts() == {"listings": 2, "offers": 0}


SHIPPING = {
    "kind": "shipping",
    "time": "2030-03-01T08:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


def test_a_redemption_ends_the_listing_as_redeemed(shop: Shop) -> None:
    """A holder who listed a coupon and then redeems it at pickup: the listing ends
    ``redeemed``, and the redeemed coupon cannot be listed again."""
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 3)
    client = shop.client
    assert client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).status_code == 200
    c1 = coupon_id(GCN, 1)
    listings = Listings(shop.state.database)
    listed = listings.add(new_listing(shop, 1, address(alice), "e" * 32))
    shop.clock.ms += 21 * DAY
    harvested = client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 20}, headers=shop.farm
    )
    assert harvested.status_code == 200, harvested.text
    event = client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=SHIPPING, headers=shop.events)
    assert event.status_code == 201, event.text
    state = client.get(f"/v1/coupons/{c1}").json()["state"]
    redeem = sign_statement(1, shop.clock.ms, "redeem", c1, state, alice)
    body = {
        "statement": base64.b64encode(redeem.payload).decode(),
        "event": {"signer": event.json()["signer"], "seq": event.json()["seq"]},
    }
    redeemed = client.post(f"/v1/coupons/{c1}/redemptions", json=body, headers=shop.redeemer)
    assert redeemed.status_code == 200, redeemed.text
    assert listings.settle(listed.campaign_id, 1) == 1
    after = listings.get(listed.id)
    assert after is not None and after.ended == "redeemed"
    assert after.ended_state == redeemed.json()["state"]
    with pytest.raises(StateConflictError, match="redeemed"):
        listings.add(new_listing(shop, 1, address(alice), "f" * 32))


def test_concurrent_listings_of_one_coupon_leave_exactly_one_open(shop: Shop) -> None:
    """Eight writers list one coupon at once (as eight tabs or API workers could): exactly one
    listing is stored, every other writer gets StateConflictError, none a database error."""
    alice = Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    listings = Listings(shop.state.database)
    news = [new_listing(shop, 1, address(alice), f"{i:032x}", amount=100 + i) for i in range(8)]
    barrier = threading.Barrier(len(news))
    outcomes: list[str] = []

    def write(new: NewListing) -> None:
        barrier.wait()
        try:
            listings.add(new)
            outcomes.append("stored")
        except StateConflictError:
            outcomes.append("conflict")
        except Exception as exc:  # the test reports any other outcome
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=write, args=(n,)) for n in news]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 7 + ["stored"], outcomes
    assert len(listings.open_listings(news[0].campaign_id)) == 1
