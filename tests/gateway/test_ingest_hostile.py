"""The hostile corpus against a real Mosquitto and ``farmtrace gateway``, beside honest traffic.

Honest devices publish a steady pre-signed stream; every corpus case (farmtrace/bench/hostile.py)
is injected, several copies each, spread through it. Every honest reading is stored exactly
once, every hostile message is quarantined with exactly its expected reason (or, for the two
kinds the gateway stores and flags, stored once and flagged), the chain audits clean and the
gateway ran through to a clean stop.
"""

from __future__ import annotations

import time
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
from support.mosquitto import Mosquitto

from farmtrace.bench.hostile import (
    STORED_CLOCK_BACKWARDS,
    STORED_SEQUENCE_SKIP,
    HostileCase,
    build_corpus,
)
from farmtrace.gateway.ingest.judge import QUARANTINE_MAX_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 20
PER_DEVICE = 200
COPIES = 3


@pytest.fixture
def broker(mosquitto_factory: object) -> Mosquitto:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)  # type: ignore[operator]
    return broker


def test_hostile_corpus_is_quarantined_beside_honest_traffic(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    corpus = build_corpus(FARM, int(time.time() * 1000))
    honest = [make_device(f"HONEST-{i:02d}") for i in range(DEVICES)]
    keys = {**corpus.registered, **{d.device_id: d.public_key for d in honest}}
    farmtrace("devices", "import", str(write_keys(tmp_path / "keys.json", keys)), "--db", db_url)
    farmtrace("devices", "revoke", corpus.revoked, "--db", db_url)
    state = tmp_path / "state"
    # Every copy must be kept to check its reason: the corpus puts more than a minute's
    # per-device quarantine bound on some topics (the bounds: tests/faults/test_quarantine_fill.py).
    gateway = GatewayProcess(
        broker.url,
        db_url,
        state,
        extra=["--batch-age", "0.3", "--replay-grace", "0.5", "--quarantine-device-rate", "100000"],
    )
    gateway.start().wait_connected()
    watcher = WatermarkWatcher(broker.host, broker.port)
    publisher = Publisher(broker.host, broker.port)
    honest_stream = [(d, s, signed(d, s)) for s in range(1, PER_DEVICE + 1) for d in honest]
    expected_honest = {(d.device_id, s): p for d, s, p in honest_stream}
    hostile = [case for case in corpus.cases for _ in range(COPIES)]
    flagged = [c for c in corpus.cases if not c.quarantined]
    quarantined = [c for c in hostile if c.quarantined]
    try:
        publisher.publish(corpus.prelude)
        anchor = corpus.devices["anchor"].device_id
        wait_for(lambda: watcher.get(anchor) == 5, 60, "the prelude committed, watermark 5")
        time.sleep(1.0)  # past --replay-grace: anchor has been told seq 3 is committed
        publisher.publish(
            _interleave(
                [(reading_topic(d), p) for d, _, p in honest_stream],
                [(c.topic, c.payload) for c in hostile],
            )
        )
        total = corpus.prelude_readings + len(expected_honest) + len(flagged)
        wait_for(
            lambda: (
                stored.reading_count() == total and stored.quarantine_count() >= len(quarantined)
            ),
            120,
            "every honest reading stored and every hostile message quarantined",
        )
    finally:
        publisher.close()
        watcher.close()
        code = gateway.stop()
    assert code == 0, gateway.log()[-3000:]
    log = gateway.log()
    assert "Traceback" not in log

    # Honest: every reading exactly once, byte for byte.
    seqs = stored.seqs()
    payloads = stored.payloads()
    for device in honest:
        assert seqs[device.device_id] == list(range(1, PER_DEVICE + 1))
    assert {k: payloads[k] for k in expected_honest} == expected_honest
    # Hostile: every row is a case, with the case's reason; every copy quarantined (rows are at
    # least once; the run report counts each message judged exactly once).
    by_message = {(c.topic, c.payload[:QUARANTINE_MAX_BYTES]): c for c in corpus.cases}
    rows: Counter[str] = Counter()
    for reason, _device, topic, payload in stored.quarantine():
        case: HostileCase | None = by_message.get((topic, payload))
        assert case is not None, f"an unexpected quarantine row: {reason} on {topic}"
        assert reason == case.expect, case.kind
        rows[case.kind] += 1
    for case in corpus.cases:
        if case.quarantined:
            assert rows[case.kind] >= COPIES, case.kind
    report = gateway.report()
    assert report["rejected"] == dict(Counter(c.expect for c in quarantined))
    # Flagged, not quarantined: stored once, the copies are duplicates, the fault is reported.
    assert seqs[corpus.devices["jumper"].device_id] == [1, 10**12]
    assert seqs[corpus.devices["drifter"].device_id] == [1, 3]
    assert report["duplicates"] == len(flagged) * (COPIES - 1)
    assert report["accepted"] == total
    assert {c.expect for c in flagged} == {STORED_SEQUENCE_SKIP, STORED_CLOCK_BACKWARDS}
    health = {d["device_id"]: d for d in gateway.health()["devices"]}
    assert health[corpus.devices["jumper"].device_id]["sequence_skips"] == 1
    assert health[corpus.devices["drifter"].device_id]["clock_backwards"] == 1
    # Only the prelude's signed floor was believed: the forged ones moved nothing.
    anchor_health = health[corpus.devices["anchor"].device_id]
    assert (anchor_health["drop_floor"], anchor_health["watermark"], anchor_health["lost"]) == (
        4,
        5,
        1,
    )
    assert "sequence skipped from 1 to 1000000000000" in log
    assert "clock went backwards" in log
    audit = farmtrace("audit", "--db", db_url, "--state", str(state))
    assert "OK" in audit.stdout


def _interleave(
    honest: list[tuple[str, bytes]], hostile: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """``hostile`` spread evenly through ``honest`` (the order within each kept)."""
    out: list[tuple[str, bytes]] = []
    step = len(honest) / max(len(hostile), 1)
    it = iter(hostile)
    for index, message in enumerate(honest):
        out.append(message)
        while len(out) - index - 1 < int((index + 1) / step):
            nxt = next(it, None)
            if nxt is None:
                break
            out.append(nxt)
    out.extend(it)
    return out
