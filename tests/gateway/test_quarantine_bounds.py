"""The quarantine's bounds, in process: per device and overall, by size and rate, with the
refused messages counted; signed rejections always kept (docs/gateway.md, "Quarantine bounds").
The disk-fill attack through Mosquitto and a real gateway is tests/faults/test_quarantine_fill.py.
"""

from __future__ import annotations

from test_ingest_judge import ALICE, BOB, Harness, outcomes, reading_payload

from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.quarantine_bounds import (
    ROW_OVERHEAD,
    QuarantineBounds,
    QuarantineLimits,
)
from farmtrace.wire import topics

FARM = "farm-1"


def test_a_device_gets_its_rows_per_minute_then_refills() -> None:
    bounds = QuarantineBounds(QuarantineLimits(1024, 60, 10**9))
    assert [bounds.admit("a", 100, 0.0) for _ in range(61)] == [True] * 60 + [False]
    assert bounds.admit("b", 100, 0.0)  # another device has its own bucket
    assert not bounds.admit("a", 100, 0.5)  # half a row refilled
    assert bounds.admit("a", 100, 1.0) and not bounds.admit("a", 100, 1.0)
    assert [bounds.admit("a", 100, 61.0) for _ in range(61)] == [True] * 60 + [False]


def test_the_overall_budget_bounds_every_device_together() -> None:
    bounds = QuarantineBounds(QuarantineLimits(1024, 60, 3600 * 1000))
    admitted = sum(bounds.admit(f"device-{i}", 1000, 0.0) for i in range(10_000))
    assert admitted == 3600  # one hour's budget as a burst, whatever the topics name
    assert not bounds.admit("fresh", 1000, 0.5)
    assert bounds.admit("fresh", 1000, 1.0)  # refilled at 1,000 bytes a second


def test_zero_limits_store_nothing() -> None:
    assert not QuarantineBounds(QuarantineLimits(1024, 0, 10**9)).admit("a", 1, 0.0)
    assert not QuarantineBounds(QuarantineLimits(1024, 60, 0)).admit("a", 1, 0.0)


def test_junk_past_a_device_bound_is_counted_not_stored_and_the_payload_is_cut() -> None:
    h = Harness()
    junk = [h.delivery(bytes([i % 256]) * 60_000) for i in range(100)]
    batch = h.run(*junk)
    assert outcomes(batch) == ["malformed:oversized"] * 100
    kept = h.plan.quarantine
    assert len(kept) == 60
    assert all(len(row.payload) == 1024 and "sha256" in row.detail for row in kept)
    [count] = h.plan.refused.values()
    assert (count.device_id, count.reason, count.refused) == (
        ALICE.device_id,
        "malformed:oversized",
        40,
    )
    assert count.refused_bytes == 40 * 60_000


def test_unregistered_topics_share_one_counter_but_signed_rejections_are_always_kept() -> None:
    h = Harness()
    forged = [
        h.delivery(b"junk", topic=topics.reading_topic(FARM, f"urn:epc:id:giai:4012345.X{i}"))
        for i in range(5)
        for _ in range(70)
    ]
    hot = [h.delivery(reading_payload(BOB, s, value=900.0), BOB) for s in range(1, 101)]
    batch = h.run(*forged, *hot)
    assert outcomes(batch) == ["malformed:bad-magic"] * 350 + [reasons.OUT_OF_RANGE] * 100
    signed = [row for row in h.plan.quarantine if row.signed_rejection]
    assert [row.seq for row in signed] == list(range(1, 101))  # past 60 a minute, all kept
    assert len(h.plan.quarantine) == 5 * 60 + 100
    [count] = h.plan.refused.values()  # five unregistered names: one counter row, device ''
    assert (count.device_id, count.reason, count.refused) == ("", "malformed:bad-magic", 50)


def test_copies_of_a_signed_rejection_are_bounded() -> None:
    h = Harness()
    hot = reading_payload(ALICE, 1, value=900.0)
    batch = h.run(*(h.delivery(hot) for _ in range(100)))
    assert outcomes(batch) == [reasons.OUT_OF_RANGE] * 100
    # The first, always and uncharged, then 60 copies within the device's bucket.
    assert len(h.plan.quarantine) == 61
    [count] = h.plan.refused.values()
    assert count.refused == 39


def test_row_overhead_is_charged() -> None:
    bounds = QuarantineBounds(QuarantineLimits(1024, 60, 10 * ROW_OVERHEAD))
    assert sum(bounds.admit("a", ROW_OVERHEAD, 0.0) for _ in range(20)) == 10
