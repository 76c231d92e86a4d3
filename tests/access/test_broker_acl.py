"""The shipped Mosquitto configuration with access files made by ``farmtrace broker files``
from a real registry: each device publishes only to its own topics, wrong or revoked
credentials are refused, the gateway user reads readings and writes watermarks; the simulator
and ``farmtrace gateway`` run with the generated credentials, the devices over TLS."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from broker_support import NOT_AUTHORIZED, Login, ShippedBroker, TlsFiles, make_certificates
from support.ingest import (
    FARM,
    GatewayProcess,
    StoredView,
    farmtrace,
    make_device,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import require_mosquitto

from farmtrace.wire import topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def broker_files(db: str, out: Path) -> tuple[dict[str, str], tuple[str, str]]:
    """Run ``farmtrace broker files``; return the device passwords and the gateway login."""
    farmtrace("broker", "files", "--db", db, "--out", str(out))
    passwords = json.loads((out / "device-passwords.json").read_text())
    env = dict(
        line.split("=", 1) for line in (out / "gateway.env").read_text().splitlines() if "=" in line
    )
    return passwords, (env["GATEWAY_MQTT_USER"], env["GATEWAY_MQTT_PASSWORD"])


def start_broker(tmp_path: Path, access: Path, tls: TlsFiles | None = None) -> ShippedBroker:
    broker = ShippedBroker(
        workdir=tmp_path / "broker", binary=require_mosquitto(), access=access, tls=tls
    )
    broker.start()
    return broker


def asset(device_id: str) -> str:
    return device_id.rsplit(":", 1)[-1]


def test_each_device_publishes_only_to_its_own_topics(tmp_path: Path) -> None:
    a, b, c = (make_device(f"ACL-{n}") for n in "ABC")
    db, access = f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "access"
    keys = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in (a, b, c)})
    farmtrace("devices", "import", "--db", db, str(keys))
    passwords, (gw_user, gw_password) = broker_files(db, access)
    broker = start_broker(tmp_path, access)
    logins: list[Login] = []

    def login(user: str | None, password: str | None, client_id: str, **kw: str) -> Login:
        logins.append(Login(broker.port, user, password, client_id, **kw))
        return logins[-1]

    try:
        gateway = login(gw_user, gw_password, "farmtrace-gw-test")
        gateway.subscribe("$share/farmtrace/farm/+/+/reading", "farm/+/+/status",
                          "farm/+/+/dropped", "farm/+/+/committed")  # fmt: skip
        dev_a = login(asset(a.device_id), passwords[a.device_id], a.device_id,
                      will=topics.status_topic(FARM, a.device_id))  # fmt: skip
        assert dev_a.connected, dev_a.connack
        dev_a.subscribe("farm/#")  # granted, but the ACL decides what is delivered

        own = (topics.reading_topic(FARM, a.device_id), signed(a, 1))
        assert dev_a.publish(*own).value == 0
        forged = (topics.reading_topic(FARM, b.device_id), signed(b, 1))
        assert dev_a.publish(*forged).value == NOT_AUTHORIZED
        watermark = (topics.committed_topic(FARM, a.device_id), b"1")
        assert dev_a.publish(*watermark).value == NOT_AUTHORIZED  # only gateways commit
        # The client ID is the other device's: it grants nothing (the ACL names users).
        posing = login(asset(a.device_id), passwords[a.device_id], b.device_id)
        assert posing.publish(*forged).value == NOT_AUTHORIZED
        assert posing.publish(topics.status_topic(FARM, b.device_id), b"offline").value == NOT_AUTHORIZED  # fmt: skip
        posing.close()
        sentinel = (topics.reading_topic(FARM, a.device_id), signed(a, 2))
        assert dev_a.publish(*sentinel).value == 0
        # QoS 1 from one client keeps its order: had the forged reading been passed on, it
        # would have reached the gateway before the sentinel.
        seen = gateway.wait_for(sentinel)
        assert own in seen and forged not in seen
        assert all(b.device_id not in t for t, _ in seen), seen

        # The gateway user writes watermarks and reads them back; a device reads only its own.
        for device in (a, b):
            assert gateway.publish(topics.committed_topic(FARM, device.device_id), b"7", retain=True).value == 0  # fmt: skip
        mark_b = (topics.committed_topic(FARM, b.device_id), b"7")
        gateway.wait_for(mark_b)
        got_a = dev_a.wait_for((topics.committed_topic(FARM, a.device_id), b"7"))
        dropped = (topics.dropped_topic(FARM, a.device_id), b"0")
        assert dev_a.publish(*dropped, retain=True).value == 0
        gateway.wait_for(dropped)
        assert all(topic.split("/")[2] == a.device_id for topic, _ in dev_a.received()), got_a
        assert not dev_a.received().count(mark_b)

        wrong = login(asset(a.device_id), "not-the-password", "wrong-password")
        anonymous = login(None, None, "anonymous")
        assert wrong.connack is not None and wrong.connack.is_failure
        assert anonymous.connack is not None and anonymous.connack.is_failure

        # Revocation: c logs in until the files are regenerated and the broker reloaded;
        # then the broker drops its connection and refuses it.
        dev_c = login(asset(c.device_id), passwords[c.device_id], c.device_id)
        reading_c = topics.reading_topic(FARM, c.device_id)
        assert dev_c.connected and dev_c.publish(reading_c, signed(c, 1)).value == 0
        farmtrace("devices", "revoke", "--db", db, c.device_id)
        after, _ = broker_files(db, access)
        assert c.device_id not in after
        assert after == {d: p for d, p in passwords.items() if d != c.device_id}  # kept
        broker.reload()
        assert dev_c.disconnected.wait(10), "the revoked device stayed connected"
        revoked = login(asset(c.device_id), passwords[c.device_id], c.device_id)
        assert revoked.connack is not None and revoked.connack.is_failure, revoked.connack
        again = login(asset(b.device_id), passwords[b.device_id], b.device_id)
        assert again.connected, again.connack  # the others' passwords did not change
    finally:
        for client in logins:
            client.close()
        broker.kill()


def plain_connack(port: int) -> bytes | None:
    """Send a plain MQTT 5 CONNECT to ``port``; the broker's answer, or ``None`` if it closed
    or reset the connection without one."""
    connect = bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([5, 2, 0, 30, 0, 0, 1]) + b"x"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(connect)
        try:
            return sock.recv(64) or None
        except ConnectionResetError:
            return None


def run_simulator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace.sim", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.slow
def test_simulator_over_tls_and_gateway_with_generated_credentials(tmp_path: Path) -> None:
    state, access = tmp_path / "sim", tmp_path / "access"
    db = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    assert run_simulator("init", "--state", str(state), "--devices", "3").returncode == 0
    exported = run_simulator("export-keys", "--state", str(state))
    (tmp_path / "keys.json").write_text(exported.stdout)
    pins = tmp_path / "gateway-keys"
    farmtrace(
        "devices", "import", "--db", db, str(tmp_path / "keys.json"),
        "--gateway-state", str(tmp_path / "gw"), "--pin-file", str(pins),
    )  # fmt: skip
    _, (gw_user, gw_password) = broker_files(db, access)
    tls = make_certificates(tmp_path)
    broker = start_broker(tmp_path, access, tls=tls)
    gateway = GatewayProcess(
        f"mqtt://{gw_user}:{gw_password}@127.0.0.1:{broker.port}",
        db,
        tmp_path / "gw",
        extra=["--batch-age", "0.2"],
    )
    try:
        # Devices are off the broker's machine: TLS only. Plain MQTT on the TLS port fails.
        assert plain_connack(broker.tls_port) is None
        assert (plain_connack(broker.port) or b"")[:1] == b"\x20"  # the plain port answers
        assert "wrong version number" in broker.log()
        gateway.start().wait_connected()
        report = tmp_path / "report.json"
        done = run_simulator(
            "run", "--broker", f"mqtts://127.0.0.1:{broker.tls_port}", "--ca-file", str(tls.ca),
            "--username", "{asset}", "--password-file", str(access / "device-passwords.json"),
            "--state", str(state), "--devices", "3", "--interval", "1", "--speed", "20",
            "--duration", "40", "--until-committed", "--gateway-key", str(pins),
            "--drain-timeout", "60", "--report", str(report),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        sent = json.loads(report.read_text())
        assert sent["readings"] == sent["acked"] > 0 and sent["failed"] == 0, sent
        view = StoredView(db)
        try:
            wait_for(lambda: view.reading_count() >= sent["readings"], 60, "readings stored")
            stored = view.seqs()
            assert sum(len(s) for s in stored.values()) == sent["readings"]
            assert all(s == list(range(1, len(s) + 1)) for s in stored.values()), stored
            assert view.quarantine_count() == 0
        finally:
            view.close()
        assert gateway.stop() == 0
    finally:
        gateway.kill()
        broker.kill()
