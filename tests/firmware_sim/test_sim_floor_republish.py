"""A device republishes its signed drop floor (retained) after every reconnection, like the
gateway its watermarks: a broker that lost its retained messages learns the floor again even
though it did not change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sim_support import START, exported_keys, load_report, start_sim
from support.mosquitto import Mosquitto
from support.mqtt import Capture, Message

from farmtrace.wire import dropfloor, topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 2


def floors(messages: list[Message], keys: dict[str, bytes]) -> dict[str, int]:
    """The latest verified floor per device among ``messages``."""
    found: dict[str, int] = {}
    for m in messages:
        if m.topic.endswith("/dropped"):
            device = topics.parse_topic(m.topic)[1]
            statement = dropfloor.decode(m.payload)
            assert statement.device_id == device and dropfloor.verify(statement, keys[device])
            found[device] = statement.floor
    return found


def test_an_unchanged_floor_is_republished_after_a_reconnect(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mosquitto.stop()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "state"),
        "--devices", str(DEVICES), "--interval", "1", "--speed", "2", "--duration", "40",
        "--queue-limit", "6", "--offline-start", "--start", START, "--report", str(report_path),
        log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        time.sleep(5.0)  # ~10 readings per device, the outbox keeps 6: the oldest are dropped
        mosquitto.start()
        keys = exported_keys(tmp_path / "state")
        first = Capture(mosquitto.host, mosquitto.port).start()
        assert first.wait_for(lambda m: len(floors(m, keys)) == DEVICES, timeout=20)
        first.stop()
        stated = floors(first.messages, keys)
        # The broker crashes and comes back without its retained messages.
        mosquitto.kill()
        (mosquitto.workdir / "mosquitto.db").unlink(missing_ok=True)
        mosquitto.start()
        second = Capture(mosquitto.host, mosquitto.port).start()
        assert second.wait_for(lambda m: len(floors(m, keys)) == DEVICES, timeout=20), (
            tmp_path / "sim.log"
        ).read_text()[-3000:]
        second.stop()
        # The same floors, stated again (the outbox did not overflow again meanwhile).
        assert floors(second.messages, keys) == stated
        # ... and retained: a client arriving later still gets them.
        third = Capture(mosquitto.host, mosquitto.port).start()
        assert third.wait_for(lambda m: len(floors(m, keys)) == DEVICES, timeout=10)
        third.stop()
        assert all(m.retain for m in third.messages if m.topic.endswith("/dropped"))
        assert process.wait(timeout=60) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    report = load_report(report_path)
    assert report["dropped"] == sum(stated.values()) > 0
