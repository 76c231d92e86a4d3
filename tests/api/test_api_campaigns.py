"""Campaigns and coupons over HTTP: a whole campaign's life (open, pledge, confirm payment,
settle, a holder's transfer with a declared price, a second spend refused naming the head,
harvest, a redemption linked to the shipping event), a failed campaign's refunds, a pro-rata
shortfall, the GS1 Digital Link (``/255/``) answers, and the stored history replaying clean
under the reference rules; on SQLite and on PostgreSQL. Bad input of every endpoint is in
``test_api_campaigns_bad.py``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, Served
from support.commerce_api import (
    DAY,
    GCN,
    Shop,
    address,
    replay_all,
    sign_transfer,
    terms,
)

from farmtrace.commerce.entries import decode_campaign_entry, fingerprint, sign_statement
from farmtrace.commerce.gcn import coupon_id


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


SHIPPING = {
    "kind": "shipping",
    "time": "2030-03-01T08:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


def test_a_campaign_from_opening_to_redemption(shop: Shop) -> None:
    client = shop.client
    created = client.post("/v1/campaigns", json=terms(), headers=shop.farm)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["campaign"] == GCN and view["status"] == "open" and view["cseq"] == 1
    assert len(view["terms_sha256"]) == 64 and view["terms"]["price"]["currency"] == "CNY"
    assert len(view["farm_key"]) == 64 and view["farm_signer"].startswith("farm.")
    assert [(e["cseq"], e["op"], e["anchored"]) for e in view["entries"]] == [(1, "open", False)]
    assert view["entries"][0]["state"] == view["head"]
    assert view["digital_link"].endswith(f"/255/{GCN}")
    assert view["lot_digital_link"].endswith(f"/01/{GTIN}/10/{LOT}")
    assert view["totals"] == {"issued": 0, "redeemed": 0, "voided": 0, "outstanding": 0}
    listed = client.get("/v1/campaigns").json()
    assert [c["campaign"] for c in listed] == [GCN] and "entries" not in listed[0]

    alice, bob, carol = (Ed25519PrivateKey.generate() for _ in range(3))
    pledged = client.post(
        f"/v1/campaigns/{GCN}/pledges",
        json={"holder": address(alice), "count": 2, "contact": "alice@example.org"},
    )
    assert pledged.status_code == 201, pledged.text
    p1 = pledged.json()
    assert p1["amount"] == 9000 and p1["currency"] == "CNY"
    assert p1["status"] == "awaiting-payment" and len(p1["pledge"]) == 32
    p2 = client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(bob), "count": 2}
    ).json()

    issued = client.post(
        f"/v1/campaigns/{GCN}/pledges/{p1['pledge']}/confirm",
        json={"payment_reference": "bank-ref-1"},
        headers=shop.farm,
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["coupons"] == [coupon_id(GCN, 1), coupon_id(GCN, 2)]
    assert issued.json()["cseq"] == 2
    client.post(
        f"/v1/campaigns/{GCN}/pledges/{p2['pledge']}/confirm",
        json={"payment_reference": "bank-ref-2"},
        headers=shop.farm,
    ).raise_for_status()
    settled = client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm)
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "funded"
    assert [e["op"] for e in settled.json()["entries"]] == ["funded"]

    # Alice sells coupon 1 to Bob, declaring the price.
    c1 = coupon_id(GCN, 1)
    before = client.get(f"/v1/coupons/{c1}").json()
    assert before["holder"] == address(alice) and before["status"] == "active"
    assert (before["gcn"], before["serial"]) == (GCN, 1)
    assert before["fingerprint"] == fingerprint(alice.public_key().public_bytes_raw())
    stmt = sign_transfer(shop, c1, before["state"], alice, address(bob), price=(5000, "CNY"))
    moved = client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt})
    assert moved.status_code == 201, moved.text
    after = moved.json()
    assert after["moves"] == 1 and after["holder"] == address(bob)

    # The same state spent again, correctly signed by Alice: 409 naming the current head.
    again = sign_transfer(shop, c1, before["state"], alice, address(carol))
    refused = client.post(f"/v1/coupons/{c1}/transfers", json={"statement": again})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "conflict" and after["state"] in refused.json()["detail"]
    assert client.get(f"/v1/coupons/{c1}").json()["holder"] == address(bob)

    coupon = client.get(f"/v1/coupons/{c1}").json()
    assert [h["kind"] for h in coupon["history"]] == ["issue", "transfer"]
    assert coupon["history"][1]["price"] == {"amount": 5000, "currency": "CNY"}
    assert coupon["history"][1]["state"] == coupon["state"] == after["state"]
    assert coupon["history"][0]["holder"] == address(alice)
    assert base64.b64decode(coupon["history"][1]["entry"])[:3] == b"FH\x01"
    assert coupon["entitlement"] == {"quantity": 5, "unit": "KGM", "pro_rata": None}
    assert coupon["links"]["bundle"] == f"/v1/coupons/{c1}/bundle"
    assert coupon["links"]["campaign"] == f"/v1/campaigns/{GCN}"
    held = client.get("/v1/coupons", params={"holder": address(bob)}).json()
    assert [h["coupon"] for h in held] == [c1, coupon_id(GCN, 3), coupon_id(GCN, 4)]

    # Harvest, ship, redeem coupon 1 (Bob's QR, scanned and confirmed by the farm).
    shop.clock.ms += 21 * DAY
    harvested = client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 20}, headers=shop.farm
    )
    assert harvested.status_code == 200, harvested.text
    event = client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=SHIPPING, headers=shop.events).json()
    redeem = sign_statement(2, shop.clock.ms, "redeem", c1, after["state"], bob)
    body = {
        "statement": base64.b64encode(redeem.payload).decode(),
        "event": {"signer": event["signer"], "seq": event["seq"]},
    }
    redeemed = client.post(f"/v1/coupons/{c1}/redemptions", json=body, headers=shop.redeemer)
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["coupon"] == c1
    coupon = client.get(f"/v1/coupons/{c1}").json()
    assert coupon["status"] == "redeemed" and coupon["state"] == redeemed.json()["state"]
    assert [h["kind"] for h in coupon["history"]] == ["issue", "transfer", "redeem"]
    assert coupon["history"][2]["cseq"] == redeemed.json()["cseq"]
    entry = decode_campaign_entry(base64.b64decode(coupon["history"][2]["entry"]))
    assert entry.op == "redeem" and entry.body["event"]["seq"] == event["seq"]

    # A redeemed coupon never moves again; a second redemption is refused too.
    late = sign_transfer(shop, c1, coupon["state"], bob, address(carol), move=3)
    refused = client.post(f"/v1/coupons/{c1}/transfers", json={"statement": late})
    assert refused.status_code == 409 and "redeemed" in refused.json()["detail"]
    twice = client.post(f"/v1/coupons/{c1}/redemptions", json=body, headers=shop.redeemer)
    assert twice.status_code == 409 and "redeemed" in twice.json()["detail"]

    view = client.get(f"/v1/campaigns/{GCN}").json()
    assert view["totals"] == {"issued": 4, "redeemed": 1, "voided": 0, "outstanding": 3}
    assert view["harvested"] == 20 and view["status"] == "funded"
    assert [e["op"] for e in view["entries"]] == [
        "open", "issue", "issue", "funded", "harvested", "redeem",
    ]  # fmt: skip
    assert [e["cseq"] for e in view["entries"]] == list(range(1, 7))
    replay = replay_all(shop)
    assert replay.totals.redeemed == 1 and replay.coupons[1].status == "redeemed"


def test_digital_link_resolves_coupons_and_campaigns(shop: Shop) -> None:
    client = shop.client
    holder = Ed25519PrivateKey.generate()
    shop.open_and_issue(holder, 2)
    c2 = coupon_id(GCN, 2)
    coupon = client.get(f"/255/{c2}")
    assert coupon.status_code == 200, coupon.text
    assert coupon.json()["coupon"] == c2 and coupon.json()["holder"] == address(holder)
    assert "linkset" in coupon.headers["link"] and "Accept" in coupon.headers["vary"]
    as_browser = client.get(f"/255/{c2}", headers={"Accept": "text/html"})
    assert as_browser.status_code == 200 and 'id="coupon-proof"' in as_browser.text
    assert as_browser.headers["content-type"].startswith("text/html")
    links = client.get(f"/255/{c2}", headers={"Accept": "application/linkset+json"})
    assert links.status_code == 200
    assert links.headers["content-type"].startswith("application/linkset+json")
    (item,) = links.json()["linkset"]
    assert item["anchor"] == f"https://id.gs1.org/255/{c2}"
    assert item["https://gs1.org/voc/traceability"][0]["href"].endswith(f"/v1/coupons/{c2}/bundle")
    assert item["https://gs1.org/voc/pip"][0]["href"].endswith(f"/01/{GTIN}/10/{LOT}")
    assert item["collection"][0]["href"].endswith(f"/255/{GCN}")
    assert client.get(f"/255/{c2}?linkType=all").json() == links.json()

    campaign = client.get(f"/255/{GCN}")
    assert campaign.status_code == 200 and campaign.json()["campaign"] == GCN
    assert campaign.json()["entries"][0]["op"] == "open"
    (item,) = client.get(f"/255/{GCN}?linkType=all").json()["linkset"]
    assert item["anchor"] == f"https://id.gs1.org/255/{GCN}"

    unknown = client.get(f"/255/{coupon_id(GCN, 99)}")
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    bad = client.get("/255/0950600013438")
    assert bad.status_code == 422 and "check digit" in bad.json()["detail"]
    assert client.get(f"/255/{GCN}0").status_code == 422  # serial with a leading zero


def test_failed_campaign_voids_coupons_and_lists_refunds(shop: Shop) -> None:
    client = shop.client
    alice = Ed25519PrivateKey.generate()
    pledge = shop.open_and_issue(alice, 2)
    early = client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm)
    assert early.status_code == 409 and "until its deadline" in early.json()["detail"]
    shop.clock.ms += 11 * DAY
    settled = client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).json()
    assert settled["status"] == "failed"
    assert [e["op"] for e in settled["entries"]] == ["failed", "void"]

    refused = client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(alice), "count": 1}
    )
    assert refused.status_code == 409 and "failed" in refused.json()["detail"]
    owed = client.get(f"/v1/campaigns/{GCN}/refunds", headers=shop.farm)
    assert owed.status_code == 200, owed.text
    assert owed.headers["cache-control"] == "no-store"
    assert owed.json() == [
        {
            "pledge": pledge,
            "holder": address(alice),
            "amount": 9000,
            "currency": "CNY",
            "refunded": 0,
            "contact": "alice@example.org",
            "delivery": None,
        }
    ]
    done = client.post(
        f"/v1/campaigns/{GCN}/refunds/{pledge}", json={"amount": 9000}, headers=shop.farm
    )
    assert done.status_code == 200, done.text
    assert [e["op"] for e in done.json()["entries"]] == ["refund"]
    assert client.get(f"/v1/campaigns/{GCN}/refunds", headers=shop.farm).json()[0]["refunded"] == (
        9000
    )
    more = client.post(
        f"/v1/campaigns/{GCN}/refunds/{pledge}", json={"amount": 1}, headers=shop.farm
    )
    assert more.status_code == 409 and "more than" in more.json()["detail"]

    c1 = coupon_id(GCN, 1)
    coupon = client.get(f"/v1/coupons/{c1}").json()
    assert coupon["status"] == "void"
    assert [h["kind"] for h in coupon["history"]] == ["issue", "void"]
    stale = sign_transfer(shop, c1, coupon["history"][0]["state"], alice, address(alice))
    refused = client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stale})
    assert refused.status_code == 409 and "void" in refused.json()["detail"]

    closed = client.post(f"/v1/campaigns/{GCN}/close", headers=shop.farm)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    refused = client.post(
        f"/v1/campaigns/{GCN}/pledges", json={"holder": address(alice), "count": 1}
    )
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    assert replay_all(shop).status == "closed"


def test_pro_rata_shortfall_gives_each_outstanding_coupon_its_share(shop: Shop) -> None:
    client = shop.client
    holder = Ed25519PrivateKey.generate()
    shop.open_and_issue(holder, 4)
    client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).raise_for_status()
    shop.clock.ms += 21 * DAY
    before = client.post(
        f"/v1/campaigns/{GCN}/shortfall", json={"policy": "pro-rata"}, headers=shop.farm
    )
    assert before.status_code == 409 and "harvest first" in before.json()["detail"]
    client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 14}, headers=shop.farm
    ).raise_for_status()
    decided = client.post(
        f"/v1/campaigns/{GCN}/shortfall", json={"policy": "pro-rata"}, headers=shop.farm
    )
    assert decided.status_code == 200, decided.text
    view = client.get(f"/v1/campaigns/{GCN}").json()
    assert view["shortfall"] == {
        "policy": "pro-rata",
        "covered": 2,
        "uncovered": 2,
        "share": {"quantity": 14, "coupons": 4},
        "cseq": view["cseq"],
    }
    coupon = client.get(f"/v1/coupons/{coupon_id(GCN, 3)}").json()
    assert coupon["entitlement"] == {
        "quantity": 5,
        "unit": "KGM",
        "pro_rata": {"quantity": 14, "coupons": 4},
    }
    twice = client.post(
        f"/v1/campaigns/{GCN}/shortfall", json={"policy": "refund"}, headers=shop.farm
    )
    assert twice.status_code == 409 and "once" in twice.json()["detail"]


def test_bundles_of_a_campaign_and_a_coupon_verify(shop: Shop, tmp_path: Path) -> None:
    from farmtrace.cli import main

    client = shop.client
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)
    c2 = coupon_id(GCN, 2)
    state = client.get(f"/v1/coupons/{c2}").json()["state"]
    stmt = sign_transfer(shop, c2, state, alice, address(bob))
    client.post(f"/v1/coupons/{c2}/transfers", json={"statement": stmt}).raise_for_status()
    for path, fmt in (
        (f"/v1/campaigns/{GCN}/bundle", "farmtrace-campaign-bundle/v1"),
        (f"/v1/coupons/{c2}/bundle", "farmtrace-coupon-bundle/v1"),
    ):
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["format"] == fmt and answer.json()["campaign"] == GCN
        assert "attachment" in answer.headers["content-disposition"]
        saved = tmp_path / "bundle.json"
        saved.write_bytes(answer.content)
        assert main(["verify", str(saved), "--key", shop.served.ledger_vkey]) == 0
    assert client.get(f"/v1/coupons/{coupon_id(GCN, 9)}/bundle").status_code == 404
    assert client.get(f"/v1/campaigns/{GCN[:12]}1/bundle").status_code in (404, 422)
    bad = client.get("/v1/coupons/12345/bundle")
    assert bad.status_code == 422 and "coupon" in bad.json()["detail"]


def test_entries_and_transfers_show_their_anchors_once_a_block_holds_them(shop: Shop) -> None:
    from support.api import ORIGIN

    from farmtrace.store.ledger import Ledger

    client = shop.client
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 1)
    c1 = coupon_id(GCN, 1)
    head = client.get(f"/v1/coupons/{c1}").json()["state"]
    stmt = sign_transfer(shop, c1, head, alice, address(bob), price=(4000, "CNY"))
    client.post(f"/v1/coupons/{c1}/transfers", json={"statement": stmt}).raise_for_status()
    pending = client.get(f"/v1/coupons/{c1}").json()["history"]
    assert [h["anchored"] for h in pending] == [False, False]
    with Ledger.open(shop.served.db_url, shop.served.tmp / "gw", ORIGIN) as ledger:
        ledger.append_batch([])  # the gateway's idle sweep of pending entries
    history = client.get(f"/v1/coupons/{c1}").json()["history"]
    assert [(h["kind"], h["anchored"], h["origin"]) for h in history] == [
        ("issue", True, ORIGIN),
        ("transfer", True, ORIGIN),
    ]
    assert history[0]["global_index"] < history[1]["global_index"]
    entries = client.get(f"/v1/campaigns/{GCN}").json()["entries"]
    assert all(e["anchored"] and e["origin"] == ORIGIN for e in entries), entries
