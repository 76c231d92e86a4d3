"""The farm co-operative (``docs/communities/farm-coop.json``) over the API: a backer mints on
a harvest campaign's confirmed pledge (10 % of the amount paid at 1 CNY a share), a worker on
hours; a pledge mints once, an unconfirmed one not at all; the audit checks the pledge against
the campaign's issue entry."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce_api import GCN, HOLDER_KEY, address, seed_campaign
from support.community_api import Community

from farmtrace.api.auth import create_key
from farmtrace.audit import run_audit

ROOT = Path(__file__).resolve().parents[2]
COOP = "/v1/communities/green-valley-coop"
# The co-operative's operator seed (b0.. repeated): docs/community.md section 6.
OPERATOR = Ed25519PrivateKey.from_private_bytes(bytes.fromhex("b0" * 32))
WORKER = "5912dac020dcdaba767ceca64243e845176215c485e418e50f80205d81218a91"


def test_pledges_and_work_mint_by_the_coops_rules(community: Community) -> None:
    c = community
    farm = {"Authorization": "Bearer " + create_key(c.state.database, "farm", ["campaigns:write"])}
    seed_campaign(c.client, farm)  # one coupon at 45.00 CNY issued to HOLDER_KEY
    c.state.communities.keys.provide("green-valley-coop", OPERATOR)
    rules = json.loads((ROOT / "docs" / "communities" / "farm-coop.json").read_text("utf-8"))
    created = c.client.post("/v1/communities", json=rules, headers=c.operator)
    assert created.status_code == 201, created.text
    head = c.state.campaigns.head(GCN)
    pledge = c.state.campaigns.campaigns.pledges(head.id)[0]
    minted = c.client.post(
        f"{COOP}/pledges", json={"campaign": GCN, "pledge": pledge.id}, headers=c.operator
    )
    assert minted.status_code == 201, minted.text
    body = minted.json()
    assert body["minted"] == 4  # 10 % of 4500 fen at 100 fen a share: 4.5, rounded down
    assert body["body"]["member"] == address(HOLDER_KEY) and body["body"]["amount"] == 4500
    again = c.client.post(
        f"{COOP}/pledges", json={"campaign": GCN, "pledge": pledge.id}, headers=c.operator
    )
    assert again.status_code == 422 and f"pledge {pledge.id} was minted on" in again.text
    unknown = c.client.post(
        f"{COOP}/pledges", json={"campaign": GCN, "pledge": "1" * 32}, headers=c.operator
    )
    assert unknown.status_code == 404
    worked = c.client.post(
        f"{COOP}/work",
        json={"member": WORKER, "minutes": 90, "reference": "rota"},
        headers=c.operator,
    )
    assert worked.status_code == 201 and worked.json()["minted"] == 45  # 30 an hour
    report = run_audit(c.served.db_url)
    assert report.ok, report.failure
    assert report.community.mints == 2
