"""The simulator cut off from the broker for 10 simulated minutes, then back: its on-disk queue
drains and nothing is lost.

The simulator (``--speed 120``, ``--until-committed``) reaches Mosquitto through a TCP relay
(tests/support/relay.py) while the gateway stays connected to the broker directly. Once
readings flow, the relay closes every simulator connection and refuses new ones for 5 wall
seconds, 10 simulated minutes; meanwhile nothing more is stored and the readings measured pile
up in the simulator's outbox. Then the relay listens again. Reconciliation: the outbox is empty
at the end, every seq of every device is stored exactly once, each device's readings are in
the chain in seq order, and the audit is clean.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support.ingest import (
    ROOT,
    GatewayProcess,
    StoredView,
    farmtrace,
    register_sim_devices,
    sim_command,
    wait_for,
)
from support.mosquitto import Mosquitto
from support.relay import TcpRelay

from farmtrace.store.models import Base

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEED = 120
DEVICES = 4
INTERVAL_S = 10
"""Simulated seconds between readings: 60 readings a device in the 10-minute cut."""
CUT_SIM_S = 600
ENTRIES = Base.metadata.tables["entries"]


@pytest.fixture
def relay(broker: Mosquitto) -> Iterator[TcpRelay]:
    relay = TcpRelay(broker.host, broker.port).start()
    yield relay
    relay.close()


def outbox_queued(state: Path) -> int:
    """Readings waiting in the simulator's on-disk outbox (read-only, beside the simulator)."""
    with sqlite3.connect(f"file:{state / 'outbox.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def settled(stored: StoredView) -> dict[str, list[int]]:
    """The stored seqs once they stop changing for half a second (within 10 s)."""
    last, deadline = stored.seqs(), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = stored.seqs()
        if now == last:
            return now
        last = now
    raise AssertionError("readings kept arriving although every device was cut off")


def chain_order(stored: StoredView) -> dict[str, list[int]]:
    """Each device's seqs in the order the chain holds them (by global index)."""
    out: dict[str, list[int]] = {}
    with stored.engine.connect() as conn:
        rows = conn.execute(
            select(ENTRIES.c.device_id, ENTRIES.c.seq)
            .where(ENTRIES.c.device_id.is_not(None))
            .order_by(ENTRIES.c.global_index)
        )
        for device_id, seq in rows:
            out.setdefault(device_id, []).append(int(seq))
    return out


def test_simulator_cut_off_for_ten_simulated_minutes(
    broker: Mosquitto, relay: TcpRelay, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    state = tmp_path / "sim"
    register_sim_devices(state, DEVICES, db_url)
    stored = StoredView(db_url)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "0.1"])
    gateway.start().wait_connected()
    report_path = tmp_path / "sim-report.json"
    # Simulated time runs ahead of the gateway's clock: start it in the past so that it stays
    # within the gateway's --max-future (10 min) to the end.
    start = datetime.now(UTC) - timedelta(minutes=30)
    with open(tmp_path / "sim.log", "ab") as log:
        process = subprocess.Popen(
            sim_command("run", "--broker", relay.url, "--state", str(state), "--devices", str(DEVICES),
                "--interval", str(INTERVAL_S), "--speed", str(SPEED), "--duration", "20m",
                "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--until-committed", "--resend-after", "3", "--drain-timeout", "60",
                "--report", str(report_path), "-v"),
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        wait_for(lambda: stored.reading_count() >= 10 * DEVICES, 60, "readings before the cut")
        assert relay.sever() == DEVICES  # one connection a device, all cut at once
        cut_at = time.monotonic()
        queued_at_cut = outbox_queued(state)  # only grows now: no watermark reaches the devices
        before = settled(stored)  # what was already in the gateway's hands is committed
        time.sleep(max(0.0, cut_at + CUT_SIM_S / SPEED - time.monotonic()))
        during, queued_during = stored.seqs(), outbox_queued(state)
        relay.restore()
        assert during == before, "readings reached the gateway through the cut"
        # ~60 readings a device measured during the cut wait on disk.
        assert queued_during >= queued_at_cut + DEVICES * 30, (queued_at_cut, queued_during)
        assert process.wait(timeout=150) == 0, (tmp_path / "sim.log").read_text()[-3000:]
        print(f"cut: outbox {queued_at_cut} -> {queued_during} readings; stored held at "
              f"{sum(map(len, during.values()))}")  # fmt: skip
    finally:
        process.kill()
        process.wait(10)
        assert gateway.stop() == 0, gateway.log()[-3000:]

    report = json.loads(report_path.read_text())
    assert report["queued"] == 0 and outbox_queued(state) == 0
    last_seq: dict[str, int] = report["last_seq"]
    high_at_cut = {d: max(seqs) for d, seqs in before.items()}
    in_cut = CUT_SIM_S // INTERVAL_S  # readings a device measured while cut off
    assert len(last_seq) == DEVICES
    assert all(last_seq[d] > high + in_cut for d, high in high_at_cut.items())
    expected = {d: list(range(1, last + 1)) for d, last in last_seq.items()}
    assert stored.seqs() == expected  # every seq once
    assert chain_order(stored) == expected  # and in seq order
    assert stored.quarantine_count() == 0
    assert relay.connections > DEVICES  # the devices came back through the relay
    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "gateway"))
    assert "OK" in audit.stdout
    stored.close()
