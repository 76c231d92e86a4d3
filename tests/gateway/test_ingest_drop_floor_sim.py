"""The signed drop floor end to end: the simulator's outbox overflows while the broker is down,
its devices publish their signed floors, and the gateway believes them.

With ``--until-committed`` a device forgets a reading only once the commit watermark covers
it, and the watermark can only pass the seqs a device discarded if the gateway accepts its
floor: a floor refused (an unsigned format, a key mix-up) leaves readings queued at exit.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    ROOT,
    GatewayProcess,
    StoredView,
    register_sim_devices,
    sim_command,
)
from support.mosquitto import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 3
QUEUE_LIMIT = 5


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (narrows the conftest's fixture)."""
    return f"sqlite:///{tmp_path / 'farmtrace.sqlite3'}"


def test_overflowed_outbox_floor_is_believed_and_the_queue_drains(
    mosquitto_factory: Any, db_url: str, stored: StoredView, tmp_path: Path
) -> None:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    state = tmp_path / "sim"
    register_sim_devices(state, DEVICES, db_url)
    broker.stop()
    start = datetime.now(UTC) - timedelta(seconds=120)
    report_path = tmp_path / "sim-report.json"
    with open(tmp_path / "sim.log", "ab") as log:
        process = subprocess.Popen(
            sim_command("run", "--broker", broker.url, "--state", str(state), "--devices", str(DEVICES),
                "--interval", "1", "--speed", "10", "--duration", "60",
                "--queue-limit", str(QUEUE_LIMIT), "--offline-start", "--until-committed",
                "--resend-after", "3", "--drain-timeout", "60",
                "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--report", str(report_path)),
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", ["--batch-age", "0.2"])
    try:
        time.sleep(3.0)  # ~30 readings per device while the broker is down; the outbox holds 5
        broker.start()
        gateway.start().wait_connected()
        code = process.wait(timeout=120)
    finally:
        process.kill()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    sim_log = (tmp_path / "sim.log").read_text()
    assert code == 0, sim_log[-3000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    # Every reading the devices kept was committed; none is left waiting for a watermark.
    assert report["dropped"] > 0 and report["queued"] == 0, report
    health = {d["device_id"]: d for d in gateway.health()["devices"]}
    seqs = stored.seqs()
    for device, last in report["last_seq"].items():
        floor = health[device]["drop_floor"]
        assert floor > 0, device
        # Above the floor everything arrived; at or below it, what was sent before the outbox
        # discarded it is stored and the rest is lost (the outbox can overflow again while
        # the first watermark is on its way, after some of those readings were sent).
        assert seqs[device][-(last - floor) :] == list(range(floor + 1, last + 1)), device
        below = [s for s in seqs[device] if s <= floor]
        assert len(set(seqs[device])) == len(seqs[device]) and all(s >= 1 for s in below)
        assert (health[device]["watermark"], health[device]["lost"]) == (last, floor - len(below))
    assert 0 < sum(h["lost"] for h in health.values()) <= report["dropped"]
    assert stored.quarantine_count() == 0
    assert "dropped readings through seq" in gateway.log()
