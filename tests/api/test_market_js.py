"""The market's browser client (static/market/client.js) against the real API: node signs a
listing, an offer, a sale (the wallet's transfer statement at the listed price) and a
withdrawal with keys from known seeds, exactly as the pages do; the server accepts each, and
the listing ends as sold."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce_api import GCN, Shop, address
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.commerce.gcn import coupon_id

pytestmark = pytest.mark.slow  # runs node

SELLER_SEED = bytes(range(1, 33))
BUYER_SEED = bytes(range(33, 65))


def run_client(tmp: Path, case: dict[str, Any]) -> list[dict[str, Any]]:
    node = require_node()
    path = tmp / f"market-client-{case['action']}.json"
    path.write_text(json.dumps(case))
    done = subprocess.run(
        [node, "tests/js/market_client_run.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "MARKET_CLIENT_CASE": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sent: list[dict[str, Any]] = json.loads(done.stdout)
    return sent


def test_the_browser_client_lists_offers_and_sells(shop: Shop, tmp_path: Path) -> None:
    seller = Ed25519PrivateKey.from_private_bytes(SELLER_SEED)
    buyer = Ed25519PrivateKey.from_private_bytes(BUYER_SEED)
    shop.open_and_issue(seller, 1)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    view = client.get(f"/v1/coupons/{c1}").json()
    base = {"coupon": c1, "view": view, "amount": 5250, "currency": "CNY"}

    [listing_request] = run_client(
        tmp_path,
        {**base, "action": "list", "seed": SELLER_SEED.hex(), "address": address(seller)},
    )
    assert listing_request["url"] == f"/v1/coupons/{c1}/listings"
    made = client.post(listing_request["url"], json=listing_request["body"])
    assert made.status_code == 201, made.text
    listing = made.json()["id"]

    [offer_request] = run_client(
        tmp_path,
        {
            **base,
            "action": "offer",
            "listing": listing,
            "seed": BUYER_SEED.hex(),
            "address": address(buyer),
        },
    )
    offered = client.post(offer_request["url"], json=offer_request["body"])
    assert offered.status_code == 201, offered.text

    [sale_request] = run_client(
        tmp_path,
        {
            **base,
            "action": "sell",
            "buyer": address(buyer),
            "seed": SELLER_SEED.hex(),
            "address": address(seller),
        },
    )
    assert sale_request["url"] == f"/v1/coupons/{c1}/transfers"
    moved = client.post(sale_request["url"], json=sale_request["body"])
    assert moved.status_code == 201, moved.text
    assert client.get(f"/v1/listings/{listing}").json()["ended"] == "sold"


def test_the_browser_client_withdraws(shop: Shop, tmp_path: Path) -> None:
    seller = Ed25519PrivateKey.from_private_bytes(SELLER_SEED)
    shop.open_and_issue(seller, 1)
    client = shop.client
    c1 = coupon_id(GCN, 1)
    view = client.get(f"/v1/coupons/{c1}").json()
    who = {"seed": SELLER_SEED.hex(), "address": address(seller)}
    base = {"coupon": c1, "view": view, "amount": 0, "currency": "CNY", **who}
    [listing_request] = run_client(tmp_path, {**base, "action": "list"})
    listing = client.post(listing_request["url"], json=listing_request["body"]).json()["id"]
    [withdraw_request] = run_client(tmp_path, {**base, "action": "withdraw", "listing": listing})
    done = client.post(withdraw_request["url"], json=withdraw_request["body"])
    assert done.status_code == 200, done.text
    assert done.json()["ended"] == "withdrawn"
