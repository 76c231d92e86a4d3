"""The campaign service over a real SQLite database: a whole campaign's life, each refusal
naming its cause, and the stored history replaying clean under the reference rules."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT
from support.commerce import DAY, NOW_MS, Clock, address

from farmtrace.api.services.campaigns import CampaignService
from farmtrace.commerce.entries import decode_campaign_entry, decode_statement, sign_statement
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.commerce.replay import CampaignReplay

GCN = "950600013435" + check_digit("950600013435")


def terms(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
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


def replay_all(svc: CampaignService) -> CampaignReplay:
    head = svc.head(GCN)
    replay = CampaignReplay(svc.farm_keys.key("greenacre").public_key().public_bytes_raw())
    for move in svc.campaigns.moves(head.id):
        if move.op == "transfer":
            assert move.payload is not None
            replay.add_transfer(decode_statement(move.payload))
    for entry in svc.campaigns.entries(head.id, with_anchors=False):
        replay.apply(decode_campaign_entry(entry.payload))
    replay.finish()
    return replay


def test_campaign_life(service: tuple[CampaignService, Clock]) -> None:
    svc, clock = service
    svc.create(terms())
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    p1 = svc.pledge(GCN, address(alice), 2, "alice@example.org", "gate pickup")
    p2 = svc.pledge(GCN, address(bob), 2, None, None)
    svc.confirm(GCN, p1.id, "bank-ref-1")
    with pytest.raises(CommerceError, match="issued already"):
        svc.confirm(GCN, p1.id, "bank-ref-1")
    svc.confirm(GCN, p2.id, "bank-ref-2")
    with pytest.raises(CommerceError, match="pass the cap"):
        svc.pledge(GCN, address(alice), 3, None, None)
    assert [c.op for c in svc.settle(GCN)] == ["funded"]

    c1 = coupon_id(GCN, 1)
    _, record = svc.coupon(c1)
    stmt = sign_statement(
        1, clock.ms, "transfer", c1, record.state, alice, to=address(bob), price=(5000, "CNY")
    )
    import base64

    after = svc.transfer(c1, base64.b64encode(stmt.payload).decode())
    assert after.holder == address(bob) and after.moves == 1
    # A second spend of the same state, even correctly signed, is refused naming the head.
    again = sign_statement(1, clock.ms, "transfer", c1, record.state, alice, to=address(alice))
    with pytest.raises(CommerceError, match=after.state) as err:
        svc.transfer(c1, base64.b64encode(again.payload).decode())
    assert err.value.kind == "conflict"

    clock.ms += 21 * DAY
    svc.harvest(GCN, 12)  # covers 2 of 4 coupons
    changes = svc.shortfall(GCN, "refund")
    assert [c.op for c in changes] == ["shortfall", "void"]
    owed = svc.refunds(GCN)
    assert sum(r.owed for r in owed) == 2 * 4500
    assert owed[0].contact is None or owed[0].contact == "alice@example.org"

    replay = replay_all(svc)
    assert replay.totals.voided == 2 and replay.totals.outstanding == 2
    assert replay.coupons[1].holder == address(bob)


def test_failed_campaign_voids_everything(service: tuple[CampaignService, Clock]) -> None:
    svc, clock = service
    svc.create(terms())
    alice = Ed25519PrivateKey.generate()
    svc.confirm(GCN, svc.pledge(GCN, address(alice), 2, None, None).id, "r")
    with pytest.raises(CommerceError, match="open until its deadline"):
        svc.settle(GCN)
    clock.ms += 11 * DAY
    assert [c.op for c in svc.settle(GCN)] == ["failed", "void"]
    with pytest.raises(CommerceError, match="failed"):
        svc.pledge(GCN, address(alice), 1, None, None)
    (refund,) = svc.refunds(GCN)
    assert refund.owed == 9000
    svc.refund(GCN, refund.pledge, 9000)
    with pytest.raises(CommerceError, match="more than"):
        svc.refund(GCN, refund.pledge, 1)
    assert [c.op for c in svc.close(GCN)] == ["closed"]
    assert replay_all(svc).status == "closed"
