"""``farmtrace audit`` over the coupon market, on SQLite and PostgreSQL: listings (open, sold,
withdrawn) and offers made through the API pass; a listing's price, an offer's signature, an
end reason or a withdrawal altered in the database is named as the first bad item."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from support.api import Served
from support.commerce_api import GCN, Shop, address, sign_transfer
from test_api_market import listing_body, offer_body, withdraw_body

from farmtrace.audit import run_audit
from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.engine import create_db_engine


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def market(shop: Shop) -> dict[str, str]:
    """Three listings: one sold to a buyer who offered, one withdrawn, one open with an offer."""
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 3)
    client = shop.client
    ids = {}
    for serial, name in ((1, "sold"), (2, "withdrawn"), (3, "open")):
        coupon = coupon_id(GCN, serial)
        body = listing_body(shop, coupon, alice)
        made = client.post(f"/v1/coupons/{coupon}/listings", json=body)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
        if name != "withdrawn":
            offer = client.post(
                f"/v1/listings/{ids[name]}/offers", json=offer_body(shop, ids[name], bob)
            )
            assert offer.status_code == 201, offer.text
        if name == "sold":
            stmt = sign_transfer(shop, coupon, body["state"], alice, address(bob), (5000, "CNY"))
            moved = client.post(f"/v1/coupons/{coupon}/transfers", json={"statement": stmt})
            assert moved.status_code == 201, moved.text
        if name == "withdrawn":
            done = client.post(
                f"/v1/listings/{ids[name]}/withdraw", json=withdraw_body(shop, ids[name], alice)
            )
            assert done.status_code == 200, done.text
    assert client.get(f"/v1/listings/{ids['sold']}").json()["ended"] == "sold"
    return ids


def alter(db_url: str, statement: str, **values: object) -> None:
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text(statement), values).rowcount == 1
    finally:
        engine.dispose()


def test_the_audit_checks_the_market(shop: Shop) -> None:
    ids = market(shop)
    db_url = shop.served.db_url
    report = run_audit(db_url)
    assert report.ok, report.failure
    m = report.market
    assert (m.listings, m.open, m.ended, m.offers) == (3, 1, 2, 2)
    assert m.signatures == 3 + 2 + 1  # listings, offers, the withdrawal
    assert "3 coupon market listings" in report.to_text()

    cases = [
        (
            "UPDATE coupon_listings SET price_amount = 1 WHERE id = :id",
            {"id": ids["open"]},
            "not the hash of its statement",
        ),
        (
            "UPDATE coupon_listings SET ended = 'moved' WHERE id = :id",
            {"id": ids["sold"]},
            "says sold",
        ),
        (
            "UPDATE coupon_listings SET ended_time_ms = ended_time_ms + 1 WHERE id = :id",
            {"id": ids["withdrawn"]},
            "signed withdrawal",
        ),
        (
            "UPDATE listing_offers SET time_ms = time_ms + 1 WHERE listing_id = :id",
            {"id": ids["open"]},
            "buyer's signature",
        ),
    ]
    for statement, values, reason in cases:
        alter(db_url, statement, **values)
        report = run_audit(db_url)
        assert not report.ok and report.failure is not None
        assert reason in report.failure["reason"], report.failure
        assert "market listing" in report.failure["item"]
        # Put it back for the next case (the inverse of each change).
        undo = {
            "UPDATE coupon_listings SET price_amount = 1 WHERE id = :id": (
                "UPDATE coupon_listings SET price_amount = 5000 WHERE id = :id"
            ),
            "UPDATE coupon_listings SET ended = 'moved' WHERE id = :id": (
                "UPDATE coupon_listings SET ended = 'sold' WHERE id = :id"
            ),
        }.get(statement, statement.replace("+ 1", "- 1"))
        alter(db_url, undo, **values)
    assert run_audit(db_url).ok
