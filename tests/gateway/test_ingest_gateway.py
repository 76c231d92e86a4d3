"""The gateway end to end against a real Mosquitto and a real database (SQLite and PostgreSQL).

Traffic is crafted here, message by message, so every outcome is known in advance: honest
readings must be stored exactly once and byte for byte, every bad message quarantined with its
reason and its bytes, copies counted as duplicates, and the audit must pass.
"""

from __future__ import annotations

import struct
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from support.ingest import (
    FARM,
    GATEWAY_BROKER_SETTINGS,
    GatewayProcess,
    Publisher,
    StoredView,
    WatermarkWatcher,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto, free_port
from support.readings import SimDevice

from farmtrace.bench.hostile import build_corpus
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.judge import QUARANTINE_MAX_BYTES
from farmtrace.wire import topics

pytestmark = pytest.mark.integration

HONEST = 40
A, B, C = (make_device(n) for n in ("A", "B", "C"))
NOW_MS = int(time.time() * 1000)
payload = signed
topic = reading_topic


def with_value(original: bytes, old: float, new: float) -> bytes:
    at = original.index(struct.pack(">d", old))
    return original[:at] + struct.pack(">d", new) + original[at + 8 :]


@pytest.fixture
def broker(mosquitto_factory: object) -> Mosquitto:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)  # type: ignore[operator]
    return broker


def register(db_url: str, tmp_path: Path, *devices: SimDevice) -> None:
    keys = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in devices})
    done = farmtrace("devices", "import", str(keys), "--db", db_url)
    assert f"registered {len(devices)} new devices" in done.stdout


def test_every_kind_of_message(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    register(db_url, tmp_path, A, B, C)
    corpus = build_corpus(FARM, NOW_MS)
    corpus_keys = write_keys(tmp_path / "corpus-keys.json", corpus.registered)
    farmtrace("devices", "import", str(corpus_keys), "--db", db_url)
    farmtrace("devices", "revoke", corpus.revoked, "--db", db_url)
    metrics_port = free_port()
    gateway = GatewayProcess(
        broker.url,
        db_url,
        tmp_path / "state",
        extra=[
            "--batch-age",
            "0.3",
            "--replay-grace",
            "0.5",
            "--max-future",
            "60",
            "--metrics-port",
            str(metrics_port),
        ],
    )
    gateway.start().wait_connected()
    watcher = WatermarkWatcher(broker.host, broker.port)
    publisher = Publisher(broker.host, broker.port)
    try:
        honest: dict[tuple[str, int], bytes] = {}
        stream: list[tuple[str, bytes]] = []
        for seq in range(1, HONEST + 1):
            for dev in (A, B, C):
                honest[(dev.device_id, seq)] = body = payload(dev, seq)
                stream.append((topic(dev), body))
                if dev is A and seq <= 3:
                    stream.append((topic(dev), body))  # an identical copy: a duplicate
        genuine5 = honest[(A.device_id, 5)]
        # Every kind of the hostile corpus (farmtrace/bench/hostile.py) that needs no stored
        # history on the corpus's devices (tests/gateway/test_ingest_hostile.py runs them all),
        # and two made from A's stream here.
        bad = [(c.topic, c.payload, c.expect) for c in corpus.cases if not c.needs_prelude]
        bad += [
            (topic(A), with_value(genuine5, 4.0, 1.0), reasons.ALTERED),
            (topic(A), payload(A, 6, value=9.5), reasons.SEQ_CONFLICT),
        ]
        publisher.publish(stream)
        publisher.publish((t, p) for t, p, _ in bad)
        wait_for(
            lambda: stored.reading_count() == len(honest) and stored.quarantine_count() == len(bad),
            60,
            "every message to be stored or quarantined",
        )
        # A byte-identical copy of A's seq 10, sent long after A was told 40 is committed.
        wait_for(lambda: watcher.get(A.device_id) == HONEST, 60, "A's watermark")
        time.sleep(1.0)
        replayed = honest[(A.device_id, 10)]
        publisher.publish([(topic(A), replayed)])
        wait_for(lambda: stored.quarantine_count() == len(bad) + 1, 60, "the replay")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
    finally:
        publisher.close()
        watcher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]

    assert stored.seqs() == {d.device_id: list(range(1, HONEST + 1)) for d in (A, B, C)}
    assert stored.payloads() == honest
    quarantined = stored.quarantine()
    expected = Counter(reason for _, _, reason in bad) + Counter({reasons.REPLAY: 1})
    assert Counter(r for r, _, _, _ in quarantined) == expected
    rows = {(t, p): (r, d) for r, d, t, p in quarantined}
    assert len(rows) == len(quarantined)
    for t, p, reason in bad:
        assert rows[(t, p[:QUARANTINE_MAX_BYTES])][0] == reason, reason
    assert rows[(topic(A), replayed)] == (reasons.REPLAY, A.device_id)
    unknown = next(c for c in corpus.cases if c.expect == reasons.UNKNOWN_DEVICE)
    assert rows[(unknown.topic, unknown.payload)][1] == corpus.devices["stranger"].device_id

    report = gateway.report()
    assert report["accepted"] == len(honest)
    assert report["duplicates"] == 3
    assert report["rejected"] == dict(expected)
    assert report["acked"] == len(stream) + len(bad) + 1
    assert b"farmtrace_gateway_readings_accepted_total 120.0" in metrics
    assert b'farmtrace_gateway_messages_rejected_total{reason="altered"} 1.0' in metrics
    assert b"farmtrace_gateway_duplicates_total 3.0" in metrics
    assert b"farmtrace_gateway_receive_to_commit_seconds_count 120.0" in metrics
    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "state"))
    assert "OK" in audit.stdout


