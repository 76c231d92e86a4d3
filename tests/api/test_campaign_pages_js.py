"""The coupon page's check (``campaign/coupon_check.js``) against the Python side.

Bundles come from the real code path (the campaign API over a sealed chain); the Python side
judges each case first: the steps the browser must find are the API's coupon view (kinds,
states, holders and their fingerprints, declared prices, anchoring), a tampered bundle's first
failure is the reference verifier's (``farmtrace verify``) message, word for word, and a page
that disagrees with its bundles names the item. ``node --test tests/js/campaign_coupon.test.mjs``
must agree on every case.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, ORIGIN
from support.commerce_api import DAY, GCN, Shop, address, sign_transfer
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.commerce.entries import fingerprint, sign_statement
from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.ledger import Ledger

pytestmark = pytest.mark.slow  # runs node

ALICE = Ed25519PrivateKey.from_private_bytes(bytes([1] * 32))
BOB = Ed25519PrivateKey.from_private_bytes(bytes([2] * 32))
Bundle = dict[str, Any]
SHIPPING = {
    "kind": "shipping",
    "time": "2030-03-01T08:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


def funded_and_sealed(shop: Shop) -> None:
    """4 coupons to alice, funded; coupon 1 alice -> bob at a declared 50.00 CNY, then
    bob -> alice with no price; harvested, coupon 2 redeemed by alice; everything sealed into a
    block."""
    shop.open_and_issue(ALICE, 4)
    assert shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).status_code == 200
    coupon = coupon_id(GCN, 1)
    for move, (key, to, price) in enumerate(
        [(ALICE, BOB, (5000, "CNY")), (BOB, ALICE, None)], start=1
    ):
        state = shop.client.get(f"/v1/coupons/{coupon}").json()["state"]
        statement = sign_transfer(shop, coupon, state, key, address(to), price=price, move=move)
        moved = shop.client.post(f"/v1/coupons/{coupon}/transfers", json={"statement": statement})
        assert moved.status_code == 201, moved.text
    shop.clock.ms += 21 * DAY
    harvested = shop.client.post(
        f"/v1/campaigns/{GCN}/harvest", json={"quantity": 20}, headers=shop.farm
    )
    assert harvested.status_code == 200, harvested.text
    event = shop.client.post(
        f"/v1/lots/{GTIN}/{LOT}/events", json=SHIPPING, headers=shop.events
    ).json()
    second = coupon_id(GCN, 2)
    state = shop.client.get(f"/v1/coupons/{second}").json()["state"]
    redeem = sign_statement(1, shop.clock.ms, "redeem", second, state, ALICE)
    body = {
        "statement": base64.b64encode(redeem.payload).decode(),
        "event": {"signer": event["signer"], "seq": event["seq"]},
    }
    redeemed = shop.client.post(
        f"/v1/coupons/{second}/redemptions", json=body, headers=shop.redeemer
    )
    assert redeemed.status_code == 200, redeemed.text
    with Ledger.open(shop.served.db_url, shop.served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None


def shown(shop: Shop, coupon: str) -> dict[str, Any]:
    """What the coupon page shows, as its data- attributes carry it (the API's views)."""
    view = shop.client.get(f"/v1/coupons/{coupon}").json()
    totals = shop.client.get(f"/v1/campaigns/{GCN}").json()["totals"]
    history = []
    for item in view["history"]:
        holder = item["holder"]
        price = item["price"]
        history.append(
            {
                "kind": item["kind"],
                "state": item["state"],
                "holderFingerprint": "" if holder is None else fingerprint(bytes.fromhex(holder)),
                "price": "" if price is None else f"{price['amount']} {price['currency']}",
            }
        )
    return {
        "coupon": coupon,
        "status": view["status"],
        "holderFingerprint": view["fingerprint"],
        "totals": totals,
        "cap": 6,
        "history": history,
    }


def steps(shop: Shop, coupon: str) -> list[dict[str, Any]]:
    """The steps the browser must verify: the API's coupon history."""
    found = []
    for item in shop.client.get(f"/v1/coupons/{coupon}").json()["history"]:
        holder = item["holder"]
        found.append(
            {
                "kind": item["kind"],
                "state": item["state"],
                "holder": holder,
                "holderFingerprint": None if holder is None else fingerprint(bytes.fromhex(holder)),
                "price": item["price"],
                "anchored": item["anchored"],
            }
        )
    return found


def reference_first(bundle: Bundle, vkey: str) -> str:
    with pytest.raises(BundleError) as caught:
        verify_bundle(json.dumps(bundle).encode(), [vkey], say=lambda _line: None)
    return str(caught.value)


def flip_entry(item: dict[str, Any], index: int) -> None:
    raw = bytearray(base64.b64decode(item["entry"]))
    raw[index] ^= 0x01
    item["entry"] = base64.b64encode(bytes(raw)).decode()


def test_js_coupon_page_check_agrees_with_the_python_side(shop: Shop, tmp_path: Path) -> None:
    node = require_node()
    funded_and_sealed(shop)
    vkey = shop.served.ledger_vkey
    campaign = shop.client.get(f"/v1/campaigns/{GCN}/bundle").json()
    cases: list[dict[str, Any]] = []

    def case(
        name: str, coupon_bundle: Bundle, campaign_bundle: Bundle, page: Any, want: Any
    ) -> None:
        cases.append(
            {
                "name": name,
                "coupon_bundle": coupon_bundle,
                "campaign_bundle": campaign_bundle,
                "vkeys": [vkey],
                "shown": page,
                "want": want,
            }
        )

    for serial, status in ((1, "active"), (2, "redeemed"), (3, "active")):
        coupon = coupon_id(GCN, serial)
        bundle = shop.client.get(f"/v1/coupons/{coupon}/bundle").json()
        verify_bundle(json.dumps(bundle).encode(), [vkey], say=lambda _line: None)
        want = {"ok": True, "state": "verified", "steps": steps(shop, coupon)}
        assert all(s["anchored"] for s in want["steps"])
        page = shown(shop, coupon)
        assert page["status"] == status
        case(f"coupon {serial} ({status}) verifies", bundle, campaign, page, want)

    # a transfer the gateway has not sealed yet: verified so far, pending
    third = coupon_id(GCN, 3)
    state = shop.client.get(f"/v1/coupons/{third}").json()["state"]
    statement = sign_transfer(shop, third, state, ALICE, address(BOB))
    moved = shop.client.post(f"/v1/coupons/{third}/transfers", json={"statement": statement})
    assert moved.status_code == 201, moved.text
    want = {"ok": True, "state": "pending", "steps": steps(shop, third)}
    assert [s["anchored"] for s in want["steps"]] == [True, False]
    case(
        "coupon 3 with a transfer pending anchoring",
        shop.client.get(f"/v1/coupons/{third}/bundle").json(),
        shop.client.get(f"/v1/campaigns/{GCN}/bundle").json(),
        shown(shop, third),
        want,
    )

    coupon = coupon_id(GCN, 1)
    good = shop.client.get(f"/v1/coupons/{coupon}/bundle").json()
    page = shown(shop, coupon)

    # the coupon's first transfer altered: its last byte (the holder's signature)
    altered = copy.deepcopy(good)
    flip_entry(altered["moves"][0], -1)
    first = reference_first(altered, vkey)
    assert first.startswith(f"transfer of coupon {coupon} move 1 at moves[0]: ")
    case(
        "a transfer altered",
        altered,
        campaign,
        page,
        {"ok": False, "first": first, "check": "batches"},
    )

    # the issue entry altered: named as itself, by its signature
    altered = copy.deepcopy(good)
    flip_entry(altered["entries"][1], -1)
    first = reference_first(altered, vkey)
    assert first.startswith("campaign entry 2 (issue) at entries[1]: signature does not verify")
    case(
        "the issue entry altered",
        altered,
        campaign,
        page,
        {"ok": False, "first": first, "check": "signatures"},
    )

    # the campaign bundle's checkpoint altered
    other = copy.deepcopy(campaign)
    lines = other["chains"][0]["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)  # the tree size the gateway signed, changed
    other["chains"][0]["checkpoint"] = "\n".join(lines)
    first = reference_first(other, vkey)
    case(
        "the campaign bundle's checkpoint altered",
        good,
        other,
        page,
        {"ok": False, "first": f"campaign bundle: {first}", "check": "checkpoint"},
    )

    # pages that disagree with what was verified
    wrong = copy.deepcopy(page)
    wrong["history"][1]["price"] = "1 CNY"
    case(
        "the page shows another price",
        good,
        campaign,
        wrong,
        {
            "ok": False,
            "first": "history step 2 (transfer): the page shows price 1 CNY, the signed statement "
            "declares 5000 CNY",
            "check": "page",
        },
    )
    wrong = copy.deepcopy(page)
    wrong["totals"]["issued"] = 5
    case(
        "the page shows another count",
        good,
        campaign,
        wrong,
        {
            "ok": False,
            "first": "caps: the page shows issued 5, the campaign bundle recounts 4",
            "check": "caps",
        },
    )
    wrong = copy.deepcopy(page)
    wrong["history"].pop()
    case(
        "the page leaves a step out",
        good,
        campaign,
        wrong,
        {
            "ok": False,
            "first": "history step 3 (transfer): signed, but the page does not show it",
            "check": "page",
        },
    )

    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": cases}))
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/campaign_coupon.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "CAMPAIGN_PAGE_CASES": str(path)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert f"# pass {len(cases) + 1}" in result.stdout, result.stdout[-3000:]
