"""The committer's look-ups of stored and rejected readings (``store.settled``): the keyed
queries (one index probe per key) return exactly what the plain SQLAlchemy references return,
on SQLite and PostgreSQL, for keys that are stored, rejected (several times, with unsigned rows
beside them), both, or neither, repeated or not."""

from __future__ import annotations

import random
from pathlib import Path

from support.readings import SimDevice

from farmtrace.gateway.ingest import reasons
from farmtrace.store import settled
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.records import QuarantineItem
from farmtrace.wire import topics

DEVICES = [SimDevice.make(f"urn:epc:id:giai:4012345.KEYED{n}") for n in range(3)]


def _fill(db_url: str, tmp_path: Path) -> None:
    """Each device: seqs 1-40 stored except every fifth; seqs 5, 10, ... 45 quarantined as
    signed rejections (10 and 20 twice, with other reasons), unsigned rows naming 3, 7 and 50."""
    rows = []
    for n, device in enumerate(DEVICES):
        topic = topics.reading_topic("greenacre", device.device_id)
        for seq in range(5, 50, 5):
            payload = device.reading(seq, 900.0 + n).payload
            rows.append(
                QuarantineItem(
                    float(seq),
                    reasons.OUT_OF_RANGE,
                    "900",
                    topic,
                    payload,
                    device.device_id,
                    seq,
                    True,
                )
            )
            if seq in (10, 20):
                rows.append(
                    QuarantineItem(
                        seq + 0.5, reasons.FUTURE_TIMESTAMP, "copy", topic, payload + b"x",
                        device.device_id, seq, True,
                    )
                )  # fmt: skip
        for seq in (3, 7, 50):
            rows.append(
                QuarantineItem(
                    1.0, reasons.BAD_SIGNATURE, "forged", topic, b"junk%d" % seq,
                    device.device_id, seq, False,
                )
            )  # fmt: skip
    readings = [d.reading(s) for d in DEVICES for s in range(1, 41) if s % 5]
    with Ledger.open(db_url, tmp_path / "state", "farmtrace.example/gw-keyed") as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in DEVICES})
        ledger.quarantine(rows)
        ledger.append_batch(readings)


def test_keyed_lookups_match_the_references(db_url: str, tmp_path: Path) -> None:
    _fill(db_url, tmp_path)
    ids = [d.device_id for d in DEVICES] + ["urn:epc:id:giai:4012345.NOBODY", 'it\'s "odd"']
    rng = random.Random(18)
    key_sets = [
        [],
        [(DEVICES[0].device_id, 1)],
        [(DEVICES[0].device_id, 10), (DEVICES[0].device_id, 10), (DEVICES[1].device_id, 3)],
        [(i, s) for i in ids for s in range(0, 55)],
        *[[(rng.choice(ids), rng.randrange(0, 60)) for _ in range(rng.randrange(1, 80))] for _ in range(20)],
    ]  # fmt: skip
    engine = create_db_engine(db_url)
    try:
        for keys in key_sets:
            stored = settled.stored_payloads(engine, keys)
            assert stored == settled.stored_payloads_reference(engine, keys)
            rejected = settled.rejected_readings(engine, keys)
            assert rejected == settled.rejected_readings_reference(engine, keys)
        everything = [(i, s) for i in ids for s in range(0, 55)]
        stored = settled.stored_payloads(engine, everything)
        assert len(stored) == len(DEVICES) * 32
        rejected = settled.rejected_readings(engine, everything)
        assert len(rejected) == len(DEVICES) * 9
        # The first row of a key rejected twice, not the copy.
        first = rejected[(DEVICES[2].device_id, 20)]
        assert first == (DEVICES[2].reading(20, 902.0).payload, reasons.OUT_OF_RANGE)
    finally:
        engine.dispose()
