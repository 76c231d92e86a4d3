"""The market's store (farmtrace/store/listings.py) on SQLite and PostgreSQL: one open listing
per coupon whatever the caller does (the partial unique index), a void ending its listing as
``void``, settling being a no-op when nothing moved, and the wallet reads."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import Served
from support.commerce_api import DAY, GCN, Shop, address

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