def test_acknowledged_only_after_the_commit(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    register(db_url, tmp_path, A)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state")
    messages = [(topic(A), payload(A, seq)) for seq in range(1, 11)]
    publisher = Publisher(broker.host, broker.port)
    try:
        # A batch that cannot close (large, old only after a minute): received, never committed.
        port = free_port()
        gateway.start("--batch-age", "60", "--metrics-port", str(port)).wait_connected()
        publisher.publish(messages)
        wait_for(lambda: _queue_depth(port) == 10, 60, "the gateway to hold the 10 messages")
        gateway.kill()
        assert stored.reading_count() == 0
        # The broker kept them for our session: the next run stores each exactly once.
        gateway.start("--batch-age", "0.2").wait_connected()
        wait_for(lambda: stored.reading_count() == 10, 60, "the redelivered readings")
        assert gateway.stop() == 0
        assert gateway.report()["received"] == 10
        # All were acknowledged: nothing comes back on the next run.
        gateway.start("--batch-age", "0.2").wait_connected()
        time.sleep(1.0)
        assert gateway.stop() == 0
        assert gateway.report()["received"] == 0
    finally:
        publisher.close()
        gateway.stop()
    assert stored.seqs() == {A.device_id: list(range(1, 11))}


def _queue_depth(port: int) -> float:
    """The gateway's received-but-unacknowledged count, from its metrics endpoint."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    line = next(x for x in text.splitlines() if x.startswith("farmtrace_gateway_queue_depth "))
    return float(line.split()[1])


def test_watermarks_gaps_and_drop_floor(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    register(db_url, tmp_path, A)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    gateway.start().wait_connected()
    watcher = WatermarkWatcher(broker.host, broker.port)
    publisher = Publisher(broker.host, broker.port)
    try:
        publisher.publish([(topic(A), payload(A, s)) for s in (1, 2, 4, 5)])
        wait_for(lambda: watcher.get(A.device_id) == 2, 60, "watermark 2 (seq 3 missing)")
        publisher.publish([(topic(A), payload(A, 3))])  # the gap is filled late
        wait_for(lambda: watcher.get(A.device_id) == 5, 60, "watermark 5")
        publisher.publish([(topic(A), payload(A, s)) for s in (8, 9)])
        time.sleep(0.5)
        assert watcher.get(A.device_id) == 5
        # Anyone may write "7" on the topic: an unsigned floor is quarantined and moves nothing.
        dropped = topics.dropped_topic(FARM, A.device_id)
        publisher.publish([(dropped, b"7")], retain=True)
        wait_for(lambda: stored.quarantine_count() == 1, 60, "the unsigned floor quarantined")
        assert watcher.get(A.device_id) == 5
        # The device gives up on 6 and 7 (signed): the watermark moves over them, counted lost.
        publisher.publish([(dropped, A.drop_floor(7))], retain=True)
        wait_for(lambda: watcher.get(A.device_id) == 9, 60, "watermark 9 past the drop floor")
        publisher.publish([(topic(A), payload(A, 6))])  # a seq it declared dropped
        wait_for(lambda: stored.quarantine_count() == 2, 60, "the stale seq")
    finally:
        publisher.close()
        watcher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert stored.seqs() == {A.device_id: [1, 2, 3, 4, 5, 8, 9]}
    assert stored.quarantine_reasons() == {reasons.STALE_SEQ: 1, "malformed:truncated": 1}
    [health] = gateway.health()["devices"]
    assert health["watermark"] == 9 and health["lost"] == 2 and health["sequence_skips"] == 2
    log = gateway.log()
    assert "sequence skipped from 2 to 4" in log and "sequence skipped from 5 to 8" in log
    assert "dropped readings through seq 7: 2 never reached the gateway" in log


def test_forged_retained_drop_floors_move_nothing(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    """Forged floors retained on the broker, read at start-up and arriving later: each is
    quarantined, the device's watermark is untouched and its next readings are stored."""
    register(db_url, tmp_path, A, B)
    dropped = topics.dropped_topic(FARM, A.device_id)
    publisher = Publisher(broker.host, broker.port)
    publisher.publish([(dropped, b"18446744073709551615")], retain=True)  # before the gateway
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    gateway.start().wait_connected()
    watcher = WatermarkWatcher(broker.host, broker.port)
    forged = bytearray(A.drop_floor(2**63 - 1))
    forged[-1] ^= 1
    try:
        wait_for(lambda: stored.quarantine_count() == 1, 60, "the retained ASCII floor")
        publisher.publish([(topic(A), payload(A, s)) for s in (1, 2, 3)])
        wait_for(lambda: watcher.get(A.device_id) == 3, 60, "watermark 3")
        other_key = SimDevice(A.device_id, B.key).drop_floor(2**63 - 1)
        other_device = SimDevice.make(A.device_id + "x").drop_floor(2**63 - 1)
        for floor in (bytes(forged), other_key, other_device):
            publisher.publish([(dropped, floor)], retain=True)
        publisher.publish([(topics.dropped_topic(FARM, B.device_id), A.drop_floor(99))])
        wait_for(lambda: stored.quarantine_count() == 5, 60, "four more forged floors")
        publisher.publish([(topic(A), payload(A, s)) for s in (4, 5)])
        wait_for(lambda: watcher.get(A.device_id) == 5, 60, "watermark 5")
    finally:
        publisher.close()
        watcher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert stored.seqs() == {A.device_id: [1, 2, 3, 4, 5]}
    assert stored.quarantine_reasons() == {
        "malformed:bad-magic": 1,
        reasons.BAD_SIGNATURE: 2,
        reasons.TOPIC_MISMATCH: 2,
    }
    health = {d["device_id"]: d for d in gateway.health()["devices"]}
    assert (health[A.device_id]["drop_floor"], health[A.device_id]["lost"]) == (0, 0)
    assert "dropped readings through" not in gateway.log()


def test_reconnect_mid_batch_acknowledges_only_the_redelivered_copies(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    register(db_url, tmp_path, A)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state")
    publisher = Publisher(broker.host, broker.port)
    try:
        port = free_port()
        gateway.start("--batch-age", "4", "--metrics-port", str(port)).wait_connected()
        publisher.publish([(topic(A), payload(A, seq)) for seq in range(1, 11)])
        publisher.close()
        wait_for(lambda: _queue_depth(port) == 10, 60, "the gateway to hold the 10 messages")
        # The broker goes away and comes back (saving the gateway's session) before the batch
        # closes: the batch is committed, but its packet ids belong to the old connection.
        broker.restart()
        wait_for(lambda: "resumed session" in gateway.log(), 60, "the reconnection")
        wait_for(lambda: stored.reading_count() == 10, 60, "the commit")
        wait_for(lambda: _queue_depth(port) == 0, 60, "the redelivered copies")
        assert gateway.stop() == 0, gateway.log()[-3000:]
        report = gateway.report()
        assert report["accepted"] == 10 and report["duplicates"] == 10
        assert report["acks_skipped_after_reconnect"] == 10 and report["acked"] == 10
        # Every copy the broker still had was acknowledged: nothing comes back.
        gateway.start("--batch-age", "0.2").wait_connected()
        time.sleep(1.0)
        assert gateway.stop() == 0
        assert gateway.report()["received"] == 0
    finally:
        gateway.stop()
    assert stored.seqs() == {A.device_id: list(range(1, 11))}


def test_two_gateways_share_the_stream_and_store_it_once(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    devices = [make_device(f"S{i}") for i in range(10)]
    register(db_url, tmp_path, *devices)
    gateways = [
        GatewayProcess(
            broker.url,
            db_url,
            tmp_path / f"state{n}",
            extra=["--share-group", "farmtrace", "--batch-age", "0.2"],
        )
        for n in (1, 2)
    ]
    for gateway in gateways:
        gateway.start().wait_connected()
    watcher = WatermarkWatcher(broker.host, broker.port)
    publisher = Publisher(broker.host, broker.port)
    try:
        messages = [(topic(d), payload(d, seq)) for seq in range(1, 101) for d in devices]
        # The same readings again, as a device resending its outbox would: duplicates.
        publisher.publish(messages + messages[:200])
        wait_for(lambda: stored.reading_count() == len(messages), 60, "every reading")
        wait_for(
            lambda: all(watcher.get(d.device_id) == 100 for d in devices),
            30,
            "watermarks covering what the other gateway committed",
        )
    finally:
        publisher.close()
        watcher.close()
        codes = [g.stop() for g in gateways]
    assert codes == [0, 0], [g.log()[-2000:] for g in gateways]
    reports = [g.report() for g in gateways]
    assert all(int(r["accepted"]) > 0 for r in reports)  # the broker spread the work
    assert sum(int(r["accepted"]) for r in reports) == len(messages)
    assert sum(int(r["duplicates"]) for r in reports) == 200
    assert stored.seqs() == {d.device_id: list(range(1, 101)) for d in devices}
    assert stored.quarantine_count() == 0
    for n in (1, 2):
        audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / f"state{n}"))
        assert "OK" in audit.stdout
