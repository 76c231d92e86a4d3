"""A device clock that jumps backwards: flagged, neither silently accepted nor silently dropped.

The simulator's ``clock-skew`` fault sets one device's clock back an hour at 3 simulated minutes
and again at 6 (two backward jumps; the readings between are consistently an hour off), while a
second device keeps good time. Every reading is authentic, so every one must be stored; each
jump must be flagged where an operator looks:

* the stored rows: the signed ``timestamp_ms`` of the seq after each jump lies before its
  predecessor's (the flag can always be recomputed from what was signed);
* the gateway's log (a warning naming device, seq and size of the jump), its
  ``farmtrace_gateway_clock_backwards_total`` metric and ``device-health.json``;
* ``farmtrace audit --json`` (per device ``clock_backwards`` and ``clock_backwards_at``), which
  reads the database and so still says it after the gateway restarted; and its text report;
* the API: ``clock_backwards`` is true on exactly those readings of ``GET /v1/readings/{i}``.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
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
from support.mosquitto import Mosquitto, free_port

from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.store.models import Base

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENTRIES = Base.metadata.tables["entries"]
JUMPS = ("clock-skew:devices=1,at=3m,value=-3600", "clock-skew:devices=1,at=6m,value=-3600")


def timestamps(stored: StoredView, device_id: str) -> dict[int, int]:
    with stored.engine.connect() as conn:
        rows = conn.execute(
            select(ENTRIES.c.seq, ENTRIES.c.timestamp_ms).where(ENTRIES.c.device_id == device_id)
        )
        return {int(seq): int(ts) for seq, ts in rows}


def test_clock_jumping_backwards_is_stored_and_flagged(broker: Mosquitto, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    state = tmp_path / "sim"
    register_sim_devices(state, 2, db_url)
    port = free_port()
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "0.1"])
    gateway.start("--metrics-port", str(port)).wait_connected()
    start = datetime.now(UTC) - timedelta(minutes=20)
    report_path = tmp_path / "sim-report.json"
    faults = [arg for spec in JUMPS for arg in ("--fault", spec)]
    stored = StoredView(db_url)
    try:
        done = subprocess.run(
            sim_command("run", "--broker", broker.url, "--state", str(state), "--devices", "2",
                "--interval", "10", "--speed", "240", "--duration", "10m",
                "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--until-committed",
                "--resend-after", "3", "--drain-timeout", "60", "--report", str(report_path),
                *faults),
            cwd=ROOT, capture_output=True, text=True, timeout=150,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(report_path.read_text())
        last_seq: dict[str, int] = report["last_seq"]
        wait_for(
            lambda: stored.reading_count() == sum(last_seq.values()), 30, "every reading stored"
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        wait_for(lambda: gateway.health()["devices"], 60, "the device-health report")
        health = {d["device_id"]: d for d in gateway.health()["devices"]}
    finally:
        assert gateway.stop() == 0, gateway.log()[-3000:]

    skewed = sorted(e["seq"] for e in report["events"] if e["kind"] == "clock-skew")
    faulty = {e["device_id"] for e in report["events"] if e["kind"] == "clock-skew"}
    assert len(faulty) == 1 and report["queued"] == 0
    (device,) = faulty
    (other,) = set(last_seq) - faulty
    second = next(s for s in skewed if report_seconds(report, device, s) == -7200)
    jumps = [skewed[0], second]
    assert skewed[0] < second < last_seq[device]

    # Stored, every one, once; nothing quarantined.
    assert stored.seqs() == {d: list(range(1, last + 1)) for d, last in last_seq.items()}
    assert stored.quarantine_count() == 0
    # The stored, signed timestamps show each jump (and only those).
    ts = timestamps(stored, device)
    went_back = [s for s in range(2, last_seq[device] + 1) if ts[s] < ts[s - 1] - 1000]
    assert went_back == jumps
    indexes = global_indexes(stored)
    stored.close()

    # The gateway said so, named the device and seq, and counted it.
    log = gateway.log()
    for seq in jumps:
        assert re.search(
            rf"device {re.escape(device)}: clock went backwards by 359\d\.\d+ s at seq {seq} "
            r"\(stored and flagged\)",
            log,
        ), seq
    assert f"device {other}: clock went backwards" not in log
    assert re.search(rb"^farmtrace_gateway_clock_backwards_total 2\.0$", metrics, re.MULTILINE)
    assert health[device]["clock_backwards"] == 2 and health[other]["clock_backwards"] == 0

    # The audit reads it from the database, after the gateway is gone.
    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "gateway"), "--json")
    result = json.loads(audit.stdout)
    assert result["ok"] is True
    devices = {d["device_id"]: d for d in result["devices"]}
    assert devices[device]["clock_backwards"] == 2
    assert devices[device]["clock_backwards_at"] == jumps
    assert devices[other]["clock_backwards"] == 0 and devices[other]["clock_backwards_at"] == []
    text = farmtrace("audit", "--db", db_url).stdout
    assert "1 devices whose clock went backwards (readings kept)" in text
    assert f"{device}: 2 times, at seq {jumps[0]}, {jumps[1]}" in text

    # The API flags the same readings (and serves them as signed).
    settings = Settings(db_url=db_url, state_dir=tmp_path / "api", rate_per_s=1000, rate_burst=1000)
    with TestClient(create_app(settings)) as client:
        flagged = set()
        for index, key in indexes.items():
            body = client.get(f"/v1/readings/{index}").json()
            assert (body["device_id"], body["seq"]) == key
            if body["clock_backwards"]:
                flagged.add(key)
    assert flagged == {(device, seq) for seq in jumps}


def global_indexes(stored: StoredView) -> dict[int, tuple[str, int]]:
    """Every stored reading's global index and ``(device_id, seq)``."""
    with stored.engine.connect() as conn:
        rows = conn.execute(
            select(ENTRIES.c.global_index, ENTRIES.c.device_id, ENTRIES.c.seq).where(
                ENTRIES.c.kind == "reading"
            )
        )
        return {int(i): (str(d), int(s)) for i, d, s in rows}


def report_seconds(report: dict[str, Any], device: str, seq: int) -> float:
    """The total skew the simulator applied to ``device``'s reading ``seq``."""
    return float(
        next(
            e["seconds"]
            for e in report["events"]
            if e["kind"] == "clock-skew" and e["device_id"] == device and e["seq"] == seq
        )
    )
