"""The judge: every way a message is accepted, recognised as a copy, or quarantined and why.

Readings are really signed (tests/support/readings.py) and checked with ``protocol.verify``,
which is what the committer's bulk check decides for each item.
"""

from __future__ import annotations

import hashlib
import struct
import time

import pytest
from support.readings import BASE_TIME_MS, SimDevice

from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.judge import (
    ACCEPTED,
    CONTROL,
    DUPLICATE_OUTCOME,
    QUARANTINE_MAX_BYTES,
    QUARANTINED,
    Judge,
)
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.gateway.ingest.seqruns import SeqRuns
from farmtrace.store.records import Device
from farmtrace.wire import dropfloor, topics
from farmtrace.wire.dropfloor import DropFloor
from farmtrace.wire.protocol import Measurement, Reading, sign, verify

FARM = "greenacre"
ALICE = SimDevice.make("urn:epc:id:giai:4012345.ALICE")
BOB = SimDevice.make("urn:epc:id:giai:4012345.BOB")
GRACE = 10.0


def reading_payload(
    device: SimDevice, seq: int, value: float = 4.0, uom: str = "CEL", ts_ms: int | None = None
) -> bytes:
    reading = Reading(
        device.device_id,
        seq,
        BASE_TIME_MS + seq * 1000 if ts_ms is None else ts_ms,
        "farm-1/cold-room",
        "LOT-1",
        (Measurement("Temperature", value, uom),),
    )
    return sign(reading, device.key)


