"""End-to-end safety: with --until-committed, a reading leaves the outbox only once the
gateway's commit watermark covers it, so a broker crash that loses acknowledged messages
loses nothing; and a full outbox drops its oldest readings and says so."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sim_support import START, by_device, exported_keys, load_report, start_sim
from support.mosquitto import Mosquitto
from support.mqtt import Capture

from farmtrace.wire import dropfloor, topics, watermark
from farmtrace.wire.protocol import decode

pytestmark = pytest.mark.integration


class Committer:
    """The gateway's side of the watermark protocol, as docs/wire-format.md states it: take
    readings, "commit" them in memory, publish each device's highest contiguous seq, retained,
    as a statement signed with its watermark key, and publish them all again after reconnecting
    (a crashed broker forgets retained ones)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.key = Ed25519PrivateKey.generate()
        self.seqs: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.watermarks: dict[tuple[str, str], int] = {}
        self.copies: Counter[tuple[str, int]] = Counter()
        self.lock = threading.Lock()
        self.client: mqtt.Client | None = None
        self.publishing = True  # False: receive, but publish no watermark

    def start(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="test-gateway", protocol=mqtt.MQTTv5
        )
        client.reconnect_delay_set(0.1, 1)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect(self.broker.host, self.broker.port, clean_start=False, properties=props)
        client.loop_start()
        self.client = client

    def stop(self) -> None:
        assert self.client is not None
        self.client.disconnect()
        self.client.loop_stop()
        self.client = None

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(topics.READING_FILTER, qos=1)
        with self.lock:
            if not self.publishing:
                return
            for (farm, device), mark in self.watermarks.items():
                client.publish(
                    topics.committed_topic(farm, device), self.signed(device, mark), 1, True
                )

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        farm, device, _ = topics.parse_topic(message.topic)
        reading = decode(message.payload)
        key = (farm, device)
        with self.lock:
            self.copies[(device, reading.seq)] += 1
            self.seqs[key].add(reading.seq)
            mark = self.watermarks.get(key, 0)
            while mark + 1 in self.seqs[key]:
                mark += 1
            if mark != self.watermarks.get(key, 0) and self.publishing:
                self.watermarks[key] = mark
                client.publish(
                    topics.committed_topic(farm, device), self.signed(device, mark), 1, True
                )

    def signed(self, device: str, mark: int) -> bytes:
        statement = watermark.Watermark(device, mark, int(time.time() * 1000), "test/gateway")
        return watermark.sign(statement, self.key)

    def pin_file(self, path: Path) -> Path:
        """The pin file a device needs to believe this gateway's watermarks."""
        public = self.key.public_key().public_bytes_raw()
        path.write_text(base64.b64encode(public).decode("ascii") + " test-gateway\n")
        return path


def _crash_broker_while_gateway_is_away(
    mosquitto: Mosquitto, tmp_path: Path, *mode: str
) -> tuple[Committer, dict[str, int], dict[str, object]]:
    committer = Committer(mosquitto)
    committer.start()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "state"), "--devices", "5",
        "--interval", "1", "--duration", "12", "--drain-timeout", "20", "--start", START,
        "--report", str(report_path), "--gateway-key", str(committer.pin_file(tmp_path / "pins")),
        *mode, log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        time.sleep(3.0)
        committer.stop()  # the gateway goes away; the broker queues its readings in memory
        time.sleep(3.0)
        mosquitto.kill()  # ... and crashes before saving them
        mosquitto.start()
        committer.start()
        assert process.wait(timeout=90) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    report = load_report(report_path)
    time.sleep(1.0)
    committer.stop()
    return committer, report["last_seq"], report


def test_until_committed_survives_a_broker_crash(mosquitto: Mosquitto, tmp_path: Path) -> None:
    committer, last_seq, report = _crash_broker_while_gateway_is_away(
        mosquitto, tmp_path, "--until-committed"
    )
    assert report["queued"] == 0  # every reading ended covered by the watermark
    for device, last in last_seq.items():
        assert committer.seqs[("fleet", device)] == set(range(1, last + 1)), device
        assert committer.watermarks[("fleet", device)] == last


