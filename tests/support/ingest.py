"""Helpers for the gateway's ingest tests: the gateway as a real subprocess, a QoS 1 publisher,
a watermark watcher, and reads of what the database holds.

The gateway runs as ``python -m farmtrace gateway`` exactly as a user would start it; tests stop
it with SIGTERM (graceful) or SIGKILL (a crash) and look at the database and the broker.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, create_engine, func, select

from farmtrace.store.engine import normalize_url
from farmtrace.store.models import Base
from farmtrace.wire import topics, watermark
from farmtrace.wire.protocol import Measurement, Reading, sign
from support.readings import SimDevice

__all__ = [
    "FARM",
    "GATEWAY_BROKER_SETTINGS",
    "GatewayProcess",
    "Publisher",
    "StoredView",
    "WatermarkWatcher",
    "farmtrace",
    "make_device",
    "reading_topic",
    "signed",
    "wait_for",
    "write_keys",
]

ROOT = Path(__file__).resolve().parents[2]

GATEWAY_BROKER_SETTINGS = ["max_queued_messages 1000000"]
"""Mosquitto settings the gateway needs (docs/gateway.md): never drop queued QoS 1 readings."""

FARM = "testfarm"
NOW_MS = int(time.time() * 1000)

ENTRIES = Base.metadata.tables["entries"]
QUARANTINE = Base.metadata.tables["quarantine"]


def make_device(name: str) -> SimDevice:
    """A device with a deterministic key and a GIAI-style ID ending in ``name``."""
    return SimDevice.make(f"urn:epc:id:giai:4012345.{name}")


def signed(
    dev: SimDevice,
    seq: int,
    value: float = 4.0,
    ts_ms: int | None = None,
    key: SimDevice | None = None,
) -> bytes:
    """A reading payload of ``dev`` (signed by ``key``'s key if given), timestamped ``seq``
    seconds after a minute before the test run started unless ``ts_ms`` says otherwise."""
    reading = Reading(
        dev.device_id,
        seq,
        NOW_MS - 60_000 + seq * 1000 if ts_ms is None else ts_ms,
        "testfarm/cold-room",
        "LOT-1",
        (Measurement("Temperature", value, "CEL"), Measurement("Voltage", 3.7, "VLT")),
    )
    return sign(reading, (key or dev).key)


def reading_topic(dev: SimDevice) -> str:
    return topics.reading_topic(FARM, dev.device_id)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def sim_command(*args: str) -> list[str]:
    """The command line of ``python -m farmtrace.sim ARGS`` (this interpreter)."""
    return [sys.executable, "-m", "farmtrace.sim", *args]


def register_sim_devices(
    state: Path, count: int, db_url: str, gateways: Sequence[Path] | None = None
) -> Path:
    """Create ``count`` simulator devices' keys in ``state`` without sending anything (an
    unreachable broker, no duration), export them to ``state.parent / "keys.json"`` and import
    them into the registry at ``db_url``; return the keys file.

    The import pins the watermark keys of the gateways whose state directories are ``gateways``
    (default ``state.parent / "gateway"``) in the simulator's default pin file,
    ``state / "gateway-keys"``, as ``farmtrace devices import --pin-file`` writes it."""
    subprocess.run(
        sim_command("run", "--broker", "mqtt://127.0.0.1:1", "--state", str(state), "--devices",
            str(count), "--duration", "0", "--offline-start", "--drain-timeout", "0"),
        check=True, cwd=ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    keys = subprocess.run(
        sim_command("export-keys", "--state", str(state)),
        check=True, cwd=ROOT, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    keys_file = state.parent / "keys.json"
    keys_file.write_bytes(keys)
    pins: list[str] = []
    for gateway in gateways if gateways is not None else [state.parent / "gateway"]:
        pins += ["--gateway-state", str(gateway)]
    farmtrace(
        "devices", "import", str(keys_file), "--db", db_url, *pins,
        "--pin-file", str(state / "gateway-keys"),
    )  # fmt: skip
    return keys_file


def farmtrace(
    *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m farmtrace ARGS`` and return the completed process."""
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"farmtrace {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def write_keys(path: Path, keys: dict[str, bytes]) -> Path:
    """Write an ``export-keys`` style file (device ID to base64 public key)."""
    path.write_text(json.dumps({d: base64.b64encode(k).decode("ascii") for d, k in keys.items()}))
    return path


