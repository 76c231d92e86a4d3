"""``farmtrace bench anchoring``: how long an entry the API accepted waits for its block.

1. Mosquitto on a free loopback port, a database (SQLite in the work directory, or ``--db``),
   ``farmtrace api`` and ``farmtrace gateway --batch-age`` as processes, and one lot.
2. For each ``--readings-per-s`` level (0: no sensor traffic; otherwise a few devices publish
   signed readings at that rate, QoS 1), ``--repeats`` rounds: ``--events`` lot events posted
   through the API one after another, the gaps drawn from an exponential distribution of mean
   ``--interval`` (arrivals fall anywhere in the gateway's batch cycle).
3. **accepted** is the moment the API's 201 answer arrived; **anchored** the moment a poll of
   the database (every ``--poll`` seconds) first found the entry in a committed block. After a
   round, every anchored entry's inclusion proof is asked of the API and must be served.

It prints p50, p99 and max of accepted → anchored per level: the median over the rounds and
their range. Figures include the poll interval (up to ``--poll`` late) and are not asserted.

Reuse: posting is a :data:`PostEntry` (post the n-th entry, return its ``(signer, seq)`` key
when the API accepted it); :func:`lot_event_poster` makes one for lot events. Other queued
entries (campaign, coupon) bring their own and call :func:`measure_round` with it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from farmtrace.bench.ingest_broker import free_port, start_broker

__all__ = [
    "Accepted",
    "AnchorWatch",
    "ApiClient",
    "PostEntry",
    "Round",
    "lot_event_poster",
    "measure_round",
    "register",
    "run",
]

GTIN = "09506000134352"
FARM = "benchfarm"
EVENT_SCOPES = ["lots:write", "events:write"]


@dataclass(frozen=True)
class Accepted:
    """An entry the API accepted: its ``(device_id, seq)`` key in ``entries`` and when the
    answer arrived (``time.monotonic``)."""

    key: tuple[str, int]
    at: float


PostEntry = Callable[[int], Accepted]
"""Post the n-th entry of a round (n from 0) and return once the API accepted it; raise
``RuntimeError`` naming the answer when it did not."""


UNAVAILABLE_RETRIES = 10
UNAVAILABLE_PAUSE_S = 0.2


class ApiClient:
    """One keep-alive HTTP/1.1 connection to the API, with a bearer token (loopback only).

    A 503 (the API's "the database is unavailable; try again", nothing changed) is retried
    after a short pause, as a client would, at most :data:`UNAVAILABLE_RETRIES` times, and
    counted in ``unavailable`` so that the report shows it."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self._port = port
        self._token = token
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.unavailable = 0

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON answer (``None`` if not JSON)."""
        for _ in range(UNAVAILABLE_RETRIES):
            status, answer = self._call_once(method, path, body)
            if status != 503:
                break
            self.unavailable += 1
            time.sleep(UNAVAILABLE_PAUSE_S)
        return status, answer

    def _call_once(self, method: str, path: str, body: object | None) -> tuple[int, Any]:
        headers = {"Connection": "keep-alive"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        for attempt in (1, 2):
            try:
                self._conn.request(method, path, data, headers)
                response = self._conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: open a new one, once.
                self._conn.close()
                self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
                if attempt == 2:
                    raise
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None

    def close(self) -> None:
        self._conn.close()


def lot_event_poster(api: ApiClient, gtin: str, lot: str) -> PostEntry:
    """A :data:`PostEntry` that records a lot event of ``gtin``/``lot`` (which must exist)."""

    def post(n: int) -> Accepted:
        event = {
            "kind": "storing",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "read_point": "urn:epc:id:sgln:9506000.00001.0",
            "actor": f"Cold room team, check {n}",
        }
        status, body = api.call("POST", f"/v1/lots/{gtin}/{lot}/events", event)
        at = time.monotonic()
        if status != 201 or not isinstance(body, dict):
            raise RuntimeError(f"recording an event answered {status}: {str(body)[:300]}")
        return Accepted((str(body["signer"]), int(body["seq"])), at)

    return post


class AnchorWatch:
    """Polls the database every ``poll`` seconds for the keys it was given and notes, for each,
    when it was first found in a committed block (``time.monotonic``), with its chain origin and
    global index. Run :meth:`start`, :meth:`expect` keys, :meth:`stop`."""

    def __init__(self, db_url: str, poll: float) -> None:
        from farmtrace.store.database import open_database

        self._database = open_database(db_url)
        self._poll = poll
        self._lock = threading.Lock()
        self._waiting: set[tuple[str, int]] = set()
        self.found: dict[tuple[str, int], tuple[float, str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anchor-watch", daemon=True)
        self.failure: BaseException | None = None

    def start(self) -> AnchorWatch:
        self._thread.start()
        return self

    def expect(self, key: tuple[str, int]) -> None:
        with self._lock:
            if key not in self.found:
                self._waiting.add(key)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def _run(self) -> None:
        from farmtrace.store.anchored import anchored_entries

        try:
            while not self._stop.is_set():
                with self._lock:
                    keys = list(self._waiting)
                if keys:
                    hits = anchored_entries(self._database, keys)
                    seen = time.monotonic()
                    with self._lock:
                        for key, (origin, index) in hits.items():
                            self._waiting.discard(key)
                            self.found[key] = (seen, origin, index)
                self._stop.wait(self._poll)
        except BaseException as exc:  # reported by the caller
            self.failure = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._database.close()


@dataclass
class Round:
    """One round: accepted → anchored seconds of each entry anchored, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    posted: int = 0
    not_anchored: int = 0
    proofs_served: int = 0
    proofs_refused: dict[str, int] = field(default_factory=dict)

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile, ``None`` when nothing was anchored."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def as_dict(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {
            "posted": self.posted,
            "anchored": len(self.latencies),
            "not_anchored": self.not_anchored,
            "proofs_served": self.proofs_served,
            "proofs_refused": self.proofs_refused,
            "p50_ms": ms(self.quantile(0.5)),
            "p99_ms": ms(self.quantile(0.99)),
            "max_ms": ms(self.quantile(1.0)),
        }


