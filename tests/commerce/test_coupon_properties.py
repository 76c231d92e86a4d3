"""Random interleavings of transfers and redemptions, against a plain model of who holds what.

Each example runs a fresh campaign through the real service and SQLite store: four wallets
hold eight coupons; hypothesis draws a sequence of spends, each by a random wallet (the holder
or not), of the current state or a stale one. The model says which must be accepted; after
every step the store's holder and status of every coupon equal the model's, and at the end the
stored history replays clean under the reference rules to the same holders.
"""

from __future__ import annotations

import base64
import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.api import GTIN, LOT
from support.commerce import DAY, NOW_MS, Clock, address
from support.fast import examples

from farmtrace.api.services.campaigns import CampaignService
from farmtrace.commerce.entries import decode_campaign_entry, decode_statement, sign_statement
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.commerce.replay import CampaignReplay

WALLETS = [Ed25519PrivateKey.generate() for _ in range(4)]
COUPONS = 8
_numbers = itertools.count(1)

step = st.tuples(
    st.sampled_from(["transfer", "transfer", "transfer", "redeem"]),
    st.integers(1, COUPONS),  # coupon serial
    st.integers(0, len(WALLETS) - 1),  # who signs
    st.integers(0, len(WALLETS) - 1),  # to whom (transfers)
    st.booleans(),  # spend a stale state (when the coupon has one)
)


def _open(svc: CampaignService) -> str:
    reference = f"95060{next(_numbers):07d}"
    gcn = reference + check_digit(reference)
    svc.create(
        {
            "campaign": gcn, "farm": "greenacre", "gtin": GTIN, "lot": LOT,
            "per_coupon": {"quantity": 1, "unit": "KGM"},
            "price": {"amount": 100, "currency": "EUR"}, "target": COUPONS, "cap": COUPONS,
            "opens_ms": NOW_MS - DAY, "deadline_ms": NOW_MS + DAY,
            "delivery": {"from_ms": NOW_MS + 2 * DAY, "until_ms": NOW_MS + 9 * DAY},
            "text": {"zh": "一公斤。", "en": "One kilogram."},
        }
    )  # fmt: skip
    for i in range(COUPONS // 2):
        pledge = svc.pledge(gcn, address(WALLETS[i]), 2, None, None)
        svc.confirm(gcn, pledge.id, f"ref-{i}")
    svc.settle(gcn)
    svc.harvest(gcn, 100)
    return gcn


@pytest.mark.slow
@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_spends_match_the_model(
    service: tuple[CampaignService, Clock], steps: list[tuple[str, int, int, int, bool]]
) -> None:
    svc, clock = service
    clock.ms = NOW_MS
    gcn = _open(svc)
    event = svc.lots.get(GTIN, LOT).events[0].entry  # type: ignore[union-attr]
    holder = {serial: (serial - 1) // 2 for serial in range(1, COUPONS + 1)}
    status = dict.fromkeys(holder, "active")
    states: dict[int, list[str]] = {s: [svc.coupon(coupon_id(gcn, s))[1].state] for s in holder}
    for op, serial, signer, to, stale in steps:
        clock.ms += 1000
        coupon = coupon_id(gcn, serial)
        record = svc.coupon(coupon)[1]
        prev = states[serial][-2] if stale and len(states[serial]) > 1 else record.state
        ok = status[serial] == "active" and signer == holder[serial] and prev == record.state
        statement = sign_statement(
            record.moves + 1, clock.ms, op, coupon, prev, WALLETS[signer],
            to=address(WALLETS[to]) if op == "transfer" else None,
        )  # fmt: skip
        encoded = base64.b64encode(statement.payload).decode()
        try:
            if op == "transfer":
                svc.transfer(coupon, encoded)
            else:
                svc.redeem(coupon, encoded, event.signer, event.seq)
        except CommerceError as exc:
            assert not ok, f"{op} of {coupon} refused: {exc}"
        else:
            assert ok, f"{op} of {coupon} by wallet {signer} accepted against the model"
            if op == "transfer":
                holder[serial] = to
            else:
                status[serial] = "redeemed"
            states[serial].append(svc.coupon(coupon)[1].state)
        for s in holder:
            stored = svc.coupon(coupon_id(gcn, s))[1]
            assert (stored.holder, stored.status) == (address(WALLETS[holder[s]]), status[s])

    head = svc.head(gcn)
    replay = CampaignReplay(svc.farm_keys.key("greenacre").public_key().public_bytes_raw())
    for move in svc.campaigns.moves(head.id):
        if move.op == "transfer" and move.payload is not None:
            replay.add_transfer(decode_statement(move.payload))
    for entry in svc.campaigns.entries(head.id, with_anchors=False):
        replay.apply(decode_campaign_entry(entry.payload))
    replay.finish()
    for s in holder:
        assert replay.coupons[s].holder == address(WALLETS[holder[s]])
        assert replay.coupons[s].status == status[s]
