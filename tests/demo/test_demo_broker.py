"""The demo's own broker, locked down (issue 13): started as ``farmtrace demo`` starts it, from
``farmtrace broker files`` of a real registry. Mosquitto refuses anonymous clients and, through
the ACL, a device publishing on another device's topic or a forged ``committed`` watermark;
started as root its persistence saves (it used to log "Permission denied" on every save). The
embedded broker (rumqttd) refuses anonymous clients and wrong passwords.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from access.broker_support import NOT_AUTHORIZED, Login
from support.ingest import make_device, write_keys
from support.mosquitto import require_mosquitto

from farmtrace.demo.broker import EMBEDDED, MOSQUITTO, BrokerPlan, start_broker
from farmtrace.demo.supervisor import Supervisor
from farmtrace.gateway.broker.acl import device_user
from farmtrace.gateway.broker.credentials import load_gateway_env
from farmtrace.wire import topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FARM = "demo"


def _farmtrace(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _access(tmp_path: Path) -> tuple[Path, list[str]]:
    """Register two devices and write their broker files, as the demo does."""
    devices = [make_device("DEMO-0001"), make_device("DEMO-0002")]
    db = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    keys = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in devices})
    _farmtrace("devices", "import", str(keys), "--db", db)
    access = tmp_path / "demo" / "broker" / "access"
    access.parent.mkdir(parents=True)
    _farmtrace("broker", "files", "--db", db, "--out", str(access))
    return access, [d.device_id for d in devices]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_demo_mosquitto_refuses_anonymous_and_cross_device_publishes_and_saves_as_root(
    tmp_path: Path,
) -> None:
    access, (alice, bob) = _access(tmp_path)
    passwords = json.loads((access / "device-passwords.json").read_text())
    gateway = load_gateway_env(access / "gateway.env")
    assert gateway is not None
    supervisor = Supervisor(tmp_path / "logs")
    plan = BrokerPlan(MOSQUITTO, binary=require_mosquitto())
    port = _port(start_broker(plan, tmp_path / "demo", supervisor, access))
    logins: list[Login] = []
    try:
        anonymous = Login(port, None, None, "anonymous-attacker")
        logins.append(anonymous)
        assert not anonymous.connected  # no publish of any kind: not even a connection
        wrong = Login(port, device_user(alice), "not-the-password", alice)
        logins.append(wrong)
        assert not wrong.connected
        watcher = Login(port, *gateway, "demo-gateway")
        logins.append(watcher)
        watcher.subscribe(topics.READING_FILTER, topics.COMMITTED_FILTER)
        device = Login(port, device_user(alice), passwords[alice], alice)
        logins.append(device)
        assert device.connected
        # Another device's reading topic, and a forged watermark (its own or another's).
        for topic in (
            topics.reading_topic(FARM, bob),
            topics.committed_topic(FARM, alice),
            topics.committed_topic(FARM, bob),
        ):
            assert device.publish(topic, b"1000000", retain=True).value == NOT_AUTHORIZED, topic
        # Its own reading goes through, and is all the gateway sees.
        own = (topics.reading_topic(FARM, alice), b"genuine")
        assert not device.publish(*own).is_failure
        assert watcher.wait_for(own) == [own]
        # The gateway's own watermark is kept retained across a stop and start.
        mark = (topics.committed_topic(FARM, alice), b"signed-by-the-gateway")
        assert not watcher.publish(*mark, retain=True).is_failure
    finally:
        for login in logins:
            login.close()
        supervisor.stop_all(("broker",))
    log = (tmp_path / "logs" / "broker.log").read_text()
    assert "Permission denied" not in log, log[-2000:]
    assert "Saving in-memory database" in log
    assert (tmp_path / "demo" / "broker" / "mosquitto.db").stat().st_size > 0
    supervisor = Supervisor(tmp_path / "logs")
    port = _port(start_broker(plan, tmp_path / "demo", supervisor, access))
    try:
        again = Login(port, *gateway, "demo-gateway-2")
        again.subscribe(topics.COMMITTED_FILTER)
        assert again.wait_for(mark) == [mark]  # only the gateway's: no forgery was kept
        again.close()
    finally:
        supervisor.stop_all(("broker",))


def test_demo_embedded_broker_takes_only_the_logins(tmp_path: Path) -> None:
    pytest.importorskip("iotcore")
    access, (alice, _) = _access(tmp_path)
    passwords = json.loads((access / "device-passwords.json").read_text())
    supervisor = Supervisor(tmp_path / "logs")
    port = _port(start_broker(BrokerPlan(EMBEDDED), tmp_path / "demo", supervisor, access))
    logins: list[Login] = []
    try:
        for user, password in ((None, None), (device_user(alice), "not-the-password")):
            login = Login(port, user, password, f"attacker-{len(logins)}")
            logins.append(login)
            assert not login.connected
        device = Login(port, device_user(alice), passwords[alice], alice)
        logins.append(device)
        assert device.connected
        config = tmp_path / "demo" / "broker" / "rumqttd.toml"
        assert config.stat().st_mode & 0o077 == 0  # it holds the passwords
    finally:
        for login in logins:
            login.close()
        supervisor.stop_all(("broker",))
