"""The gateway against the real simulator: every attack mode on, and crashes at random moments.

The simulator runs in ``--until-committed`` mode, keeping each reading until the gateway's
commit watermark covers it, and reports every seq it assigned and every attack message it sent
(with its bytes). Reconciliation is by device and seq: the stored readings must be exactly
seqs 1..last of every device, once each, and every attack message must be in the quarantine
with the reason its kind calls for.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    ROOT,
    GatewayProcess,
    StoredView,
    farmtrace,
    register_sim_devices,
    sim_command,
    wait_for,
)
from support.mosquitto import Mosquitto

from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.judge import QUARANTINE_MAX_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ATTACKS = (
    "replay:every=20",
    "bad-signature:every=7",
    "tamper:every=11",
    "unknown-device:every=13",
    "malformed:every=5",
    "oversized:every=17",
)
EXPECTED = {
    "replay": {reasons.REPLAY},
    "bad-signature": {reasons.BAD_SIGNATURE},
    "tamper": {reasons.ALTERED},
    "unknown-device": {reasons.UNKNOWN_DEVICE},
    "oversized": {"malformed:oversized"},
}


@pytest.fixture
def broker(mosquitto_factory: Any) -> Mosquitto:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    return broker


def start_sim(
    broker: Mosquitto, state: Path, wall_seconds: float, *extra: str
) -> subprocess.Popen[bytes]:
    speed = 240.0
    start = datetime.now(UTC) - timedelta(seconds=wall_seconds * speed + 600)
    with open(state.parent / "sim.log", "ab") as log:
        return subprocess.Popen(
            sim_command("run", "--broker", broker.url, "--state", str(state), "--devices", "8",
            "--interval", "60", "--speed", str(speed), "--duration", f"{wall_seconds * speed:.0f}",
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--until-committed",
            "--resend-after", "3", "--drain-timeout", "60",
            "--report", str(state.parent / "sim-report.json"), *extra),
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip


def not_quarantined(stored: StoredView, injected: list[dict[str, Any]]) -> list[str]:
    """The attack messages without their quarantine row (identical copies count one each)."""
    rows = Counter((topic, payload) for _, _, topic, payload in stored.quarantine())
    missing = []
    for event in injected:
        key = (event["topic"], bytes.fromhex(event["payload_hex"])[:QUARANTINE_MAX_BYTES])
        if rows[key]:
            rows[key] -= 1
        else:
            missing.append(f"{event['kind']} {event['device_id']} seq {event['seq']}")
    return missing


def wait_for_the_quarantine(
    stored: StoredView, injected: list[dict[str, Any]], gateway: GatewayProcess
) -> None:
    """Wait until every attack message has its quarantine row; if one never comes, name the
    missing ones and the copies the gateway counted as duplicates (a replay lost as a
    duplicate shows there)."""
    try:
        wait_for(lambda: stored.quarantine_count() >= len(injected), 60, "the attacks")
    except AssertionError:
        duplicates = {
            d["device_id"]: d["duplicates"] for d in gateway.health()["devices"] if d["duplicates"]
        }
        raise AssertionError(
            f"after 60 s, {len(injected) - stored.quarantine_count()} attack messages are not "
            f"quarantined: {not_quarantined(stored, injected)}; duplicates counted by the "
            f"gateway, by device: {duplicates}"
        ) from None


def reconcile(stored: StoredView, report: dict[str, Any]) -> None:
    last_seq: dict[str, int] = report["last_seq"]
    assert sum(last_seq.values()) > 0
    assert stored.seqs() == {d: list(range(1, last + 1)) for d, last in last_seq.items() if last}


def test_simulator_with_every_attack_mode(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    state = tmp_path / "sim"
    register_sim_devices(state, 8, db_url)
    gateway = GatewayProcess(
        broker.url,
        db_url,
        tmp_path / "gateway",
        extra=["--batch-age", "0.2", "--replay-grace", "0.5"],
    )
    gateway.start().wait_connected()
    attacks = [a for spec in ATTACKS for a in ("--attack", spec)]
    process = start_sim(broker, state, 20.0, *attacks)
    try:
        assert process.wait(timeout=150) == 0, (tmp_path / "sim.log").read_text()[-3000:]
        report = json.loads((tmp_path / "sim-report.json").read_text())
        injected = [e for e in report["events"] if e["kind"] in report["attacks"]]
        assert {e["kind"] for e in injected} == {a.split(":")[0] for a in ATTACKS}
        wait_for_the_quarantine(stored, injected, gateway)
    finally:
        process.kill()
        assert gateway.stop() == 0, gateway.log()[-3000:]

    reconcile(stored, report)
    rows = {(topic, payload): reason for reason, _, topic, payload in stored.quarantine()}
    assert len(rows) == len(injected)  # nothing else was quarantined
    for event in injected:
        # The quarantine keeps the first QUARANTINE_MAX_BYTES of a payload (the oversize attack).
        reason = rows[(event["topic"], bytes.fromhex(event["payload_hex"])[:QUARANTINE_MAX_BYTES])]
        expected = EXPECTED.get(event["kind"])
        if expected is None:  # malformed: the decoder's reason for the variant
            assert reason.startswith(reasons.MALFORMED_PREFIX), event
        else:
            assert reason in expected, (event["kind"], event["seq"], reason)
    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "gateway"))
    assert "OK" in audit.stdout


def test_gateway_killed_repeatedly_under_load_loses_and_repeats_nothing(
    db_url: str, broker: Mosquitto, stored: StoredView, tmp_path: Path
) -> None:
    state = tmp_path / "sim"
    register_sim_devices(state, 8, db_url)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", extra=["--batch-age", "0.5"])
    gateway.start().wait_connected()
    process = start_sim(broker, state, 25.0)
    rng = random.Random(7)
    kills = 0
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(rng.uniform(1.5, 4.0))
            gateway.kill()  # SIGKILL, wherever it was: filling, committing, acknowledging
            kills += 1
            time.sleep(rng.uniform(0.0, 1.0))
            gateway.start().wait_connected()
        assert process.wait(timeout=150) == 0, (tmp_path / "sim.log").read_text()[-3000:]
    finally:
        process.kill()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert kills >= 3
    report = json.loads((tmp_path / "sim-report.json").read_text())
    reconcile(stored, report)
    assert stored.quarantine_count() == 0
    audit = farmtrace("audit", "--db", db_url, "--state", str(tmp_path / "gateway"))
    assert "OK" in audit.stdout
