"""The campaign API over the ``served`` test API: a settable clock, keys with the farm's scopes
(``campaigns:write``, ``coupons:redeem``), terms for the served lot, and signing helpers."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from farmtrace.api.auth import create_key
from farmtrace.api.services.campaigns import CampaignService
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import decode_campaign_entry, decode_statement, sign_statement
from farmtrace.commerce.gcn import check_digit
from farmtrace.commerce.replay import CampaignReplay
from support.api import GTIN, LOT, Served
from support.commerce import Clock, address

__all__ = [
    "DAY",
    "GCN",
    "HOLDER_KEY",
    "NOW_MS",
    "Shop",
    "address",
    "replay_all",
    "seed_campaign",
    "shop",
    "sign_transfer",
    "terms",
]

GCN = "950600013435" + check_digit("950600013435")
NOW_MS = 1_900_000_000_000
DAY = 86_400_000


@dataclass
class Shop:
    """The served API with the campaign service on ``clock``, and the headers of a farm key
    (``campaigns:write``), a redeeming key (``coupons:redeem``) and the events key."""

    served: Served
    client: TestClient
    state: AppState
    clock: Clock
    farm: dict[str, str]
    redeemer: dict[str, str]
    events: dict[str, str]

    def open_and_issue(self, holder: Ed25519PrivateKey, count: int, **over: Any) -> str:
        """Open the campaign, pledge ``count`` coupons to ``holder`` and confirm the payment;
        the pledge's ID."""
        created = self.client.post("/v1/campaigns", json=terms(**over), headers=self.farm)
        assert created.status_code == 201, created.text
        pledged = self.client.post(
            f"/v1/campaigns/{GCN}/pledges",
            json={"holder": address(holder), "count": count, "contact": "alice@example.org"},
        )
        assert pledged.status_code == 201, pledged.text
        pledge = str(pledged.json()["pledge"])
        confirmed = self.client.post(
            f"/v1/campaigns/{GCN}/pledges/{pledge}/confirm",
            json={"payment_reference": "bank-ref"},
            headers=self.farm,
        )
        assert confirmed.status_code == 200, confirmed.text
        return pledge


@pytest.fixture
def shop(served: Served) -> Iterator[Shop]:
    app: Any = served.client.app
    state: AppState = app.state.farmtrace
    clock = Clock()
    clock.ms = NOW_MS
    old = state.campaigns
    state.campaigns = CampaignService(old.campaigns, old.farm_keys, old.lots, clock)
    farm = create_key(state.database, "farm", ["campaigns:write"])
    redeemer = create_key(state.database, "till", ["coupons:redeem"])
    yield Shop(
        served,
        served.client,
        state,
        clock,
        {"Authorization": f"Bearer {farm}"},
        {"Authorization": f"Bearer {redeemer}"},
        {"Authorization": f"Bearer {served.key}"},
    )


def terms(**over: Any) -> dict[str, Any]:
    """Terms of a campaign for the served lot: 5 kg for 45.00 CNY, target 3, cap 6."""
    body: dict[str, Any] = {
        "campaign": GCN,
        "farm": "greenacre",
        "gtin": GTIN,
        "lot": LOT,
        "per_coupon": {"quantity": 5, "unit": "KGM"},
        "price": {"amount": 4500, "currency": "CNY"},
        "target": 3,
        "cap": 6,
        "opens_ms": NOW_MS - DAY,
        "deadline_ms": NOW_MS + 10 * DAY,
        "delivery": {"from_ms": NOW_MS + 20 * DAY, "until_ms": NOW_MS + 30 * DAY},
        "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
    }
    body.update(over)
    return body


def sign_transfer(
    shop: Shop,
    coupon: str,
    prev: str,
    key: Ed25519PrivateKey,
    to: str,
    price: tuple[int, str] | None = None,
    move: int = 1,
) -> str:
    """A transfer statement of ``coupon`` from state ``prev`` signed by ``key``, in base64."""
    stmt = sign_statement(move, shop.clock.ms, "transfer", coupon, prev, key, to=to, price=price)
    return base64.b64encode(stmt.payload).decode("ascii")


def replay_all(shop: Shop) -> CampaignReplay:
    """The stored campaign replayed from its entries and transfers under the reference rules
    (raises at the first broken rule)."""
    service = shop.state.campaigns
    head = service.head(GCN)
    replay = CampaignReplay(service.farm_keys.key(head.farm).public_key().public_bytes_raw())
    for move in service.campaigns.moves(head.id):
        if move.op == "transfer":
            assert move.payload is not None
            replay.add_transfer(decode_statement(move.payload))
    for entry in service.campaigns.entries(head.id, with_anchors=False):
        replay.apply(decode_campaign_entry(entry.payload))
    replay.finish()
    return replay


HOLDER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
"""A fixed holder key, so that paths and queries naming its address can be constants."""


def seed_campaign(client: TestClient, farm: dict[str, str]) -> str:
    """Open campaign :data:`GCN` for the served lot on the real clock and issue one coupon to
    :data:`HOLDER_KEY` (``farm``: headers of a ``campaigns:write`` key); the coupon's ID."""
    now = int(time.time() * 1000)
    body = terms(
        opens_ms=now - DAY,
        deadline_ms=now + 10 * DAY,
        delivery={"from_ms": now + 20 * DAY, "until_ms": now + 30 * DAY},
    )
    assert client.post("/v1/campaigns", json=body, headers=farm).status_code == 201
    pledged = client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(HOLDER_KEY), "count": 1}
    )
    assert pledged.status_code == 201, pledged.text
    confirmed = client.post(
        f"/v1/campaigns/{GCN}/pledges/{pledged.json()['pledge']}/confirm",
        json={"payment_reference": "seed"},
        headers=farm,
    )
    assert confirmed.status_code == 200, confirmed.text
    return str(confirmed.json()["coupons"][0])
