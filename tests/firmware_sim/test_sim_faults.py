"""Every fault and attack mode does what it claims, as seen by a subscriber on a real broker.

One run of the small farm (two simulated hours at 600x) carries all of them, each on its own
device, so the checks below read one capture and one report.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sim_support import exported_keys, load_report, reading_messages, run_sim
from support.mosquitto import Mosquitto, require_mosquitto
from support.mqtt import Capture, Message

from farmtrace.wire import topics
from farmtrace.wire.protocol import MAX_PAYLOAD, ProtocolError, SignedReading, decode, verify

pytestmark = pytest.mark.integration

START = "2026-06-29T06:00:00Z"
START_MS = int(datetime.fromisoformat(START).timestamp() * 1000)
MINUTE = 60_000
ID = "urn:epc:id:giai:4012345."

FAULTS = [
    "spike:match=*FT01-WS01,rate=0.2,channel=Temperature",
    "stuck:match=*FT01-WS02,at=30m,for=30m",
    "noise-burst:match=*FT02-WS01,at=30m,for=30m,factor=20,channel=Pressure",
    "battery-drain:match=*FT02-WS02,value=0.6",
    "drift:match=*FT03-CA01,value=48,channel=Temperature",
    "dropout:match=*FT03-CA02,at=30m,for=20m",
    "clock-skew:match=*FT03-CA03,at=1h,value=-3600",
    "link-down:match=*FT03-CP01,at=30m,for=30m",
    "seq-reset:match=*FT04-TL01,at=1h",
    "power-loss:match=*FT04-TL02,at=1h,value=4",
]
ATTACKS = [
    "replay:match=*FT01-WS01,every=10",
    "bad-signature:match=*FT01-WS01,every=15",
    "tamper:match=*FT01-WS02,every=10",
    "unknown-device:match=*FT02-SP02,every=2",
    "malformed:match=*FT03-CO01,every=1",
    "oversized:match=*FT03-CP02,every=5",
]


@dataclass
class Run:
    messages: list[Message]
    report: dict[str, Any]
    keys: dict[str, bytes]

    def events(self, kind: str, device: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.report["events"]
            if e["kind"] == kind and (device is None or e["device_id"] == ID + device)
        ]

    def attack_payloads(self) -> set[bytes]:
        kinds = {"bad-signature", "tamper", "unknown-device", "malformed", "oversized"}
        return {
            bytes.fromhex(e["payload_hex"]) for e in self.report["events"] if e["kind"] in kinds
        }

    def genuine(self, device: str) -> list[SignedReading]:
        """The device's own readings in arrival order (attack messages and replays left out)."""
        attacks = self.attack_payloads()
        out, seen = [], set()
        for m in reading_messages(self.messages):
            if m.topic != topics.reading_topic("greenacre", ID + device) or m.payload in attacks:
                continue
            if m.payload in seen:
                continue  # a replayed copy
            seen.add(m.payload)
            out.append(decode(m.payload))
        return out

    def statuses(self, device: str) -> list[bytes]:
        topic = topics.status_topic("greenacre", ID + device)
        return [m.payload for m in self.messages if m.topic == topic]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("faults")
    broker = Mosquitto(workdir=workdir / "broker", binary=require_mosquitto())
    broker.start()
    try:
        capture = Capture(broker.host, broker.port).start()
        args = ["run", "--broker", broker.url, "--state", str(workdir / "state"),
                "--scenario", "small-farm", "--speed", "600", "--duration", "2h",
                "--start", START, "--report", str(workdir / "report.json")]  # fmt: skip
        for spec in FAULTS:
            args += ["--fault", spec]
        for spec in ATTACKS:
            args += ["--attack", spec]
        done = run_sim(*args)
        assert done.returncode == 0, done.stderr
        report = load_report(workdir / "report.json")
        expected = report["readings"] + sum(report["attacks"].values())
        assert capture.wait_for(lambda m: len(reading_messages(m)) >= expected, timeout=30)
        capture.stop()
        yield Run(capture.messages, report, exported_keys(workdir / "state"))
    finally:
        broker.kill()


def _values(reading: SignedReading, kind: str) -> float:
    return next(m.value for m in reading.measurements if m.type == kind)


def _minutes(reading: SignedReading) -> float:
    return (reading.timestamp_ms - START_MS) / MINUTE


def test_spike(run: Run) -> None:
    spikes = {e["seq"] for e in run.events("spike", "FT01-WS01")}
    assert len(spikes) >= 5
    readings = run.genuine("FT01-WS01")
    hot = {r.seq for r in readings if _values(r, "Temperature") == 85.0}
    assert hot == spikes


def test_stuck(run: Run) -> None:
    readings = run.genuine("FT01-WS02")
    inside = [r for r in readings if 30 <= _minutes(r) < 60]
    outside = [r for r in readings if _minutes(r) >= 61]
    assert len(inside) >= 25
    frozen = {tuple(m.value for m in r.measurements if m.type != "Voltage") for r in inside}
    assert len(frozen) == 1
    assert len({_values(r, "Illuminance") for r in outside}) > 5


def test_noise_burst(run: Run) -> None:
    readings = run.genuine("FT02-WS01")

    def spread(rs: list[SignedReading]) -> float:
        values = [_values(r, "Pressure") for r in rs]
        return statistics.pstdev(b - a for a, b in itertools.pairwise(values))

    inside = [r for r in readings if 31 <= _minutes(r) < 59]
    outside = [r for r in readings if _minutes(r) >= 61]
    assert spread(inside) > 5 * spread(outside)


