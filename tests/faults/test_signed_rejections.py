"""Signed rejections end to end: a device's own rejected readings are settled, forged ones never.

Mosquitto, ``farmtrace gateway`` and the simulator with ``--until-committed``. One of two
devices has faults that make some of its readings unacceptable although it really signed them:
``spike`` puts 900 °C into a quarter of its readings (``out-of-range``) and ``clock-skew`` sets
its clock an hour ahead for 40 simulated seconds (``future-timestamp``). Each rejected seq is
decided, so the gateway's commit watermark passes it and the simulator forgets it: its outbox
drains to 0, every good reading is stored once, each rejected one is quarantined (at least
once) with its reason, and the audit reports the rejected seqs as rejected, not missing.

Then readings for the next seq that the device did not sign (another registered device's key,
a random key, the device's ID on another device's topic) are quarantined and its watermark does
not move; a genuine rejection of that other device, published after them, shows they were
judged.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from support.ingest import (
    ROOT,
    GatewayProcess,
    Publisher,
    StoredView,
    WatermarkWatcher,
    farmtrace,
    make_device,
    register_sim_devices,
    signed,
    sim_command,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto
from support.readings import SimDevice

from farmtrace import failpoints
from farmtrace.gateway.ingest import reasons
from farmtrace.store.models import Base
from farmtrace.wire import topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUARANTINE = Base.metadata.tables["quarantine"]
FARM = "fleet"  # the simulator's farm with --devices
FAULTS = (
    "spike:devices=1,rate=0.25,channel=Temperature,value=900",
    "clock-skew:devices=1,at=2m,for=40s,value=3600",
)


def quarantine_rows(stored: StoredView) -> list[tuple[str, str | None, int | None, bool]]:
    """``(reason, device_id, seq, signed_rejection)`` of every row, in order."""
    q = QUARANTINE.c
    with stored.engine.connect() as conn:
        rows = conn.execute(
            select(q.reason, q.device_id, q.seq, q.signed_rejection).order_by(q.id)
        ).all()
    return [(r, d, s, bool(f)) for r, d, s, f in rows]


def test_rejected_readings_are_settled_and_forged_ones_are_not(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    state = tmp_path / "sim"
    register_sim_devices(state, 2, db_url)
    mallory = make_device("MALLORY")  # registered, so its key verifies its own readings
    write_keys(tmp_path / "mallory.json", {mallory.device_id: mallory.public_key})
    farmtrace("devices", "import", str(tmp_path / "mallory.json"), "--db", db_url)

    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "0.1"])
    gateway.start().wait_connected()
    watcher = WatermarkWatcher("127.0.0.1", broker.port)
    publisher = Publisher("127.0.0.1", broker.port)
    stored = StoredView(db_url)
    report_path = tmp_path / "sim-report.json"
    start = datetime.now(UTC) - timedelta(minutes=10)
    try:
        done = subprocess.run(
            sim_command("run", "--broker", broker.url, "--state", str(state), "--devices", "2",
                "--interval", "10", "--speed", "240", "--duration", "4m",
                "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--until-committed",
                "--resend-after", "1", "--drain-timeout", "20", "--report", str(report_path),
                *(arg for spec in FAULTS for arg in ("--fault", spec))),
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        report = json.loads(report_path.read_text())
        assert done.returncode == 0, done.stderr[-3000:]
        last_seq: dict[str, int] = report["last_seq"]
        wait_for(
            lambda: all(watcher.get(d) == last for d, last in last_seq.items()),
            20,
            "each device's watermark at its last seq",
        )

        # The next seq of the faulty device, not signed by it: never settled.
        device = next(e["device_id"] for e in report["events"] if e["kind"] == "spike")
        nxt = last_seq[device] + 1
        victim = SimDevice(device, mallory.key)
        stranger = SimDevice(device, Ed25519PrivateKey.generate())
        forged = [
            (topics.reading_topic(FARM, device), signed(victim, nxt, value=900.0)),
            (topics.reading_topic(FARM, device), signed(stranger, nxt, value=900.0)),
            (topics.reading_topic(FARM, device), signed(stranger, nxt)),
            (topics.reading_topic(FARM, mallory.device_id), signed(victim, nxt, value=900.0)),
        ]
        # Published after them on the same connection: Mallory's own out-of-range reading.
        control = (topics.reading_topic(FARM, mallory.device_id), signed(mallory, 1, value=900))
        publisher.publish([*forged, control])
        wait_for(lambda: watcher.get(mallory.device_id) == 1, 60, "Mallory's watermark at 1")
        assert watcher.get(device) == last_seq[device]
        rows = quarantine_rows(stored)
        seqs = stored.seqs()
    finally:
        publisher.close()
        watcher.close()
        stored.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]

    # What the simulator injected, by seq.
    future = {e["seq"] for e in report["events"] if e["kind"] == "clock-skew"}
    spiked = {e["seq"] for e in report["events"] if e["kind"] == "spike"}
    expected = {s: reasons.FUTURE_TIMESTAMP for s in future} | {
        s: reasons.OUT_OF_RANGE for s in spiked - future
    }
    assert future and spiked and {e["device_id"] for e in report["events"]} == {device}
    (other,) = set(last_seq) - {device}

    # The outbox drained: the device forgot its rejected readings.
    assert (report["queued"], report["dropped"]) == (0, 0)
    # Every good reading stored once; none of the rejected ones.
    assert seqs[other] == list(range(1, last_seq[other] + 1))
    assert seqs[device] == [s for s in range(1, last_seq[device] + 1) if s not in expected]
    # Each rejected reading quarantined, at least once, with its reason, as a signed rejection.
    signed_rows = [(r, s) for r, d, s, f in rows if f and d == device]
    times = Counter(s for _, s in signed_rows)
    assert set(times) == set(expected)
    assert all(reason == expected[s] for reason, s in signed_rows)
    # The forged ones: quarantined, never signed rejections; Mallory's own one is.
    forged_rows = rows[-5:-1]
    assert [(r, f) for r, _, _, f in forged_rows] == [
        (reasons.BAD_SIGNATURE, False),
        (reasons.BAD_SIGNATURE, False),
        (reasons.BAD_SIGNATURE, False),
        (reasons.TOPIC_MISMATCH, False),
    ]
    assert rows[-1] == (reasons.OUT_OF_RANGE, mallory.device_id, 1, True)
    assert len(rows) == len(signed_rows) + 5

    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "gateway"), "--json")
    result = json.loads(audit.stdout)
    assert result["ok"] is True
    devices = {d["device_id"]: d for d in result["devices"]}
    assert devices[device]["rejected_at"] == sorted(expected)
    assert devices[device]["gaps"] == devices[other]["gaps"] == []
    print(
        f"signed rejections: {len(expected)} seqs ({len(future)} future-timestamp, "
        f"{len(expected) - len(future)} out-of-range), quarantined {len(signed_rows)} times "
        f"(max {max(times.values())} per seq); simulator readings {report['readings']}, "
        f"resent {report['resent']}, queued at exit {report['queued']}, "
        f"wall {report['wall_seconds']} s"
    )


def test_a_rejection_made_durable_before_a_crash_settles_its_seq_after_the_restart(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway dies right after storing a batch of nothing but a rejection (its quarantine
    transaction; before the PUBACKs and any watermark): the restarted gateway reads the
    rejection from the database, rejects the redelivered copy again, and its watermark passes
    the seq. (A batch with accepted readings stores its rejections in its block's transaction:
    see the next test.)"""
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    alice = make_device("ALICE")
    write_keys(tmp_path / "keys.json", {alice.device_id: alice.public_key})
    farmtrace("devices", "import", str(tmp_path / "keys.json"), "--db", db_url)
    topic = topics.reading_topic(FARM, alice.device_id)

    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "1"])
    monkeypatch.setenv(failpoints.ENV, f"{failpoints.QUARANTINE_STORED}:1")
    gateway.start().wait_connected()
    monkeypatch.delenv(failpoints.ENV)
    watcher = WatermarkWatcher("127.0.0.1", broker.port)
    publisher = Publisher("127.0.0.1", broker.port)
    stored = StoredView(db_url)
    try:
        publisher.publish([(topic, signed(alice, 1))])
        wait_for(lambda: watcher.get(alice.device_id) == 1, 60, "Alice's watermark at 1")
        publisher.publish([(topic, signed(alice, 2, value=900.0))])
        assert gateway.process is not None
        assert gateway.process.wait(30) == -signal.SIGKILL
        # Durable: seq 1 and the rejection; the rejection not acknowledged, no watermark past 1.
        assert quarantine_rows(stored) == [(reasons.OUT_OF_RANGE, alice.device_id, 2, True)]
        assert stored.reading_count() == 1 and watcher.get(alice.device_id) == 1
        gateway.start().wait_connected()
        publisher.publish([(topic, signed(alice, 3))])
        wait_for(lambda: watcher.get(alice.device_id) == 3, 60, "Alice's watermark at 3")
        seqs, rows = stored.seqs(), quarantine_rows(stored)
        with stored.engine.connect() as conn:
            details = conn.execute(select(QUARANTINE.c.detail).order_by(QUARANTINE.c.id)).scalars()
            detail = list(details)[-1]
    finally:
        publisher.close()
        watcher.close()
        stored.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert seqs == {alice.device_id: [1, 3]}
    # The redelivered copy is rejected again (quarantine rows are at least once).
    assert rows == [(reasons.OUT_OF_RANGE, alice.device_id, 2, True)] * 2
    assert detail == "a copy of seq 2, rejected earlier as out-of-range"