def measure_round(
    post: PostEntry,
    watch: AnchorWatch,
    api: ApiClient,
    count: int,
    interval: float,
    timeout: float,
    rng: random.Random,
) -> Round:
    """Post ``count`` entries (exponential gaps of mean ``interval`` s), wait at most
    ``timeout`` s after the last for them to be anchored, then ask the API for each anchored
    entry's inclusion proof."""
    accepted: list[Accepted] = []
    for n in range(count):
        entry = post(n)
        watch.expect(entry.key)
        accepted.append(entry)
        time.sleep(rng.expovariate(1 / interval) if interval > 0 else 0.0)
    deadline = time.monotonic() + timeout
    keys = {entry.key for entry in accepted}
    while time.monotonic() < deadline and not keys <= watch.found.keys():
        if watch.failure is not None:
            raise RuntimeError(f"watching the database failed: {watch.failure}")
        time.sleep(0.05)
    result = Round(posted=count)
    for entry in accepted:
        hit = watch.found.get(entry.key)
        if hit is None:
            result.not_anchored += 1
            continue
        seen, origin, index = hit
        result.latencies.append(seen - entry.at)
        status, _ = api.call("GET", f"/v1/chains/{quote(origin)}/readings/{index}/proof")
        if status == 200:
            result.proofs_served += 1
        else:
            result.proofs_refused[str(status)] = result.proofs_refused.get(str(status), 0) + 1
    return result


