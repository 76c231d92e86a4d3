"""Readings reach a real Mosquitto signed, in order, and survive broker and simulator restarts."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sim_support import (
    START,
    assert_every_seq_once,
    by_device,
    exported_keys,
    first_arrivals,
    load_report,
    reading_messages,
    run_sim,
    start_sim,
)
from support.mosquitto import Mosquitto
from support.mqtt import Capture

from farmtrace.wire import topics
from farmtrace.wire.protocol import verify

pytestmark = pytest.mark.integration


def test_small_farm_readings_arrive_signed_and_in_sequence(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    state, report_path = tmp_path / "state", tmp_path / "report.json"
    done = run_sim(
        "run", "--broker", mosquitto.url, "--state", str(state), "--scenario", "small-farm",
        "--speed", "600", "--duration", "1h", "--start", START, "--report", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = load_report(report_path)
    # Not on a terminal: stdout stays empty; stderr has only plain progress lines (every 10 s)
    # and the closing summary, which repeats the report's counts.
    summary = (
        f"{report['devices']} devices, {report['readings']} readings, {report['acked']} sent,"
        f" {report['queued']} queued, {report['failed']} failed, {report['dropped']} dropped"
    )
    *progress, last = done.stderr.splitlines()
    assert done.stdout == "" and last == summary, done.stderr
    assert all(" sim " in line and "acked" in line for line in progress), done.stderr
    assert report["devices"] == 20 and report["readings"] == report["acked"] > 0
    assert capture.wait_for(lambda m: len(reading_messages(m)) >= report["readings"])
    keys = exported_keys(state)
    assert sorted(keys) == sorted(report["last_seq"])
    readings = by_device(capture.messages)
    assert set(readings) == set(keys)
    # Only a reading resent after a reconnect (a busy machine can miss a keepalive) may repeat.
    assert assert_every_seq_once(readings, report["last_seq"]) <= report["resent"]
    for device_id, items in readings.items():
        firsts = first_arrivals(items)
        assert [r.seq for r in firsts] == list(range(1, report["last_seq"][device_id] + 1))
        assert all(verify(r, keys[device_id]) for r in items)
        stamps = [r.timestamp_ms for r in firsts]
        assert stamps == sorted(stamps)
        assert all(r.site.startswith("greenacre/") for r in items)
    statuses = {m.topic: m.payload for m in capture.messages if m.topic.endswith("/status")}
    assert len(statuses) == 20 and set(statuses.values()) == {topics.STATUS_OFFLINE}
    capture.stop()


def test_broker_restart_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "state"),
        "--devices", "20", "--interval", "1", "--duration", "14", "--drain-timeout", "30",
        "--start", START, "--report", str(report_path),
        log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        assert capture.wait_for(lambda m: len(reading_messages(m)) >= 40, timeout=20)
        mosquitto.stop()
        time.sleep(3.0)  # readings pile up in the devices' outboxes meanwhile
        mosquitto.start()
        assert process.wait(timeout=90) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    report = load_report(report_path)
    assert report["queued"] == 0 and report["dropped"] == 0
    assert report["connects"] > 20  # everyone reconnected
    total = sum(report["last_seq"].values())
    assert capture.wait_for(lambda m: len({m.payload for m in reading_messages(m)}) >= total)
    assert_every_seq_once(by_device(capture.messages), report["last_seq"])
    capture.stop()


def test_killed_simulator_resumes_its_sequence_and_queue(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    state = tmp_path / "state"
    common = ["--broker", mosquitto.url, "--state", str(state), "--devices", "10",
              "--interval", "1"]  # fmt: skip
    first = start_sim("run", *common, log=tmp_path / "first.log")
    try:
        assert capture.wait_for(lambda m: len(reading_messages(m)) >= 20, timeout=20)
        mosquitto.stop()
        time.sleep(2.5)  # readings taken now wait in the outbox only
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    delivered_before = {(m.topic, m.payload) for m in reading_messages(capture.messages)}
    mosquitto.start()
    report_path = tmp_path / "report.json"
    restarted_ms = time.time() * 1000
    second = run_sim("run", *common, "--duration", "3", "--report", str(report_path))
    assert second.returncode == 0, second.stderr
    report = load_report(report_path)
    assert report["queued"] == 0
    total = sum(report["last_seq"].values())
    assert capture.wait_for(lambda m: len({m.payload for m in reading_messages(m)}) >= total)
    readings = by_device(capture.messages)
    assert_every_seq_once(readings, report["last_seq"])
    # Readings the killed run took while the broker was down arrived only after the restart.
    late = [
        r
        for items in readings.values()
        for r in items
        if (topics.reading_topic("fleet", r.device_id), r.payload) not in delivered_before
    ]
    taken_by_first_run = [r for r in late if r.timestamp_ms < restarted_ms]
    assert len(taken_by_first_run) >= 10  # ~2.5 s of 10 devices at 1/s, minus commit lag
    capture.stop()