def test_puback_mode_loses_what_the_crashed_broker_held(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # The contrast that motivates --until-committed (MQTT.md: a PUBACK is not durability).
    committer, last_seq, report = _crash_broker_while_gateway_is_away(mosquitto, tmp_path)
    assert report["queued"] == 0
    missing = sum(
        len(set(range(1, last + 1)) - committer.seqs[("fleet", device)])
        for device, last in last_seq.items()
    )
    assert missing > 0


def test_full_outbox_drops_oldest_and_publishes_the_floor(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mosquitto.stop()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "state"), "--devices", "3",
        "--interval", "1", "--speed", "10", "--duration", "60", "--queue-limit", "5",
        "--offline-start", "--start", START, "--report", str(report_path),
        log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        time.sleep(3.0)  # ~30 readings per device, outbox holds 5
        mosquitto.start()
        capture = Capture(mosquitto.host, mosquitto.port).start()
        assert process.wait(timeout=60) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    report = load_report(report_path)
    assert report["dropped"] > 0 and report["queued"] == 0
    log = (tmp_path / "sim.log").read_text()
    assert "is full (5 readings): dropping the oldest" in log
    assert capture.wait_for(lambda m: sum(t.topic.endswith("/dropped") for t in m) >= 3, timeout=60)
    keys = exported_keys(tmp_path / "state")
    floors: dict[str, int] = {}
    for m in capture.messages:
        if m.topic.endswith("/dropped"):
            device = topics.parse_topic(m.topic)[1]
            statement = dropfloor.decode(m.payload)
            # A statement signed by the device's own key, naming the device of its topic.
            assert statement.device_id == device and dropfloor.verify(statement, keys[device])
            floors[device] = statement.floor
    readings = by_device(capture.messages)
    for device, last in report["last_seq"].items():
        floor = floors[device]
        seqs = {r.seq for r in readings[device]}
        # Everything above the floor arrived. A floor gives up the seqs <= it that were *not
        # sent* (docs/wire-format.md): one sent just before the outbox overflowed (in flight,
        # its PUBACK not yet back) may arrive too, so at or below the floor only the newest
        # few may show up, never the oldest.
        assert set(range(floor + 1, last + 1)) <= seqs, (device, floor, sorted(seqs)[:3])
        below = sorted(s for s in seqs if s <= floor)
        assert below == list(range(floor - len(below) + 1, floor + 1)), (device, floor, below)
        assert len(below) <= 5, (device, floor, below)  # at most one outbox's worth in flight
    # The oldest went first: each device dropped exactly seqs 1..floor.
    assert sum(floors.values()) == report["dropped"]
    capture.stop()


def test_stalled_watermark_triggers_a_resend(mosquitto: Mosquitto, tmp_path: Path) -> None:
    # The "gateway" receives everything but publishes no watermark for a while: the devices
    # cannot tell that from a broker that lost the messages, so they send them again.
    committer = Committer(mosquitto)
    committer.publishing = False
    committer.start()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "state"), "--devices", "2",
        "--interval", "1", "--duration", "8", "--drain-timeout", "20", "--until-committed",
        "--resend-after", "1", "--start", START, "--report", str(report_path),
        "--gateway-key", str(committer.pin_file(tmp_path / "pins")), log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        time.sleep(4.0)
        with committer.lock:
            committer.publishing = True
        committer.client.reconnect()  # type: ignore[union-attr]  # republishes the watermarks
        assert process.wait(timeout=60) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    committer.stop()
    report = load_report(report_path)
    assert report["resent"] > 0 and report["queued"] == 0
    assert max(committer.copies.values()) >= 2
    for device, last in report["last_seq"].items():
        assert committer.seqs[("fleet", device)] == set(range(1, last + 1))
