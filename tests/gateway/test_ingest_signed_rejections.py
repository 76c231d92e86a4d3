"""Signed rejections: a reading its device's registered key signed and the judge rejected on
content settles its seq (the commit watermark passes it); nothing unsigned ever does.

The judging path runs in process (tests/support/judging.py: batcher, bulk signature check,
judge, and what the committer applies); the store functions run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

from support.judging import JudgingPath
from support.readings import SimDevice

from farmtrace.audit import run_audit
from farmtrace.bench.hostile import build_corpus
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.judge import ACCEPTED, QUARANTINED
from farmtrace.store import settled
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading, QuarantineItem
from farmtrace.wire import topics
from farmtrace.wire.protocol import Measurement, Reading, sign

FARM = "greenacre"
NOW = time.time()
ALICE = SimDevice.make("urn:epc:id:giai:4012345.ALICE")
BOB = SimDevice.make("urn:epc:id:giai:4012345.BOB")
TOPIC = topics.reading_topic(FARM, ALICE.device_id)


def payload(seq: int, value: float = 4.0, ahead_s: float = -1.0, key: SimDevice = ALICE) -> bytes:
    """Alice's reading ``seq`` (signed by ``key``), timestamped ``ahead_s`` from NOW."""
    reading = Reading(
        ALICE.device_id,
        seq,
        int((NOW + ahead_s) * 1000),
        "farm-1/cold-room",
        "LOT-1",
        (Measurement("Temperature", value, "CEL"),),
    )
    return sign(reading, key.key)


def path() -> JudgingPath:
    return JudgingPath({d.device_id: d.public_key for d in (ALICE, BOB)}, NOW)


def labels(p: JudgingPath, *payloads: bytes) -> list[str]:
    return [v.label for v in p.run((TOPIC, m) for m in payloads)]


def test_each_corpus_case_is_a_signed_rejection_exactly_when_its_reason_is_on_content() -> None:
    corpus = build_corpus(FARM, int(NOW * 1000))
    p = JudgingPath(corpus.registered, NOW, revoked=[corpus.revoked])
    p.run(corpus.prelude)
    signed_kinds = set()
    for case in corpus.cases:
        before = len(p.quarantine)
        [verdict] = p.run([(case.topic, case.payload)])
        rows = p.quarantine[before:]
        if verdict.outcome != QUARANTINED:
            assert rows == [], case.kind
            continue
        [row] = rows
        # A drop floor settles no seq, even one its device signed (a revoked device's floor).
        reading = case.topic.endswith("/reading")
        assert row.signed_rejection == (case.expect in reasons.CONTENT and reading), case.kind
        if row.signed_rejection:
            signed_kinds.add(case.kind)
            assert row.seq is not None and row.device_id is not None
            assert row.seq in p.states[row.device_id].committed, case.kind
    # Forged, another device's key, altered, unknown or mismatched device: none of them.
    assert signed_kinds == {
        "revoked-device",
        "future-timestamp",
        "timestamp-int64-max",
        "far-past-timestamp",
        "timestamp-int64-min",
        "temperature-900",
        "humidity-140",
        "unknown-unit",
    }


def test_a_signed_rejection_moves_the_watermark_and_a_forged_one_does_not() -> None:
    p = path()
    assert labels(p, payload(1), payload(2, value=900.0)) == [ACCEPTED, reasons.OUT_OF_RANGE]
    state = p.states[ALICE.device_id]
    assert state.committed.watermark == 2
    # Seq 3 signed by Bob's key on Alice's topic, then a bit-flipped signature for seq 4, then
    # Alice's name on Bob's topic: none of them settles anything.
    forged = payload(3, value=900.0, key=BOB)
    flipped = bytearray(payload(4, value=900.0))
    flipped[-1] ^= 1
    assert labels(p, forged, bytes(flipped)) == [reasons.BAD_SIGNATURE, reasons.BAD_SIGNATURE]
    bob_topic = topics.reading_topic(FARM, BOB.device_id)
    [mismatch] = p.run([(bob_topic, payload(3, value=900.0))])
    assert mismatch.reason == reasons.TOPIC_MISMATCH
    assert (state.committed.watermark, state.committed.high) == (2, 2)
    assert all(not row.signed_rejection for row in p.quarantine[1:])
    assert [row.seq for row in p.quarantine] == [2, 3, 4, None]
    # The genuine seq 3 is still accepted after all that.
    assert labels(p, payload(3)) == [ACCEPTED]
    assert state.committed.watermark == 3


def test_a_copy_of_a_signed_rejection_is_rejected_again_for_the_same_reason() -> None:
    p = path()
    future = payload(1, ahead_s=3600.0)
    assert labels(p, future) == [reasons.FUTURE_TIMESTAMP]
    # An hour later the timestamp would pass: the decision stands all the same.
    p.now += 3600.0
    assert labels(p, future) == [reasons.FUTURE_TIMESTAMP]
    again = p.quarantine[-1]
    assert again.signed_rejection and again.seq == 1
    assert "rejected earlier as future-timestamp" in again.detail
    # Another reading under the same seq, validly signed: a conflict, which settles nothing new.
    assert labels(p, payload(1, value=5.0)) == [reasons.SEQ_CONFLICT]
    assert not p.quarantine[-1].signed_rejection
    # Its bytes with a broken signature: the rejected signature over other bytes is `altered`.
    altered = bytearray(future)
    altered[-70] ^= 1
    assert labels(p, bytes(altered)) == [reasons.ALTERED]


