"""The broker SIGKILLed and restarted under load, end to end: devices -> Mosquitto -> gateway.

Mosquitto runs with persistence on and saves every 2 s (``autosave_interval 2``), so each crash
both loses what arrived since the last save (queued readings, acknowledgements, the gateway's
latest retained watermarks) and restores a stale snapshot (already committed readings still
queued for the gateway, older watermarks). Nothing of that may show: the simulated devices
(``--until-committed``) resend what the watermarks do not cover, the gateway recognises copies.
Reconciled by device and seq: every reading the devices took is stored once, the quarantine is
empty (no copy taken for a replay), and ``farmtrace audit`` is clean.

SQLite only: the broker's crash does not reach the database layer, and the gateway's crash
test already runs on both backends.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from crash_support import Fleet, audit_clean, reconcile
from support.ingest import GATEWAY_BROKER_SETTINGS, GatewayProcess, StoredView, wait_for
from support.mosquitto import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKER_KILLS = 3
SEED = 3


def connects(gateway: GatewayProcess) -> int:
    return gateway.log().count(" connected to mqtt://")


def wait_reconnected(gateway: GatewayProcess, seen: int) -> None:
    wait_for(lambda: connects(gateway) > seen, 60, "the gateway to reconnect")


def wait_flowing(stored: StoredView, more: int) -> None:
    """Wait until ``more`` readings beyond those stored now are stored."""
    target = stored.reading_count() + more
    wait_for(lambda: stored.reading_count() >= target, 60, f"{more} more readings stored")


def test_broker_killed_and_restarted_under_load(mosquitto_factory: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    broker: Mosquitto = mosquitto_factory(extra=[*GATEWAY_BROKER_SETTINGS, "autosave_interval 2"])
    stored = StoredView(db_url)
    fleet = Fleet(tmp_path, 8, db_url)
    state = tmp_path / "gateway"
    gateway = GatewayProcess(broker.url, db_url, state, extra=["--batch-age", "0.2"])
    gateway.start().wait_connected()
    rng = random.Random(SEED)
    kills = 0
    try:
        fleet.start(broker.url, wall_seconds=240.0)
        for _ in range(BROKER_KILLS):
            wait_flowing(stored, 64)
            time.sleep(rng.uniform(0.0, 2.0))  # anywhere in the 2 s autosave cycle
            seen = connects(gateway)
            broker.kill()
            kills += 1
            time.sleep(rng.uniform(0.2, 1.5))  # devices queue meanwhile
            broker.start()
            wait_reconnected(gateway, seen)
        wait_flowing(stored, 64)
        fleet.stop()
        report = fleet.drain(broker.url)
        assert gateway.stop() == 0, gateway.log()[-3000:]
    finally:
        fleet.kill()
        gateway.kill()

    found = reconcile(stored, report["last_seq"])
    assert stored.quarantine_count() == 0, stored.quarantine_reasons()
    stored.close()
    audit_clean(db_url, state)
    assert kills == BROKER_KILLS
    stalled = fleet.report()["resent"] + report["resent"]
    copies = gateway.report()["duplicates"]
    resumed = gateway.log().count("(resumed session")
    print(
        f"{kills} broker kills; {found}; copies the gateway recognised {copies} (devices resend "
        f"above the watermark on reconnecting); readings resent after a stalled watermark "
        f"{stalled}; gateway sessions restored from the broker's snapshot {resumed}"
    )
