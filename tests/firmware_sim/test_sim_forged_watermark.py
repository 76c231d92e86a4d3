"""Issue 13's attack, repeated: a forged commit watermark must not make a device forget readings.

Real Mosquitto (anonymous, no ACL: what the demo's broker was), the real gateway and the real
simulator in ``--until-committed`` mode. While the gateway is stopped, an attacker publishes
retained on the devices' ``committed`` topics: the plain-text ``1000000`` that devices used to
believe, a well-formed watermark of 1,000,000 signed with the attacker's own key, and a genuine
watermark of one device replayed on another's topic. The broker restarts (keeping the retained
forgeries), later crashes (losing the readings it took since), the gateway comes back, and every
seq each device made must end up stored; the devices must have reported every forgery (log line
and the report's ``watermarks_refused``).

Before the signed watermark, the same run lost readings for good (96 in the issue's run; this
test's run of the code before it lost the readings the crash took from the device that believed
the plain-text forgery).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    ROOT,
    GatewayProcess,
    StoredView,
    register_sim_devices,
    sim_command,
    wait_for,
)
from support.mosquitto import MosquittoFactory
from support.mqtt import Capture

from farmtrace.wire import topics, watermark

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

DEVICES = 3
FARM = "fleet"


def _device(n: int) -> str:
    return f"urn:epc:id:giai:4012345.SIM-{n:06d}"


def _publish_retained(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish as an outsider would: an anonymous client of its own, QoS 1, retained."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="attacker")
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_forged_watermarks_lose_nothing_and_are_reported(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    db_url = f"sqlite:///{tmp_path / 'farmtrace.sqlite3'}"
    state = tmp_path / "sim"
    register_sim_devices(state, DEVICES, db_url)  # pins tmp_path/"gateway"'s watermark key
    gateway = GatewayProcess(broker.url, db_url, tmp_path / "gateway", ["--batch-age", "0.2"])
    report_path, log_path = tmp_path / "report.json", tmp_path / "sim.log"
    stored = StoredView(db_url)
    capture = Capture(broker.host, broker.port, (topics.COMMITTED_FILTER,)).start()
    gateway.start().wait_connected()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            sim_command("run", "--broker", broker.url, "--state", str(state), "--devices",
                str(DEVICES), "--interval", "1", "--speed", "5", "--duration", "120",
                "--until-committed", "--resend-after", "2",
                "--drain-timeout", "90", "--report", str(report_path), "-v"),
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        wait_for(lambda: stored.reading_count() >= 10 * DEVICES, 60, "readings stored")
        genuine = capture.wait_for(
            lambda ms: any(m.topic == topics.committed_topic(FARM, _device(1)) for m in ms), 30
        )
        assert genuine, "the gateway published no watermark"
        replayed = next(
            m.payload
            for m in capture.messages
            if m.topic == topics.committed_topic(FARM, _device(1))
        )
        assert gateway.stop() == 0
        attacker = Ed25519PrivateKey.generate()
        forged = watermark.sign(watermark.Watermark(_device(2), 1_000_000, 0, "evil/gw"), attacker)
        _publish_retained(
            broker.host,
            broker.port,
            [
                (topics.committed_topic(FARM, _device(1)), b"1000000"),
                (topics.committed_topic(FARM, _device(2)), forged),
                (topics.committed_topic(FARM, _device(3)), replayed),  # device 1's, on 3's topic
            ],
        )
        time.sleep(3.0)  # the devices keep measuring; their outboxes must keep every reading
        broker.stop()  # a graceful restart keeps the retained forgeries...
        broker.start()  # ...and every device reconnects and is handed them again
        time.sleep(4.0)
        # Then a crash: what the broker took since its last save, queued for the absent
        # gateway, is gone. A device that believed a forgery has nothing left to resend.
        broker.kill()
        broker.start()
        time.sleep(2.0)
        gateway.start().wait_connected()
        assert process.wait(timeout=200) == 0, log_path.read_text()[-3000:]
    finally:
        process.kill()
        capture.stop()
    report = json.loads(report_path.read_text("utf-8"))
    assert report["queued"] == 0, report  # every reading ended covered by a genuine watermark
    want = {device: list(range(1, last + 1)) for device, last in report["last_seq"].items()}
    wait_for(lambda: stored.seqs() == want, 60, "every seq each device made to be stored")
    stored.close()
    assert gateway.stop() == 0
    refused = report["watermarks_refused"]
    # Each forgery was refused every time it was delivered (once before, once after the restart).
    assert refused.get("unsigned", 0) >= 2, refused
    assert refused.get("bad-signature", 0) >= 2, refused
    assert refused.get("other-device", 0) >= 2, refused
    text = log_path.read_text()
    for device, reason in ((1, "unsigned"), (2, "bad-signature"), (3, "other-device")):
        assert f"ignoring commit watermark for {_device(device)}: {reason}" in text
    assert report["watermarks"] > 0  # genuine ones were acted on