def test_within_one_batch_the_first_decision_for_a_seq_stands() -> None:
    p = path()
    bad, good = payload(1, value=900.0), payload(1, value=4.0)
    assert labels(p, bad, good, bad, payload(2)) == [
        reasons.OUT_OF_RANGE,
        reasons.SEQ_CONFLICT,
        reasons.OUT_OF_RANGE,
        ACCEPTED,
    ]
    assert [r.signed_rejection for r in p.quarantine] == [True, False, True]
    assert p.states[ALICE.device_id].committed.watermark == 2
    assert p.stored.keys() == {(ALICE.device_id, 2)}


def test_a_rejection_above_a_gap_waits_for_the_gap() -> None:
    p = path()
    assert labels(p, payload(1), payload(3, value=-300.0)) == [ACCEPTED, reasons.OUT_OF_RANGE]
    committed = p.states[ALICE.device_id].committed
    assert (committed.watermark, committed.runs) == (1, [(3, 3)])
    assert labels(p, payload(2)) == [ACCEPTED]  # the gap fill, then both are settled
    assert committed.watermark == 3


def _ledger_with_rejections(db_url: str, tmp_path: Path) -> None:
    """Alice: 1, 2 stored; 3 a signed rejection (twice); 5 stored; 6 unsigned junk naming seq 6.
    Bob: 1 a signed rejection only, 4 stored."""
    rows = [
        QuarantineItem(1.0, reasons.OUT_OF_RANGE, "900 CEL", TOPIC, payload(3, 900.0), ALICE.device_id, 3, True),
        QuarantineItem(2.0, reasons.OUT_OF_RANGE, "copy", TOPIC, payload(3, 900.0), ALICE.device_id, 3, True),
        QuarantineItem(3.0, reasons.BAD_SIGNATURE, "forged", TOPIC, payload(6, key=BOB), ALICE.device_id, 6, False),
        QuarantineItem(4.0, reasons.FUTURE_TIMESTAMP, "ahead", "t", BOB.reading(1).payload, BOB.device_id, 1, True),
    ]  # fmt: skip
    readings = [
        PendingReading(ALICE.device_id, s, int((NOW - 1.0) * 1000), payload(s), NOW)
        for s in (1, 2, 5)
    ]
    readings.append(BOB.reading(4))
    with Ledger.open(db_url, tmp_path / "state", "farmtrace.example/gw-1") as ledger:
        # Registered, as the judge requires of a signed rejection (the audit checks its key).
        ledger.register_devices({d.device_id: d.public_key for d in (ALICE, BOB)})
        ledger.quarantine(rows)
        ledger.append_batch(readings)


def test_store_counts_signed_rejections_as_settled_and_nothing_else(
    db_url: str, tmp_path: Path
) -> None:
    _ledger_with_rejections(db_url, tmp_path)
    engine = create_db_engine(db_url)
    try:
        runs = settled.committed_runs(engine)
        alice, bob = sorted(runs[ALICE.device_id]), sorted(runs[BOB.device_id])
        assert alice == [(1, 3), (5, 5)]  # 6 (unsigned) is not settled
        assert bob == [(1, 1), (4, 4)]
        assert settled.rejected_highs(engine) == {ALICE.device_id: 3, BOB.device_id: 1}
        found = settled.rejected_readings(
            engine, [(ALICE.device_id, 3), (ALICE.device_id, 6), (ALICE.device_id, 1)]
        )
        assert found == {(ALICE.device_id, 3): (payload(3, 900.0), reasons.OUT_OF_RANGE)}
        found_in = settled.committed_in(engine, [(ALICE.device_id, 3, 6), (BOB.device_id, 1, 3)])
        assert {d: sorted(s) for d, s in found_in.items()} == {
            ALICE.device_id: [3, 5],
            BOB.device_id: [1],
        }
    finally:
        engine.dispose()


def test_audit_reports_rejected_seqs_as_rejected_not_missing(db_url: str, tmp_path: Path) -> None:
    _ledger_with_rejections(db_url, tmp_path)
    report = run_audit(db_url)
    assert report.ok, report.failure
    devices = {d.device_id: d for d in report.devices}
    alice, bob = devices[ALICE.device_id], devices[BOB.device_id]
    assert (alice.readings, alice.rejected, alice.rejected_at) == (3, 1, [3])
    assert (alice.lowest_seq, alice.highest_seq, alice.gaps, alice.missing) == (1, 5, [[4, 4]], 1)
    assert (bob.readings, bob.rejected, bob.rejected_at) == (1, 1, [1])
    assert (bob.gaps, bob.missing) == ([[2, 3]], 2)
    assert "1 rejected, seq 3" in report.to_text()