class SensorTraffic:
    """``devices`` devices, registered at once, publishing signed readings at ``rate`` per
    second in total (QoS 1) on a thread from :meth:`start` to :meth:`stop` (``rate`` may be
    changed between the two; 0 publishes nothing)."""

    def __init__(self, db_url: str, host: str, port: int, rate: float, devices: int) -> None:
        import hashlib

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from farmtrace.store.device_registry import DeviceRegistry

        self._keys = {
            f"urn:epc:id:giai:4012345.ANCHOR-{d}": Ed25519PrivateKey.from_private_bytes(
                hashlib.sha256(f"farmtrace-bench/anchoring-{d}".encode()).digest()
            )
            for d in range(devices)
        }
        with DeviceRegistry.open(db_url) as registry:
            registry.register({d: k.public_key().public_bytes_raw() for d, k in self._keys.items()})
        self._host, self._port = host, port
        self.rate = rate
        self.device_ids = sorted(self._keys)
        self._seqs = dict.fromkeys(self._keys, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def start(self) -> None:
        if self.rate <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sensor-traffic", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from farmtrace.wire import topics
        from farmtrace.wire.protocol import Measurement, Reading, sign

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"anchoring-{os.getpid()}")
        client.connect(self._host, self._port)
        client.loop_start()
        devices = list(self._keys)
        gap = 1 / self.rate
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                device = devices[self.sent % len(devices)]
                self._seqs[device] += 1
                reading = Reading(
                    device,
                    self._seqs[device],
                    int(time.time() * 1000),
                    f"{FARM}/cold-room",
                    "ANCHOR",
                    (Measurement("Temperature", 3.5, "CEL"),),
                )
                client.publish(
                    topics.reading_topic(FARM, device), sign(reading, self._keys[device]), qos=1
                )
                self.sent += 1
                next_at += gap
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            client.loop_stop()
            client.disconnect()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def register(kinds: Any) -> None:
    """Add ``anchoring`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "anchoring",
        help="accepted → anchored latency of lot events, with no (or light) sensor traffic",
        description="Start Mosquitto, the API and a gateway; post lot events through the API "
        "and time each from the API's answer to its entry in a committed block.",
    )
    p.add_argument("--events", type=int, default=200, help="events per round (200)")
    p.add_argument("--repeats", type=int, default=3, help="rounds per traffic level (3)")
    p.add_argument("--interval", type=float, default=0.05, help="mean gap between events, s (0.05)")
    p.add_argument("--batch-age", type=float, default=1.0, help="the gateway's, s (1.0)")
    p.add_argument(
        "--readings-per-s",
        type=float,
        nargs="+",
        default=[0.0],
        metavar="RATE",
        help="sensor traffic levels, readings/s in total; 0 is none (0)",
    )
    p.add_argument("--devices", type=int, default=5, help="devices of the sensor traffic (5)")
    p.add_argument("--poll", type=float, default=0.01, help="database poll interval, s (0.01)")
    p.add_argument("--db", metavar="URL", help="database (default: SQLite in the work directory)")
    p.add_argument("--dir", type=Path, help="keep the database, logs and state here (temp)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if (
        min(args.events, args.repeats, args.devices) < 1
        or not 0 < args.batch_age <= 60
        or not 0 < args.poll <= 1
        or args.interval < 0
        or min(args.readings_per_s) < 0
    ):
        print(
            "farmtrace bench anchoring: counts >= 1, 0 < --batch-age <= 60, 0 < --poll <= 1, "
            "--interval and --readings-per-s >= 0",
            file=sys.stderr,
        )
        return 2
    try:
        if args.dir is not None:
            args.dir.mkdir(parents=True, exist_ok=True)
            result = run(args.dir, args)
        else:
            with tempfile.TemporaryDirectory(prefix="farmtrace-anchoring-") as tmp:
                result = run(Path(tmp), args)
    except RuntimeError as exc:
        print(f"farmtrace bench anchoring: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_text(result))
    complete = all(
        level["not_anchored"] == 0 and level["proofs_refused"] == {} for level in result["levels"]
    )
    return 0 if complete else 1


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "farmtrace", *command],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )


def _wait(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text("utf-8", "replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not happen within {timeout:g} s; {log}:\n{tail}")
        time.sleep(0.1)


def _api_up(port: int) -> bool:
    try:
        status, _ = ApiClient(port).call("GET", "/v1/chains")
    except OSError:
        return False
    return status == 200


def run(where: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, measure every traffic level, stop everything; the result."""
    from farmtrace.api.auth import create_key
    from farmtrace.store.database import open_database

    db_url = args.db or f"sqlite:///{where / 'anchoring.db'}"
    with open_database(db_url) as database:
        token = create_key(database, f"bench-anchoring-{time.time_ns()}", EVENT_SCOPES)
    host, port, broker = start_broker(where)
    processes: list[subprocess.Popen[bytes]] = [broker]
    traffic = SensorTraffic(db_url, host, port, 0.0, args.devices)
    watch: AnchorWatch | None = None
    api: ApiClient | None = None
    try:
        gateway_log = where / "gateway.log"
        report = where / "gateway-report.json"
        gateway = _start(
            [
                *("gateway", "--broker", f"mqtt://{host}:{port}", "--db", db_url),
                *("--state", str(where / "gateway"), "--batch-age", str(args.batch_age)),
                *("--report", str(report)),
            ],
            gateway_log,
        )
        processes.append(gateway)
        _wait(
            lambda: (
                "subscribed to" in gateway_log.read_text("utf-8", "replace")
                or gateway.poll() is not None
            ),
            60,
            "the gateway's subscription",
            gateway_log,
        )
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited: {gateway_log.read_text()[-2000:]}")
        api_port = free_port()
        api_log = where / "api.log"
        processes.append(
            _start(
                [
                    *("api", "--db", db_url, "--port", str(api_port)),
                    *("--state", str(where / "api")),
                ],
                api_log,
            )
        )
        _wait(lambda: _api_up(api_port), 60, "the API's start", api_log)
        api = ApiClient(api_port, token)
        lot = f"ANCHOR-{time.time_ns() // 1000 % 10**12}"  # at most 20 characters
        status, body = api.call("POST", "/v1/lots", _lot_body(lot, traffic.device_ids))
        if status != 201:
            raise RuntimeError(f"creating the lot answered {status}: {str(body)[:300]}")
        watch = AnchorWatch(db_url, args.poll).start()
        post = lot_event_poster(api, GTIN, lot)
        rng = random.Random(20261207)
        timeout = 30 + 10 * args.batch_age
        # Warm-up, not measured: the first event's round trip through every process.
        measure_round(post, watch, api, 1, 0.0, timeout, rng)
        levels = []
        for rate in args.readings_per_s:
            traffic.rate = rate
            sent_before, unavailable_before = traffic.sent, api.unavailable
            traffic.start()
            try:
                rounds = [
                    measure_round(post, watch, api, args.events, args.interval, timeout, rng)
                    for _ in range(args.repeats)
                ]
            finally:
                traffic.stop()
            level = _level(rate, traffic.sent - sent_before, rounds)
            level["api_unavailable_retried"] = api.unavailable - unavailable_before
            levels.append(level)
    finally:
        if watch is not None:
            watch.stop()
        if api is not None:
            api.close()
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    gateway_report = json.loads(report.read_text()) if report.exists() else {}
    return {
        "database": "PostgreSQL" if db_url.startswith("postgresql") else "SQLite",
        "batch_age_s": args.batch_age,
        "events_per_round": args.events,
        "repeats": args.repeats,
        "mean_interval_s": args.interval,
        "poll_s": args.poll,
        "cpus": os.cpu_count(),
        "load_average_after": round(os.getloadavg()[0], 2),
        "gateway_blocks": gateway_report.get("blocks"),
        "gateway_readings_accepted": gateway_report.get("accepted"),
        "levels": levels,
    }