def test_battery_drain_ends_in_brown_out(run: Run) -> None:
    readings = run.genuine("FT02-WS02")
    volts = [_values(r, "Voltage") for r in readings]
    assert volts[0] - volts[-1] > 0.4 and volts[-1] < 3.4
    assert _minutes(readings[-1]) < 110  # it went quiet before the end
    assert run.report["faults"]["brown-out"] > 0
    assert topics.STATUS_OFFLINE in run.statuses("FT02-WS02")  # the last will


def test_drift(run: Run) -> None:
    drifting = {
        r.timestamp_ms // MINUTE: _values(r, "Temperature") for r in run.genuine("FT03-CA01")
    }
    steady = {r.timestamp_ms // MINUTE: _values(r, "Temperature") for r in run.genuine("FT03-CA02")}

    def offset(lo: float, hi: float) -> float:
        return statistics.mean(
            drifting[k] - steady[k]
            for k in drifting.keys() & steady.keys()
            if lo <= (k * MINUTE - START_MS) / MINUTE < hi
        )

    assert offset(90, 120) - offset(0, 30) > 2.5  # 48 °C a day is 3 °C over 90 minutes


def test_dropout_leaves_a_time_gap_but_no_seq_gap(run: Run) -> None:
    readings = run.genuine("FT03-CA02")
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))
    gaps = [b.timestamp_ms - a.timestamp_ms for a, b in itertools.pairwise(readings)]
    assert max(gaps) >= 19 * MINUTE
    assert sorted(gaps)[-2] <= 1.1 * MINUTE


def test_clock_skew(run: Run) -> None:
    readings = run.genuine("FT03-CA03")
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))
    steps = [b.timestamp_ms - a.timestamp_ms for a, b in itertools.pairwise(readings)]
    backwards = [s for s in steps if s < 0]
    assert len(backwards) == 1 and -3600_000 < backwards[0] <= -3500_000


def test_link_down_then_burst(run: Run) -> None:
    statuses = run.statuses("FT03-CP01")
    assert statuses[:3] == [topics.STATUS_ONLINE, topics.STATUS_OFFLINE, topics.STATUS_ONLINE]
    readings = run.genuine("FT03-CP01")
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))
    taken_offline = [r for r in readings if 31 <= _minutes(r) < 59]
    assert len(taken_offline) >= 10
    device_messages = [
        m for m in run.messages
        if m.topic.startswith(f"farm/greenacre/{ID}FT03-CP01/")
    ]  # fmt: skip
    back_online = [m.received for m in device_messages if m.payload == topics.STATUS_ONLINE][1]
    arrivals = {
        decode(m.payload).seq: m.received for m in device_messages if m.topic.endswith("/reading")
    }
    # Taken while the device was off the broker, delivered only once it was back.
    assert all(arrivals[r.seq] >= back_online for r in taken_offline)


def test_seq_reset(run: Run) -> None:
    readings = run.genuine("FT04-TL01")
    seqs = [r.seq for r in readings]
    restart = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
    assert seqs[restart] == 1
    assert seqs[:restart] == list(range(1, restart + 1))
    assert 55 <= restart <= 61  # one reading a minute for the first hour
    assert run.events("seq-reset", "FT04-TL01")


def test_power_loss_warms_the_truck(run: Run) -> None:
    readings = run.genuine("FT04-TL02")
    before = [_values(r, "Temperature") for r in readings if 30 <= _minutes(r) < 60]
    late = [_values(r, "Temperature") for r in readings if 105 <= _minutes(r) < 120]
    assert statistics.mean(late) - statistics.mean(before) > 2.0


def test_replay(run: Run) -> None:
    events = run.events("replay", "FT01-WS01")
    assert len(events) >= 5
    counts = Counter(
        m.payload
        for m in reading_messages(run.messages)
        if m.topic == topics.reading_topic("greenacre", ID + "FT01-WS01")
    )
    for event in events:
        payload = bytes.fromhex(event["payload_hex"])
        assert counts[payload] >= 2  # the genuine reading and its replay
        assert decode(payload).seq == event["seq"]
        assert verify(decode(payload), run.keys[ID + "FT01-WS01"])  # a replay is authentic


def _delivered(run: Run, kind: str) -> list[bytes]:
    captured = {m.payload for m in reading_messages(run.messages)}
    payloads = [bytes.fromhex(e["payload_hex"]) for e in run.events(kind)]
    assert payloads and all(p in captured for p in payloads)
    return payloads


def test_bad_signature(run: Run) -> None:
    for payload in _delivered(run, "bad-signature"):
        forged = decode(payload)
        assert forged.device_id == ID + "FT01-WS01"
        assert not verify(forged, run.keys[forged.device_id])


def test_tamper(run: Run) -> None:
    genuine = {r.seq: r for r in run.genuine("FT01-WS02")}
    for payload in _delivered(run, "tamper"):
        altered = decode(payload)
        original = genuine[altered.seq]
        assert altered.signature == original.signature
        assert not verify(altered, run.keys[altered.device_id])
        assert altered.measurements[0].value == pytest.approx(original.measurements[0].value - 3)
        assert altered.measurements[1:] == original.measurements[1:]


def test_unknown_device(run: Run) -> None:
    for payload in _delivered(run, "unknown-device"):
        reading = decode(payload)
        assert reading.device_id not in run.keys
        assert "ROGUE" in reading.device_id


def test_malformed(run: Run) -> None:
    variants = Counter(e["variant"] for e in run.events("malformed"))
    assert set(variants) == {"truncated", "bad-magic", "unsupported-version",
                             "trailing-bytes", "nan", "garbage"}  # fmt: skip
    for payload in _delivered(run, "malformed"):
        with pytest.raises(ProtocolError):
            decode(payload)


def test_oversized(run: Run) -> None:
    for payload in _delivered(run, "oversized"):
        assert len(payload) > MAX_PAYLOAD
        with pytest.raises(ProtocolError) as caught:
            decode(payload)
        assert caught.value.reason == "oversized"
