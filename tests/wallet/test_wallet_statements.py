"""The wallet's holder statements, offline: what it signs is what the reference replay accepts
(farmtrace.commerce.replay), and what it refuses to sign it says why."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce import DAY, T0, Farm, address

from farmtrace.commerce.entries import decode_campaign_entry, decode_statement, verify_signature
from farmtrace.commerce.replay import CampaignReplay
from farmtrace.wallet.keyfile import WalletError
from farmtrace.wallet.statements import (
    CouponHead,
    encode,
    parse_coupon_view,
    sign_redeem,
    sign_transfer,
)


def replayed(farm: Farm, transfers: list[bytes]) -> CampaignReplay:
    replay = CampaignReplay(farm.public_key)
    for payload in transfers:
        replay.add_transfer(decode_statement(payload))
    for entry in farm.entries:
        replay.apply(decode_campaign_entry(entry.payload))
    replay.finish()
    return replay


def head(replay: CampaignReplay, serial: int) -> CouponHead:
    c = replay.coupons[serial]
    view = {"coupon": c.coupon, "holder": c.holder, "state": c.state, "moves": c.moves}
    return parse_coupon_view(c.coupon, {**view, "status": c.status})


def funded() -> tuple[Farm, Ed25519PrivateKey, Ed25519PrivateKey]:
    farm = Farm()
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    farm.open()
    farm.issue(alice, 3)
    farm.sign("funded", at=T0 + DAY)
    return farm, alice, bob


def test_transfers_and_a_redeem_signed_by_the_wallet_replay() -> None:
    farm, alice, bob = funded()
    transfers: list[bytes] = []
    first = sign_transfer(head(replayed(farm, transfers), 1), alice, address(bob), (4800, "CNY"))
    assert (first.move, first.op, first.to, first.price) == (
        1,
        "transfer",
        address(bob),
        (4800, "CNY"),
    )
    assert first.prev == farm.entries[1].state  # the issue entry made the coupon's first state
    assert verify_signature(
        alice.public_key().public_bytes_raw(), first.signed_bytes, first.signature
    )
    transfers.append(decode_statement(first.payload).payload)
    back = sign_transfer(head(replayed(farm, transfers), 1), bob, address(alice), time_ms=T0)
    assert (back.move, back.prev, back.price, back.time_ms) == (2, first.state, None, T0)
    transfers.append(back.payload)
    replay = replayed(farm, transfers)
    assert replay.coupons[1].holder == address(alice) and replay.coupons[1].moves == 2

    farm.sign("harvested", at=T0 + 20 * DAY, quantity=15)
    redeem = sign_redeem(head(replay, 1), alice)
    assert (redeem.op, redeem.move, redeem.prev, redeem.to) == ("redeem", 3, back.state, None)
    farm.redeem(1, decode_statement(redeem.payload))
    final = replayed(farm, transfers)
    assert final.coupons[1].status == "redeemed"
    assert [kind for kind, _ in final.coupons[1].history] == [
        "issue",
        "transfer",
        "transfer",
        "redeem",
    ]


def test_the_encoded_statement_is_its_bytes_in_base64() -> None:
    farm, alice, bob = funded()
    statement = sign_transfer(head(replayed(farm, []), 2), alice, address(bob))
    import base64

    assert base64.b64decode(encode(statement), validate=True) == statement.payload
    assert decode_statement(base64.b64decode(encode(statement))) == statement


def test_the_wallet_signs_nothing_for_a_coupon_it_does_not_hold() -> None:
    farm, alice, bob = funded()
    h = head(replayed(farm, []), 1)
    with pytest.raises(WalletError, match=f"held by {address(alice)}") as caught:
        sign_transfer(h, bob, address(bob))
    assert caught.value.code == 1 and "not by this wallet" in str(caught.value)
    with pytest.raises(WalletError, match="not by this wallet"):
        sign_redeem(h, bob)


@pytest.mark.parametrize("status", ["redeemed", "void"])
def test_a_spent_coupon_is_refused_before_signing(status: str) -> None:
    farm, alice, bob = funded()
    h = head(replayed(farm, []), 1)
    spent = CouponHead(h.coupon, h.holder, h.state, h.moves, status)
    for sign in (
        lambda: sign_transfer(spent, alice, address(bob)),
        lambda: sign_redeem(spent, alice),
    ):
        with pytest.raises(WalletError, match=f"it is {status} and never moves again") as caught:
            sign()
        assert caught.value.code == 1


def test_a_bad_price_is_named() -> None:
    farm, alice, bob = funded()
    with pytest.raises(WalletError, match="currency"):
        sign_transfer(head(replayed(farm, []), 1), alice, address(bob), (100, "XXY"))


GOOD = {
    "coupon": "06141410000127",
    "holder": "ab" * 32,
    "state": "cd" * 32,
    "moves": 0,
    "status": "active",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"holder": "AB" * 32}, "no valid 'holder'"),
        ({"holder": None}, "no valid 'holder'"),
        ({"state": "cd" * 31}, "no valid 'state'"),
        ({"moves": -1}, "no valid 'moves'"),
        ({"moves": True}, "no valid 'moves'"),
        ({"moves": "1"}, "no valid 'moves'"),
        ({"status": 3}, "no valid 'status'"),
        ({"coupon": "06141410000128"}, "the API answered with 06141410000128"),
    ],
)
def test_a_coupon_view_without_what_a_statement_needs_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(WalletError, match=message) as caught:
        parse_coupon_view("06141410000127", {**GOOD, **change})
    assert caught.value.code == 2


def test_a_coupon_view_may_name_the_coupon_by_campaign_and_serial() -> None:
    view = {k: v for k, v in GOOD.items() if k != "coupon"}
    assert parse_coupon_view("06141410000127", {**view, "campaign": "0614141000012", "serial": 7})
    with pytest.raises(WalletError, match="answered with 06141410000128"):
        parse_coupon_view("06141410000127", {**view, "campaign": "0614141000012", "serial": 8})
    with pytest.raises(WalletError, match="not a JSON object"):
        parse_coupon_view("06141410000127", [GOOD])