class Harness:
    def __init__(self, revoked: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        devices = [
            Device(d.device_id, d.public_key, 0.0, 1.0 if d.device_id in revoked else None)
            for d in (ALICE, BOB)
        ]
        self.registry = RegistryView(lambda: devices, 3600.0)
        self.config = IngestConfig(
            broker=BrokerAddress("127.0.0.1", 1883),
            client_id="test",
            replay_grace=GRACE,
            max_future=600.0,
            max_age=86400.0,
        )
        self.states: dict[str, DeviceState] = {}
        self.judge = Judge(self.config, self.registry, self.states)
        self.topics = TopicCache()
        self.clock = BASE_TIME_MS / 1000 + 100.0  # device clocks a little behind ours
        self.mono = 1000.0
        self.stored: dict[tuple[str, int], bytes] = {}

    def delivery(
        self, payload: bytes, device: SimDevice | None = None, dup: bool = False, topic: str = ""
    ) -> Delivery:
        self.mono += 0.01
        topic = topic or topics.reading_topic(FARM, (device or ALICE).device_id)
        return Delivery(1, 1, 1, topic, payload, self.clock, self.mono, dup)

    def run(self, *deliveries: Delivery) -> Batch:
        batch = Batch(1)
        for delivery in deliveries:
            batch.admit(delivery, self.topics, self.registry)
        readings = [item for item in batch.to_verify if item.reading is not None]
        expected = [verify(i.reading, i.device.public_key) for i in readings]  # type: ignore[arg-type,union-attr]
        batch.verify_pending(threads=1)  # the bulk check; drop floors are finished by it
        assert [item.signature_ok for item in readings] == expected
        self.plan = self.judge.judge(batch, self.stored)
        return batch

    def store(self, device: SimDevice, *seqs: int) -> None:
        state = self.judge.state(device.device_id)
        for seq in seqs:
            self.stored[(device.device_id, seq)] = reading_payload(device, seq)
            state.committed.add(seq)


def outcomes(batch: Batch) -> list[str | None]:
    return [item.reason if item.outcome == QUARANTINED else item.outcome for item in batch.items]


def test_new_readings_are_accepted_byte_for_byte() -> None:
    h = Harness()
    payloads = [reading_payload(ALICE, s) for s in (1, 2, 3)] + [reading_payload(BOB, 1)]
    batch = h.run(*(h.delivery(p, BOB if i == 3 else ALICE) for i, p in enumerate(payloads)))
    assert outcomes(batch) == [ACCEPTED] * 4
    assert [p.payload for _, p in h.plan.accepted] == payloads
    assert [(p.device_id, p.seq) for _, p in h.plan.accepted] == [
        (ALICE.device_id, 1),
        (ALICE.device_id, 2),
        (ALICE.device_id, 3),
        (BOB.device_id, 1),
    ]
    assert h.plan.quarantine == []


def test_copies_within_a_batch() -> None:
    h = Harness()
    first = reading_payload(ALICE, 1, 4.0)
    other = reading_payload(ALICE, 1, 5.0)  # validly signed, same seq, other content
    batch = h.run(h.delivery(first), h.delivery(first), h.delivery(other))
    assert outcomes(batch) == [ACCEPTED, DUPLICATE_OUTCOME, reasons.SEQ_CONFLICT]


def test_copy_of_a_stored_reading_is_a_duplicate_until_the_device_was_told() -> None:
    h = Harness()
    h.store(ALICE, 1, 2, 3)
    state = h.states[ALICE.device_id]
    copy = h.stored[(ALICE.device_id, 2)]
    # No watermark published yet by this process: a resend, not a replay.
    assert outcomes(h.run(h.delivery(copy))) == [DUPLICATE_OUTCOME]
    # Watermark 3 confirmed by the broker just now: still within the grace period.
    state.record_published(3, h.mono, GRACE, h.mono)
    assert outcomes(h.run(h.delivery(copy))) == [DUPLICATE_OUTCOME]
    # Long after: a replay, unless the broker marks it as a redelivery.
    h.mono += GRACE + 1
    assert outcomes(h.run(h.delivery(copy))) == [reasons.REPLAY]
    assert outcomes(h.run(h.delivery(copy, dup=True))) == [DUPLICATE_OUTCOME]
    # A seq above what the device was told is never a replay.
    state.committed.add(4)
    h.stored[(ALICE.device_id, 4)] = reading_payload(ALICE, 4)
    assert outcomes(h.run(h.delivery(h.stored[(ALICE.device_id, 4)]))) == [DUPLICATE_OUTCOME]
    replay = h.plan
    assert replay.quarantine == []


def test_replay_is_quarantined_with_its_bytes() -> None:
    h = Harness()
    h.store(ALICE, 1, 2)
    h.states[ALICE.device_id].record_published(2, h.mono, GRACE, h.mono)
    h.mono += GRACE + 1
    copy = h.stored[(ALICE.device_id, 1)]
    h.run(h.delivery(copy))
    [row] = h.plan.quarantine
    assert (row.reason, row.payload, row.device_id) == (reasons.REPLAY, copy, ALICE.device_id)
    assert row.topic == topics.reading_topic(FARM, ALICE.device_id)


def test_stored_seq_with_other_bytes_is_a_conflict() -> None:
    h = Harness()
    h.store(ALICE, 1)
    batch = h.run(h.delivery(reading_payload(ALICE, 1, value=9.0)))
    assert outcomes(batch) == [reasons.SEQ_CONFLICT]


def test_stale_seq_and_gap_fill() -> None:
    h = Harness()
    h.store(ALICE, 1, 2, 5)
    state = h.states[ALICE.device_id]
    state.committed.drop_through(3)  # the device gave up on seq 3
    assert state.committed.watermark == 3
    batch = h.run(h.delivery(reading_payload(ALICE, 3)), h.delivery(reading_payload(ALICE, 4)))
    assert outcomes(batch) == [reasons.STALE_SEQ, ACCEPTED]


def test_signature_failures() -> None:
    h = Harness()
    genuine = reading_payload(ALICE, 1, 4.0)
    forged = sign(  # Alice's reading, signed with Bob's key
        Reading(ALICE.device_id, 2, BASE_TIME_MS + 2000, "farm-1/cold-room", "LOT-1",
                (Measurement("Temperature", 4.0, "CEL"),)),
        BOB.key,
    )  # fmt: skip
    value_at = genuine.index(struct.pack(">d", 4.0))
    altered = genuine[:value_at] + struct.pack(">d", 1.0) + genuine[value_at + 8 :]
    batch = h.run(h.delivery(genuine), h.delivery(forged), h.delivery(altered))
    assert outcomes(batch) == [ACCEPTED, reasons.BAD_SIGNATURE, reasons.ALTERED]
    # Altered after the genuine one was stored by an earlier batch: still recognised.
    h.store(ALICE, 1)
    h.stored[(ALICE.device_id, 1)] = genuine
    assert outcomes(h.run(h.delivery(altered))) == [reasons.ALTERED]


def test_content_checks_after_the_sequence_rule() -> None:
    h = Harness()
    now_ms = int(h.clock * 1000)
    batch = h.run(
        h.delivery(reading_payload(ALICE, 1, ts_ms=now_ms + 3_600_000)),
        h.delivery(reading_payload(ALICE, 2, ts_ms=now_ms - 2 * 86_400_000)),
        h.delivery(reading_payload(ALICE, 3, value=151.0)),
        h.delivery(reading_payload(ALICE, 4, uom="XYZ")),
        h.delivery(reading_payload(ALICE, 5, value=-80.0)),
    )
    assert outcomes(batch) == [
        reasons.FUTURE_TIMESTAMP,
        reasons.STALE_TIMESTAMP,
        reasons.OUT_OF_RANGE,
        reasons.UNKNOWN_UNIT,
        ACCEPTED,
    ]
    assert "151.0 CEL" in batch.items[2].detail


def test_revoked_device_new_readings_rejected_copies_still_duplicates() -> None:
    h = Harness(revoked={ALICE.device_id})
    h.store(ALICE, 1)
    batch = h.run(h.delivery(h.stored[(ALICE.device_id, 1)]), h.delivery(reading_payload(ALICE, 2)))
    assert outcomes(batch) == [DUPLICATE_OUTCOME, reasons.REVOKED]


@pytest.mark.parametrize(
    ("payload", "topic", "reason"),
    [
        (b"FT\x01", "", "malformed:truncated"),
        (b"XX" + reading_payload(ALICE, 1)[2:], "", "malformed:bad-magic"),
        (bytes(2000), "", "malformed:oversized"),
        (reading_payload(BOB, 1), "", reasons.TOPIC_MISMATCH),
        (reading_payload(ALICE, 0), "", reasons.SEQ_OUT_OF_RANGE),
        (reading_payload(ALICE, 2**63, ts_ms=BASE_TIME_MS), "", reasons.SEQ_OUT_OF_RANGE),
        (
            reading_payload(SimDevice.make("urn:epc:id:giai:4012345.EVE"), 1),
            topics.reading_topic(FARM, "urn:epc:id:giai:4012345.EVE"),
            reasons.UNKNOWN_DEVICE,
        ),
        (reading_payload(ALICE, 1), "farm/a b/x/reading", reasons.BAD_TOPIC),
        (reading_payload(ALICE, 1), f"farm/{FARM}/{ALICE.device_id}/status", reasons.BAD_TOPIC),
    ],
)
def test_rejected_before_the_signature_check(payload: bytes, topic: str, reason: str) -> None:
    h = Harness()
    batch = h.run(h.delivery(payload, topic=topic))
    assert outcomes(batch) == [reason]
    [row] = h.plan.quarantine
    assert row.payload == payload[:QUARANTINE_MAX_BYTES] and row.reason == reason and row.detail


def test_signed_drop_floor_is_control_and_every_unproven_floor_is_quarantined() -> None:
    h = Harness(revoked={BOB.device_id})
    topic = topics.dropped_topic(FARM, ALICE.device_id)
    forged = bytearray(ALICE.drop_floor(2**64 - 1))
    forged[-1] ^= 1
    stranger = SimDevice.make("urn:epc:id:giai:4012345.STRANGER")
    batch = h.run(
        h.delivery(ALICE.drop_floor(12), topic=topic),
        h.delivery(b"12", topic=topic),  # the unsigned ASCII floor of old
        h.delivery(ALICE.drop_floor(12)[:-1], topic=topic),
        h.delivery(bytes(forged), topic=topic),
        h.delivery(dropfloor.sign(DropFloor(ALICE.device_id, 99, 0), BOB.key), topic=topic),
        h.delivery(BOB.drop_floor(99), topic=topic),
        h.delivery(stranger.drop_floor(5), topic=topics.dropped_topic(FARM, stranger.device_id)),
        h.delivery(BOB.drop_floor(5), topic=topics.dropped_topic(FARM, BOB.device_id)),
        h.delivery(ALICE.drop_floor(2**63), topic=topic),
        h.delivery(reading_payload(ALICE, 13), topic=topic),  # a reading is no floor
    )
    assert outcomes(batch) == [
        CONTROL,
        "malformed:bad-magic",
        "malformed:truncated",
        reasons.BAD_SIGNATURE,
        reasons.BAD_SIGNATURE,
        reasons.TOPIC_MISMATCH,
        reasons.UNKNOWN_DEVICE,
        reasons.REVOKED,
        reasons.SEQ_OUT_OF_RANGE,
        "malformed:bad-magic",
    ]
    assert batch.items[0].floor == 12
    assert [i.floor for i in batch.items[1:]] == [None] * 9
    assert all(row.seq is None and not row.signed_rejection for row in h.plan.quarantine)


def test_judging_twice_gives_the_same_plan_and_leaves_state_alone() -> None:
    h = Harness()
    h.store(ALICE, 1, 2)
    batch = h.run(h.delivery(reading_payload(ALICE, 3)), h.delivery(reading_payload(ALICE, 3, 7.0)))
    first = [(i.outcome, i.reason) for i in batch.items]
    state = h.states[ALICE.device_id]
    snapshot = (state.committed.watermark, state.committed.runs, state.duplicates)
    plan = h.judge.judge(batch, h.stored)
    assert [(i.outcome, i.reason) for i in batch.items] == first
    assert len(plan.accepted) == 1
    assert (state.committed.watermark, state.committed.runs, state.duplicates) == snapshot


def test_record_published_keeps_few_entries_and_only_delays() -> None:
    state = DeviceState("d", SeqRuns())
    for i in range(1000):
        state.record_published(i, 1000.0 + i * 0.01, GRACE, 1000.0 + i * 0.01)
    assert len(state.published) <= 12
    # Whatever was compacted, what counts as told is never newer than the truth.
    for t in (1000.0, 1005.0, 1009.99, 1015.0, 1030.0):
        told = state.told_watermark(t + GRACE, GRACE)
        assert told <= max(0, int((t - 1000.0) / 0.01) + 1)
    assert state.told_watermark(1010.0 + GRACE + 1, GRACE) == 999


def test_time_is_not_read_from_the_wall_clock() -> None:
    # The window is judged against the arrival time, so a slow batch changes nothing.
    h = Harness()
    payload = reading_payload(ALICE, 1, ts_ms=int(h.clock * 1000) + 590_000)
    delivery = h.delivery(payload)
    time.sleep(0.01)
    assert outcomes(h.run(delivery)) == [ACCEPTED]


def test_huge_junk_is_kept_only_in_part() -> None:
    h = Harness()
    junk = bytes(range(256)) * 400  # 102,400 bytes
    h.run(h.delivery(junk))
    [row] = h.plan.quarantine
    assert row.reason == "malformed:oversized"
    assert row.payload == junk[:QUARANTINE_MAX_BYTES]
    assert f"payload of {len(junk)} bytes, sha256 {hashlib.sha256(junk).hexdigest()}" in row.detail
