"""Helpers for the simulator's integration tests: run it, and read what it published."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from support.mqtt import Message

from farmtrace.wire import topics
from farmtrace.wire.protocol import ProtocolError, SignedReading, decode

ROOT = Path(__file__).resolve().parents[2]
START = "2026-06-29T00:00:00Z"  # a summer Monday: daylight, working hours, truck trips


def sim_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "farmtrace.sim", *args]


def run_sim(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m farmtrace.sim ARGS`` to completion."""
    return subprocess.run(
        sim_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def start_sim(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the simulator in the background, its output going to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(sim_command(*args), cwd=ROOT, stdout=out, stderr=out)


def exported_keys(state: Path) -> dict[str, bytes]:
    done = run_sim("export-keys", "--state", str(state))
    assert done.returncode == 0, done.stderr
    return {k: base64.b64decode(v) for k, v in json.loads(done.stdout).items()}


def load_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def reading_messages(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.topic.endswith("/reading")]


def by_device(messages: list[Message]) -> dict[str, list[SignedReading]]:
    """Decode every reading message (all must decode), grouped by device in arrival order."""
    out: dict[str, list[SignedReading]] = defaultdict(list)
    for message in reading_messages(messages):
        _farm, device_id, _ = topics.parse_topic(message.topic)
        reading = decode(message.payload)
        assert reading.device_id == device_id, message.topic
        out[device_id].append(reading)
    return out


def decodes(payload: bytes) -> bool:
    try:
        decode(payload)
    except ProtocolError:
        return False
    return True


def first_arrivals(readings: list[SignedReading]) -> list[SignedReading]:
    """Each seq's first copy, in arrival order (a QoS 1 redelivery repeats a reading)."""
    firsts: dict[int, SignedReading] = {}
    for reading in readings:
        firsts.setdefault(reading.seq, reading)
    return list(firsts.values())


def assert_every_seq_once(
    readings: dict[str, list[SignedReading]], last_seq: dict[str, int]
) -> int:
    """Each device's seqs 1..last arrived; repeats are byte-identical redeliveries. Returns
    how many redeliveries there were."""
    repeats = 0
    for device_id, last in last_seq.items():
        seen: dict[int, bytes] = {}
        for reading in readings.get(device_id, []):
            if reading.seq in seen:
                assert seen[reading.seq] == reading.payload, (device_id, reading.seq)
                repeats += 1
            seen[reading.seq] = reading.payload
        assert sorted(seen) == list(range(1, last + 1)), (
            device_id,
            sorted(set(range(1, last + 1)) - set(seen)),
        )
    return repeats
