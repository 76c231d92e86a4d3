"""A disk-fill attack through Mosquitto into a real gateway: the quarantine stays within its
bounds while honest ingest goes on and loses nothing (docs/gateway.md, "Quarantine bounds").

An attacker publishes distinct 60 KiB junk messages as fast as paho can (at most
``JUNK_MAX`` of them, for at most ``ATTACK_S`` seconds): half on the honest devices' own topics,
half on topics naming ever new devices. Meanwhile ten devices publish their signed readings.
The gateway runs with an overall budget of ``BUDGET`` bytes an hour. Before the bounds every
rejected message kept up to 16 KiB (2,000 junk messages of 60 KiB added 32 MiB in 0.7 s); now
the database may grow by at most the budget (plus its refill over the run) beyond what the
honest readings need. Every honest reading is stored once; every junk message is either a
quarantine row or counted in ``quarantine_refused`` (so the counts add up), and the audit and
the metrics show the refused ones.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from support.ingest import (
    GatewayProcess,
    Publisher,
    StoredView,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto, free_port

from farmtrace.store.models import Base
from farmtrace.wire import topics

pytestmark = pytest.mark.integration

DEVICES = [make_device(f"FILL-HONEST-{i:02d}") for i in range(10)]
READINGS = 60  # per device
JUNK_BYTES = 60 * 1024
JUNK_MAX = 4000
ATTACK_S = 6.0
BUDGET = 2 * 2**20
HONEST_ALLOWANCE = 1024 * len(DEVICES) * READINGS  # generous: a stored reading is ~400 bytes
REFUSED = Base.metadata.tables["quarantine_refused"]


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def attack(broker: Mosquitto, sent: list[int]) -> None:
    """Publish junk at full speed (QoS 1, a large window) until JUNK_MAX or ATTACK_S."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="attacker", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    filler = bytes(range(256)) * (JUNK_BYTES // 256)
    infos = []
    deadline = time.monotonic() + ATTACK_S
    try:
        for n in range(JUNK_MAX):
            if time.monotonic() > deadline:
                break
            device = (
                DEVICES[n // 2 % len(DEVICES)].device_id
                if n % 2
                else f"urn:epc:id:giai:4012345.FORGED{n}"
            )
            junk = (b"JUNK" + n.to_bytes(8, "big") + filler)[:JUNK_BYTES]
            infos.append(client.publish(topics.reading_topic("testfarm", device), junk, qos=1))
        for info in infos:
            info.wait_for_publish(120)
            assert info.is_published()
        sent.append(len(infos))
    finally:
        client.disconnect()
        client.loop_stop()


def honest(broker: Mosquitto) -> None:
    """Every device's readings, a round every 50 ms (about as long as the attack)."""
    publisher = Publisher(broker.host, broker.port, client_id="honest")
    try:
        for seq in range(1, READINGS + 1):
            publisher.publish([(reading_topic(d), signed(d, seq)) for d in DEVICES])
            time.sleep(0.05)
    finally:
        publisher.close()


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_a_disk_fill_attack_stays_within_the_quarantine_budget(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db = tmp_path / "farmtrace.db"
    url = f"sqlite:///{db}"
    keys = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in DEVICES})
    farmtrace("devices", "import", str(keys), "--db", url)
    port = free_port()
    gateway = GatewayProcess(
        broker.url,
        url,
        tmp_path / "state",
        extra=["--batch-age", "0.2", "--quarantine-hourly-bytes", str(BUDGET),
               "--metrics-port", str(port), "--log-level", "INFO"],
    )  # fmt: skip
    gateway.start().wait_connected()
    before = database_bytes(db)
    started = time.monotonic()
    sent: list[int] = []
    attacker = threading.Thread(target=attack, args=(broker, sent))
    attacker.start()
    honest(broker)
    attacker.join(180)
    assert sent, "the attacker did not finish"
    junk = sent[0]
    stored = StoredView(url)
    try:

        def settled() -> int:
            with stored.engine.connect() as conn:
                refused = conn.execute(select(func.coalesce(func.sum(REFUSED.c.refused), 0)))
                return stored.quarantine_count() + int(refused.scalar_one())

        wait_for(lambda: settled() >= junk, 180, "every junk message to be judged")
        wait_for(
            lambda: stored.reading_count() == len(DEVICES) * READINGS, 60, "the honest readings"
        )
        refused_metric = metric(port, "farmtrace_gateway_quarantine_refused_total")
        assert gateway.stop() == 0, gateway.log()[-3000:]
        elapsed = time.monotonic() - started
        assert settled() == junk  # each junk message is a row or counted, none twice
        assert stored.seqs() == {d.device_id: list(range(1, READINGS + 1)) for d in DEVICES}
        kept = stored.quarantine_count()
        per_device: dict[str | None, int] = {}
        for _, device_id, _, payload in stored.quarantine():
            per_device[device_id] = per_device.get(device_id, 0) + 1
            assert len(payload) <= 1024
    finally:
        stored.close()
    growth = database_bytes(db) - before
    limit = BUDGET * (1 + elapsed / 3600) + HONEST_ALLOWANCE
    print(
        f"\n{junk} junk messages of {JUNK_BYTES} bytes ({junk * JUNK_BYTES / 2**20:.0f} MiB) in "
        f"{elapsed:.1f} s: {kept} kept, {junk - kept} refused; database grew "
        f"{growth / 2**20:.2f} MiB (limit {limit / 2**20:.2f} MiB)"
    )
    assert junk >= 1000, f"the attack only managed {junk} messages"
    assert growth <= limit, f"the database grew {growth} bytes, over {limit:.0f}"
    assert refused_metric == junk - kept > 0
    # The honest devices' topics each kept at most a minute's burst plus the refill.
    assert max(per_device.get(d.device_id, 0) for d in DEVICES) <= 60 + elapsed
    report = farmtrace("audit", "--db", url)
    assert "refused past the quarantine's bounds (counted, not stored): malformed:" in (
        report.stdout
    ), report.stdout