@dataclass
class GatewayProcess:
    """``farmtrace gateway`` as a subprocess; its log goes to ``state/gateway.log``."""

    broker_url: str
    db_url: str
    state: Path
    extra: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def log_path(self) -> Path:
        return self.state.parent / f"{self.state.name}-gateway.log"

    @property
    def report_path(self) -> Path:
        return self.state.parent / f"{self.state.name}-report-{self.runs}.json"

    def start(self, *more: str) -> GatewayProcess:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the gateway is already running")
        self.runs += 1
        command = [
            sys.executable,
            "-m",
            "farmtrace",
            "gateway",
            "--broker",
            self.broker_url,
            "--db",
            self.db_url,
            "--state",
            str(self.state),
            "--report",
            str(self.report_path),
            "--log-level",
            "DEBUG",
            *self.extra,
            *more,
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"--- run {self.runs}: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=ROOT
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def wait_connected(self, timeout: float = 30) -> None:
        runs = self.runs

        def connected() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the gateway exited early:\n{self.log()[-3000:]}")
            current = self.log().split(f"--- run {runs}:")[-1]
            return "subscribed to" in current

        wait_for(connected, timeout, "the gateway to subscribe")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; return the exit code."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash at whatever point the gateway was."""
        self._signal(signal.SIGKILL, 30)

    def _signal(self, signum: int, timeout: float) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signum)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise AssertionError(f"the gateway did not stop:\n{self.log()[-3000:]}") from None
        self.process = None
        return code

    def report(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.report_path.read_text())
        return data

    def health(self) -> dict[str, Any]:
        """The gateway's device-health report (empty until it has written one)."""
        path = self.state / "device-health.json"
        if not path.exists():
            return {"silent": [], "devices": []}
        data: dict[str, Any] = json.loads(path.read_text())
        return data


class Publisher:
    """A QoS 1 paho publisher (one client for many device topics), flow-controlled."""

    def __init__(self, host: str, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, messages: Iterable[tuple[str, bytes]], retain: bool = False) -> int:
        """Publish every ``(topic, payload)`` with QoS 1; return once the broker has them all."""
        infos = [self.client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(60)
            if not info.is_published():
                raise AssertionError("the broker did not acknowledge a publication")
        return len(infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class WatermarkWatcher:
    """Subscribes to ``farm/+/+/committed`` and keeps the latest watermark per device."""

    host: str
    port: int
    marks: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="test-watermarks", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect(self.host, self.port)
        self.client.subscribe(topics.COMMITTED_FILTER, qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        _, device_id, _ = topics.parse_topic(message.topic)
        with self._lock:
            self.marks[device_id] = watermark.decode(bytes(message.payload)).seq

    def get(self, device_id: str) -> int | None:
        with self._lock:
            return self.marks.get(device_id)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class StoredView:
    """Reads of a gateway database for reconciliation (plain SQL through SQLAlchemy)."""

    def __init__(self, db_url: str) -> None:
        self.engine: Engine = create_engine(normalize_url(db_url))

    def close(self) -> None:
        self.engine.dispose()

    def reading_count(self) -> int:
        """Stored sensor readings (entries of kind ``reading``; lot events and declarations
        share the table but are not readings)."""
        query = select(func.count()).select_from(ENTRIES).where(ENTRIES.c.kind == "reading")
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def quarantine_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one())

    def seqs(self) -> dict[str, list[int]]:
        """Every stored reading's (device, seq), as sorted seq lists per device (duplicates
        kept); lot events and declarations, keyed by their signer, are not readings."""
        out: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRIES.c.device_id, ENTRIES.c.seq)
                .where(ENTRIES.c.kind == "reading")
                .order_by(ENTRIES.c.device_id, ENTRIES.c.seq)
            )
            for device_id, seq in rows:
                out.setdefault(device_id, []).append(int(seq))
        return out

    def payloads(self) -> dict[tuple[str, int], bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ENTRIES.c.device_id, ENTRIES.c.seq, ENTRIES.c.payload))
            return {(d, int(s)): bytes(p) for d, s, p in rows}

    def quarantine(self) -> list[tuple[str, str | None, str, bytes]]:
        """``(reason, device_id, topic, payload)`` of every quarantined message, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    QUARANTINE.c.reason,
                    QUARANTINE.c.device_id,
                    QUARANTINE.c.topic,
                    QUARANTINE.c.payload,
                ).order_by(QUARANTINE.c.id)
            )
            return [(r, d, t, bytes(p)) for r, d, t, p in rows]

    def quarantine_reasons(self) -> Counter[str]:
        return Counter(reason for reason, _, _, _ in self.quarantine())
