"""The reference replay: a valid history passes; each kind of violation is named."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce import DAY, T0, Farm, redeem_statement, transfer

from farmtrace.commerce.entries import Totals, decode_campaign_entry, decode_statement
from farmtrace.commerce.replay import CampaignReplay, Violation


def _replay(farm: Farm, transfers=(), key: bytes | None = None) -> CampaignReplay:
    replay = CampaignReplay(key if key is not None else farm.public_key)
    for statement in transfers:
        replay.add_transfer(decode_statement(statement.payload))
    for entry in farm.entries:
        replay.apply(decode_campaign_entry(entry.payload))
    replay.finish()
    return replay


def _funded_and_harvested(quantity: int = 50):
    farm = Farm()
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    farm.open()
    farm.issue(alice, 2)
    farm.issue(bob, 2)
    farm.sign("funded", at=T0 + DAY)
    return farm, alice, bob


def test_full_history_replays() -> None:
    farm, alice, bob = _funded_and_harvested()
    c1 = farm.coupon(1)
    t1 = transfer(alice, c1, farm.entries[1].state, 1, bob, price=(5000, "CNY"))
    farm.sign("harvested", at=T0 + 20 * DAY, quantity=50)
    r = redeem_statement(bob, c1, t1.state, 2)
    farm.redeem(1, r)
    replay = _replay(farm, [t1])
    assert replay.totals == Totals(4, 1, 0)
    assert replay.coupons[1].status == "redeemed"
    assert [k for k, _ in replay.coupons[1].history] == ["issue", "transfer", "redeem"]
    assert replay.transfers_applied == 1


def test_double_spend_is_named() -> None:
    farm, alice, bob = _funded_and_harvested()
    carol = Ed25519PrivateKey.generate()
    c1 = farm.coupon(1)
    prev = farm.entries[1].state
    replay = CampaignReplay(farm.public_key)
    replay.add_transfer(transfer(alice, c1, prev, 1, bob))
    with pytest.raises(Violation, match="double spend"):
        replay.add_transfer(transfer(alice, c1, prev, 1, carol))


def test_transfer_not_signed_by_holder() -> None:
    farm, _alice, bob = _funded_and_harvested()
    c1 = farm.coupon(1)
    forged = transfer(bob, c1, farm.entries[1].state, 1, bob)
    with pytest.raises(Violation, match="not signed by the holder"):
        _replay(farm, [forged])


def test_over_cap_issue() -> None:
    farm = Farm()
    farm.open()
    farm.issue(Ed25519PrivateKey.generate(), 11)
    with pytest.raises(Violation, match="past the cap"):
        _replay(farm)


def test_redeem_after_void() -> None:
    farm = Farm()
    alice = Ed25519PrivateKey.generate()
    farm.open()
    farm.issue(alice, 2)
    farm.sign("failed", at=T0 + 11 * DAY)
    farm.void([(1, farm.entries[1].state)])
    stmt = redeem_statement(alice, farm.coupon(1), farm.entries[-1].state, 1)
    farm.redeem(1, stmt)
    with pytest.raises(Violation, match="redeemed while the campaign is failed"):
        _replay(farm)


def test_redeem_beyond_harvest_needs_shortfall() -> None:
    farm, alice, _bob = _funded_and_harvested()
    farm.sign("harvested", at=T0 + 20 * DAY, quantity=12)  # covers 2 of 4 coupons
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    with pytest.raises(Violation, match="no shortfall decision"):
        _replay(farm)


def test_shortfall_decision_allows_pro_rata() -> None:
    farm, alice, _bob = _funded_and_harvested()
    farm.sign("harvested", at=T0 + 20 * DAY, quantity=12)
    farm.sign(
        "shortfall", policy="pro-rata", covered=2, uncovered=2, share={"quantity": 12, "coupons": 4}
    )
    farm.redeem(1, redeem_statement(alice, farm.coupon(1), farm.entries[1].state, 1))
    assert _replay(farm).totals.redeemed == 1


def test_wrong_totals_named() -> None:
    farm = Farm()
    farm.open()
    farm.sign(
        "issue",
        Totals(5, 0, 0),
        first=1,
        count=2,
        holder="00" * 32,
        pledge="0" * 32,
        payment_sha256="ab" * 32,
    )
    with pytest.raises(Violation, match="campaign entry 2"):
        _replay(farm)


def test_other_farm_key_refused() -> None:
    farm = Farm()
    farm.open()
    with pytest.raises(Violation, match="another key"):
        _replay(farm, key=Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def test_time_window_enforced() -> None:
    farm = Farm()
    farm.open()
    farm.issue(Ed25519PrivateKey.generate(), 1)
    farm.entries.clear()
    farm2 = Farm()
    farm2.open()
    farm2.sign("failed", at=T0 + DAY)
    with pytest.raises(Violation, match="before the deadline"):
        _replay(farm2)