def test_a_crash_before_the_combined_commit_stores_each_message_once_after_redelivery(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch with accepted readings and a rejection is one transaction: the gateway dies
    with it written but not committed (``append.before-commit``), so nothing of it is durable;
    the redelivered batch stores each reading once and the rejection once (the window between
    a quarantine commit and its block's commit no longer exists)."""
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    alice = make_device("ALICE")
    write_keys(tmp_path / "keys.json", {alice.device_id: alice.public_key})
    farmtrace("devices", "import", str(tmp_path / "keys.json"), "--db", db_url)
    topic = topics.reading_topic(FARM, alice.device_id)
    messages = [(topic, signed(alice, 1)), (topic, signed(alice, 2, value=900.0))]
    messages.append((topic, signed(alice, 3)))

    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "1"])
    monkeypatch.setenv(failpoints.ENV, f"{failpoints.APPEND_BEFORE_COMMIT}:1")
    gateway.start().wait_connected()
    monkeypatch.delenv(failpoints.ENV)
    watcher = WatermarkWatcher("127.0.0.1", broker.port)
    publisher = Publisher("127.0.0.1", broker.port)
    stored = StoredView(db_url)
    try:
        publisher.publish(messages)
        assert gateway.process is not None
        assert gateway.process.wait(30) == -signal.SIGKILL
        assert "failpoint append.before-commit:1 reached" in gateway.log()
        # Nothing durable: no rejection, no reading, no watermark.
        assert quarantine_rows(stored) == []
        assert stored.reading_count() == 0 and watcher.get(alice.device_id) is None
        gateway.start().wait_connected()
        wait_for(lambda: watcher.get(alice.device_id) == 3, 60, "Alice's watermark at 3")
        seqs, rows = stored.seqs(), quarantine_rows(stored)
    finally:
        publisher.close()
        watcher.close()
        stored.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert seqs == {alice.device_id: [1, 3]}
    assert rows == [(reasons.OUT_OF_RANGE, alice.device_id, 2, True)]