def _lot_body(lot: str, device_ids: list[str]) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))

    return {
        "gtin": GTIN,
        "lot": lot,
        "product_name": "Butterhead lettuce",
        "product_class": "lettuce",
        "farm": "Greenacre",
        "origin_region": "Shouguang",
        "stages": [
            {
                "kind": "room",
                "name": "Cold room 1",
                "start": iso(now_ms - 3_600_000),
                "end": iso(now_ms + 86_400_000),
                "device_ids": device_ids,
            }
        ],
    }


def _level(rate: float, sent: int, rounds: list[Round]) -> dict[str, Any]:
    found = [r.as_dict() for r in rounds]
    out: dict[str, Any] = {"readings_per_s": rate, "readings_sent": sent, "rounds": found}
    for figure in ("p50_ms", "p99_ms", "max_ms"):
        values = [r[figure] for r in found if r[figure] is not None]
        out[figure] = (
            {"median": statistics.median(values), "min": min(values), "max": max(values)}
            if values
            else None
        )
    out["posted"] = sum(r.posted for r in rounds)
    out["not_anchored"] = sum(r.not_anchored for r in rounds)
    out["proofs_served"] = sum(r.proofs_served for r in rounds)
    refused: dict[str, int] = {}
    for r in rounds:
        for status, count in r.proofs_refused.items():
            refused[status] = refused.get(status, 0) + count
    out["proofs_refused"] = refused
    return out


def _text(result: dict[str, Any]) -> str:
    lines = [
        f"accepted → anchored of lot events posted through the API ({result['database']}, "
        f"gateway batch age {result['batch_age_s']} s): {result['repeats']} rounds of "
        f"{result['events_per_round']} events, mean gap {result['mean_interval_s'] * 1000:g} ms, "
        f"database polled every {result['poll_s'] * 1000:g} ms; median over the rounds (range)"
    ]
    for level in result["levels"]:

        def figure(key: str, level: dict[str, Any] = level) -> str:
            f = level[key]
            if f is None:
                return "-"
            return f"{f['median'] / 1000:.3f} s ({f['min'] / 1000:.3f}-{f['max'] / 1000:.3f})"

        traffic = (
            "no sensor traffic"
            if not level["readings_per_s"]
            else f"{level['readings_per_s']:g} readings/s ({level['readings_sent']} sent)"
        )
        lines += [
            f"  {traffic}:",
            f"    p50 {figure('p50_ms')}   p99 {figure('p99_ms')}   max {figure('max_ms')}",
            f"    {level['posted']} posted, {level['posted'] - level['not_anchored']} anchored, "
            f"{level['proofs_served']} proofs served; "
            f"{level['api_unavailable_retried']} answers 503 retried"
            + (f", {level['not_anchored']} NOT anchored" if level["not_anchored"] else "")
            + (f", proofs refused {level['proofs_refused']}" if level["proofs_refused"] else ""),
        ]
    lines.append(
        f"  gateway: {result['gateway_blocks']} blocks, "
        f"{result['gateway_readings_accepted']} readings accepted; "
        f"load average after {result['load_average_after']} on {result['cpus']} CPUs"
    )
    return "\n".join(lines)
