"""Running the gateway: registry changes while it runs, an unreachable broker, a database it
cannot open, a device gone silent, a graceful stop."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    ROOT,
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
from support.mosquitto import Mosquitto, free_port, require_mosquitto

from farmtrace.gateway.ingest import reasons

pytestmark = pytest.mark.integration

A, B = make_device("A"), make_device("B")
payload, topic = signed, reading_topic


@pytest.fixture
def broker(mosquitto_factory: Any) -> Mosquitto:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    return broker


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (narrows the conftest's fixture)."""
    return f"sqlite:///{tmp_path / 'farmtrace.db'}"


def test_registry_changes_while_running(
    broker: Mosquitto, db_url: str, stored: StoredView, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "a.json", {A.device_id: A.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    gateway.start("--registry-refresh", "0.2").wait_connected()
    publisher = Publisher(broker.host, broker.port)
    try:
        publisher.publish([(topic(A), payload(A, 1)), (topic(B), payload(B, 1))])
        wait_for(lambda: stored.reading_count() == 1, 60, "A's reading")
        wait_for(lambda: stored.quarantine_count() == 1, 60, "B, still unknown")
        # B is registered and A revoked while the gateway runs.
        farmtrace(
            "devices",
            "import",
            str(write_keys(tmp_path / "b.json", {B.device_id: B.public_key})),
            "--db",
            db_url,
        )
        farmtrace("devices", "revoke", A.device_id, "--db", db_url)
        time.sleep(1.0)
        publisher.publish([(topic(A), payload(A, 2)), (topic(B), payload(B, 2))])
        wait_for(lambda: stored.quarantine_count() == 2, 60, "A's new reading rejected")
        wait_for(lambda: stored.reading_count() == 2, 60, "B's reading accepted")
    finally:
        publisher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert stored.seqs() == {A.device_id: [1], B.device_id: [2]}
    assert [r for r, _, _, _ in stored.quarantine()] == [reasons.UNKNOWN_DEVICE, reasons.REVOKED]
    listing = farmtrace("devices", "list", "--db", db_url).stdout
    assert f"{A.device_id}" in listing and "revoked" in listing
    missing = farmtrace(
        "devices", "revoke", "urn:epc:id:giai:4012345.NOBODY", "--db", db_url, check=False
    )
    assert missing.returncode == 1 and "not registered" in missing.stderr


def test_unreachable_broker_is_retried_until_it_appears(
    tmp_path: Path, db_url: str, stored: StoredView
) -> None:
    keys = write_keys(tmp_path / "a.json", {A.device_id: A.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    broker = Mosquitto(
        workdir=tmp_path / "mosquitto", binary=require_mosquitto(), extra=GATEWAY_BROKER_SETTINGS
    )
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    gateway.start()
    try:
        wait_for(
            lambda: f"broker {broker.url} unreachable" in gateway.log(), 20, "the broker message"
        )
        assert "retrying in" in gateway.log()
        broker.start()
        gateway.wait_connected(timeout=60)
        publisher = Publisher(broker.host, broker.port)
        publisher.publish([(topic(A), payload(A, 1))])
        publisher.close()
        wait_for(lambda: stored.reading_count() == 1, 60, "the reading")
    finally:
        assert gateway.stop() == 0, gateway.log()[-3000:]
        broker.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "sqlite:////nonexistent/dir/x.db"], "cannot open the chain"),
        (["--db", "mysql://localhost/x"], "unsupported database"),
        (["--broker", "http://x"], "expected mqtt://HOST:PORT"),
        (["--batch-size", "5000", "--receive-maximum", "100"], "must exceed the batch size"),
    ],
)
def test_cannot_start_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    command = [
        sys.executable, "-m", "farmtrace", "gateway", "--broker", "mqtt://127.0.0.1:1",
        "--state", str(tmp_path / "state"), *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_silent_device_is_reported_and_its_return_noticed(
    broker: Mosquitto, db_url: str, stored: StoredView, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "k.json", {A.device_id: A.public_key, B.device_id: B.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    gateway = GatewayProcess(
        broker.url,
        db_url,
        tmp_path / "state",
        extra=["--batch-age", "0.1", "--silence-min", "1.5", "--silence-factor", "3"],
    )
    gateway.start().wait_connected()
    publisher = Publisher(broker.host, broker.port)
    try:
        for seq in range(1, 11):  # both every 0.1 s, then only B carries on
            publisher.publish([(topic(A), payload(A, seq)), (topic(B), payload(B, seq))])
            time.sleep(0.1)
        # B keeps its pace until A's alarm; a pause on a busy machine shorter than the 1.5 s
        # silence floor must not make B look silent.
        seq, deadline = 10, time.monotonic() + 30
        while f"device {A.device_id} silent for" not in gateway.log():
            assert time.monotonic() < deadline, "no silence alarm for A"
            seq += 1
            publisher.publish([(topic(B), payload(B, seq))])
            time.sleep(0.1)
        assert f"device {B.device_id} silent" not in gateway.log()
        wait_for(
            lambda: A.device_id in gateway.health()["silent"],
            10,
            "the health report",
        )
        publisher.publish([(topic(A), payload(A, 11))])
        wait_for(lambda: f"device {A.device_id} is back after" in gateway.log(), 60, "its return")
    finally:
        publisher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]


def test_metrics_are_off_unless_asked(broker: Mosquitto, db_url: str, tmp_path: Path) -> None:
    port = free_port()
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state")
    gateway.start().wait_connected()
    try:
        assert "metrics on" not in gateway.log()
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    finally:
        assert gateway.stop() == 0


@pytest.mark.parametrize(("settings", "kept"), [([], 1000), (GATEWAY_BROKER_SETTINGS, 3000)])
def test_broker_queue_limit_while_the_gateway_is_away(
    mosquitto_factory: Any,
    db_url: str,
    stored: StoredView,
    tmp_path: Path,
    settings: list[str],
    kept: int,
) -> None:
    """Mosquitto's default max_queued_messages (1000) silently drops what queues beyond it for
    a gateway that is away; the setting docs/gateway.md asks for keeps everything."""
    broker: Mosquitto = mosquitto_factory(extra=settings)
    keys = write_keys(tmp_path / "a.json", {A.device_id: A.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.2"])
    gateway.start().wait_connected()
    assert gateway.stop() == 0  # the session (and its subscription) stays with the broker
    publisher = Publisher(broker.host, broker.port)
    start_ms = int(time.time() * 1000) - 60_000
    publisher.publish([(topic(A), payload(A, s, ts_ms=start_ms + 10 * s)) for s in range(1, 3001)])
    publisher.close()
    gateway.start().wait_connected()
    try:
        wait_for(lambda: stored.reading_count() >= kept, 60, f"{kept} readings")
        time.sleep(1.0)
        assert stored.reading_count() == kept
    finally:
        assert gateway.stop() == 0


def _immutable(paths: list[Path], on: bool) -> None:
    subprocess.run(
        ["chattr", "+i" if on else "-i", *map(str, paths)], check=True, capture_output=True
    )


def test_unwritable_database_stops_acknowledging_then_recovers(
    broker: Mosquitto, db_url: str, stored: StoredView, tmp_path: Path
) -> None:
    database = Path(db_url.removeprefix("sqlite:///"))
    keys = write_keys(tmp_path / "a.json", {A.device_id: A.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    port = free_port()
    gateway.start("--metrics-port", str(port)).wait_connected()
    publisher = Publisher(broker.host, broker.port)
    files = [database, database.with_name(database.name + "-wal")]
    try:
        publisher.publish([(topic(A), payload(A, s)) for s in range(1, 6)])
        wait_for(lambda: stored.reading_count() == 5, 60, "the first readings")
        try:
            _immutable(files, True)  # even root cannot write an immutable file
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("chattr +i is not available here")
        try:
            publisher.publish([(topic(A), payload(A, s)) for s in range(6, 11)])
            wait_for(lambda: "not acknowledging, retrying" in gateway.log(), 60, "the error")
            time.sleep(1.5)
            assert stored.reading_count() == 5
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
            assert "farmtrace_gateway_queue_depth 5.0" in metrics  # held, not acknowledged
        finally:
            _immutable(files, False)
        wait_for(lambda: stored.reading_count() == 10, 60, "the recovery")
    finally:
        publisher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert stored.seqs() == {A.device_id: list(range(1, 11))}
    assert gateway.report()["acked"] == 10
