"""``farmtrace bench api-flood``: checkpoint latency while other clients flood expensive reads.

1. A fresh SQLite chain of ``--readings`` real signed readings from 3 devices, a lot whose cold
   room those devices watched, and ``--events`` signed events anchored in a block, so that one
   bundle costs what a real lot's does.
2. ``farmtrace api`` on a free 127.0.0.1 port, in its own process, with its default rate limit.
3. Rounds, ``--repeats`` times: ``--seconds`` of a quiet phase, then the same with a flood. In
   both, one client (from 127.0.0.1) asks ``/checkpoint`` every 10 ms (at most 100/s, within
   its own rate limit) and its latencies are kept; in the flood phase ``--clients`` more clients, each from its own loopback address
   (127.0.1.N, so each has its own rate-limit bucket as separate machines would), ask
   ``--flood`` (``bundle``, ``epcis`` or ``page``) of the lot back to back, one request in
   flight each. Every request loop ends by itself after ``--seconds``.

It prints the checkpoint client's p50 and p99 per phase (median over the rounds, and their
range), and the flood's answers by status. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

ORIGIN = "farmtrace.example/bench-flood"
GTIN = "09506000134352"
LOT = "FLOOD-1"
BASE_MS = 1_767_225_600_000
CHECKPOINT_EVERY_S = 0.01
FLOODS = {
    "bundle": f"/v1/lots/{GTIN}/{LOT}/bundle",
    "epcis": f"/v1/lots/{GTIN}/{LOT}/epcis",
    "page": f"/01/{GTIN}/10/{LOT}",
}


def register(kinds: Any) -> None:
    """Add ``api-flood`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "api-flood",
        help="checkpoint p50/p99 with and without a flood of bundle (or EPCIS, page) reads",
        description="Start the API on a free loopback port over a fresh chain and lot; time "
        "one client's /checkpoint reads alone and while --clients others flood --flood.",
    )
    p.add_argument("--flood", choices=sorted(FLOODS), default="bundle")
    p.add_argument("--clients", type=int, default=8, help="flooding clients (8)")
    p.add_argument("--seconds", type=float, default=8.0, help="length of each phase (8)")
    p.add_argument("--repeats", type=int, default=3, help="rounds of quiet + flood (3)")
    p.add_argument("--readings", type=int, default=900, help="readings of the lot (900)")
    p.add_argument("--events", type=int, default=5, help="signed events of the lot (5)")
    p.add_argument(
        "--compare",
        action="store_true",
        help="also measure, round by round, a server without the cost-based limit",
    )
    p.add_argument("--dir", type=Path, help="keep the database and state here (default: temp)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if min(args.clients, args.repeats, args.readings) < 1 or not 0 < args.seconds <= 120:
        print("farmtrace bench api-flood: counts >= 1, 0 < --seconds <= 120", file=sys.stderr)
        return 2
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        result = run(args.dir, args)
    else:
        with tempfile.TemporaryDirectory(prefix="farmtrace-flood-") as tmp:
            result = run(Path(tmp), args)
    if result is None:
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_text(result))
    return 0


def _prepare(state: Path, readings: int) -> tuple[str, list[str]]:
    """A chain of ``readings`` signed readings from 3 devices; the URL and the device IDs."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from farmtrace.store.ledger import Ledger
    from farmtrace.store.records import PendingReading
    from farmtrace.wire.protocol import Measurement, Reading, sign

    url = f"sqlite:///{state / 'flood.db'}"
    keys = {
        f"flood-{d}": Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(f"farmtrace-bench/flood-{d}".encode()).digest()
        )
        for d in range(3)
    }
    with Ledger.open(url, state / "gateway", ORIGIN) as ledger:
        ledger.register_devices({d: k.public_key().public_bytes_raw() for d, k in keys.items()})
        batch = []
        for n in range(readings):
            device = f"flood-{n % 3}"
            ts = BASE_MS + n * 1000
            reading = Reading(
                device, n // 3 + 1, ts, "room-1", LOT, (Measurement("Temperature", 2.5, "CEL"),)
            )
            batch.append(PendingReading(device, n // 3 + 1, ts, sign(reading, keys[device]), 0.0))
            if len(batch) == 300:
                ledger.append_batch(batch)
                batch = []
        if batch:
            ledger.append_batch(batch)
    return url, sorted(keys)


def _anchor(url: str, state: Path) -> None:
    from farmtrace.store.ledger import Ledger

    with Ledger.open(url, state / "gateway", ORIGIN) as ledger:
        ledger.append_batch([])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    body: bytes = b"",
    headers: str = "",
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 request on an open connection: status and body."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    raw = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in raw.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(raw[9:12]), await reader.readexactly(length)


async def _setup_lot(port: int, token: str, devices: list[str], readings: int, events: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n"

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))

    lot = {
        "gtin": GTIN,
        "lot": LOT,
        "product_name": "Butterhead lettuce",
        "product_class": "lettuce",
        "farm": "Greenacre",
        "origin_region": "Shouguang",
        "stages": [
            {
                "kind": "room",
                "name": "Cold room 1",
                "start": iso(BASE_MS),
                "end": iso(BASE_MS + readings * 1000),
                "device_ids": devices,
            }
        ],
    }
    try:
        status, text = await _request(
            reader, writer, "POST", "/v1/lots", json.dumps(lot).encode(), auth
        )
        if status != 201:
            raise RuntimeError(f"creating the lot answered {status}: {text[:300]!r}")
        for n in range(events):
            event = {
                "kind": "storing",
                "time": iso(BASE_MS + n * 60_000),
                "read_point": "urn:epc:id:sgln:9506000.00001.0",
                "actor": "Cold room team",
            }
            body = json.dumps(event).encode()
            status, text = await _request(
                reader, writer, "POST", f"/v1/lots/{GTIN}/{LOT}/events", body, auth
            )
            if status != 201:
                raise RuntimeError(f"recording an event answered {status}: {text[:300]!r}")
    finally:
        writer.close()


async def _phase(port: int, flood: str | None, clients: int, seconds: float) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    checkpoint_errors: dict[int, int] = {}
    flood_latencies: list[float] = []

    async def checkpoints() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                begin = time.perf_counter()
                status, _ = await _request(reader, writer, "GET", "/checkpoint")
                latencies.append(time.perf_counter() - begin)
                if status != 200:
                    checkpoint_errors[status] = checkpoint_errors.get(status, 0) + 1
                # Paced within its own rate limit (every CHECKPOINT_EVERY_S), as a monitor is.
                await asyncio.sleep(max(0.0, CHECKPOINT_EVERY_S - (time.perf_counter() - begin)))
        finally:
            writer.close()

    async def flooder(n: int) -> None:
        assert flood is not None
        # Each flooder from its own loopback address: its own client to the rate limit.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(f"127.0.1.{n + 1}", 0)
        )
        try:
            while time.monotonic() < stop:
                begin = time.perf_counter()
                status, _ = await _request(reader, writer, "GET", FLOODS[flood])
                flood_latencies.append(time.perf_counter() - begin)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 429:
                    await asyncio.sleep(0.05)  # a polite client backs off a little
        finally:
            writer.close()

    tasks = [checkpoints()]
    if flood is not None:
        tasks += [flooder(n) for n in range(clients)]
    await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "checkpoints": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "checkpoint_errors": checkpoint_errors,
        "flood_answers": statuses,
        "flood_p50_ms": (
            round(statistics.median(flood_latencies) * 1000, 1) if flood_latencies else None
        ),
    }


UNLIMITED = {
    "FARMTRACE_API_COSTLY_COST": "1",
    "FARMTRACE_API_COSTLY_CONCURRENCY": "1000000",
    "FARMTRACE_API_GIL_SWITCH_INTERVAL_MS": "5",
}
"""A server configured as before the cost-based limit: every operation one token, no gate on
the expensive reads, Python's default GIL switch interval."""


def _start(
    url: str, state: Path, name: str, env: dict[str, str]
) -> tuple[int, subprocess.Popen[bytes]]:
    port = _free_port()
    with (state / f"api-{name}.log").open("wb") as log:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "farmtrace", "api", "--db", url, "--port", str(port)),
                *("--state", str(state / "api")),
            ],
            stdout=log,
            stderr=log,
            env=os.environ | env,
        )
    return port, server


def _wait_up(port: int, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                return False
            time.sleep(0.2)


def run(state: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """Prepare, serve, measure; the result, or ``None`` after saying why it could not run.

    With ``args.compare`` a second server over the same database runs as configured before the
    cost-based limit (:data:`UNLIMITED`), and each round measures both, one after the other.
    """
    from farmtrace.api.auth import create_key
    from farmtrace.store.database import open_database

    url, devices = _prepare(state, args.readings)
    with open_database(url) as database:
        token = create_key(database, "bench", ["lots:write", "events:write"])
    configs = {"cost-limited": {}, **({"unlimited": UNLIMITED} if args.compare else {})}
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for name, env in configs.items():
            servers[name] = _start(url, state, name, env)
            if not _wait_up(*servers[name]):
                print(f"farmtrace bench api-flood: the API ({name}) did not start", file=sys.stderr)
                return None
            if len(servers) == 1:
                port = servers[name][0]
                asyncio.run(_setup_lot(port, token, devices, args.readings, args.events))
                _anchor(url, state)
        time.sleep(1.1)  # the API re-reads the latest checkpoint at most once a second
        for port, _ in servers.values():
            asyncio.run(_phase(port, args.flood, args.clients, 1.0))  # warm-up, not measured
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for _ in range(args.repeats):
            for name, (port, _) in servers.items():
                quiet = asyncio.run(_phase(port, None, args.clients, args.seconds))
                flooded = asyncio.run(_phase(port, args.flood, args.clients, args.seconds))
                rounds[name].append({"quiet": quiet, "flood": flooded})
    finally:
        for _, server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    result = {
        "flood": args.flood,
        "clients": args.clients,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "readings": args.readings,
        "load_average_after": round(os.getloadavg()[0], 2),
        "servers": {name: _summary(found) for name, found in rounds.items()},
    }
    return result


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds}
    for phase in ("quiet", "flood"):
        for figure in ("p50_ms", "p99_ms"):
            values = [r[phase][figure] for r in rounds]
            out[f"{phase}_{figure}"] = {
                "median": round(statistics.median(values), 2),
                "min": min(values),
                "max": max(values),
            }
    for phase in ("quiet", "flood"):
        refused: dict[str, int] = {}
        for r in rounds:
            for status, count in r[phase]["checkpoint_errors"].items():
                refused[str(status)] = refused.get(str(status), 0) + count
        out[f"{phase}_checkpoint_errors"] = refused
    answers: dict[str, int] = {}
    for r in rounds:
        for status, count in r["flood"]["flood_answers"].items():
            answers[status] = answers.get(status, 0) + count
    out["flood_answers"] = answers
    return out


def _text(result: dict[str, Any]) -> str:
    lines = [
        f"/checkpoint latency of one client, {result['repeats']} rounds of {result['seconds']} s, "
        f"{result['readings']} readings in the lot, {result['clients']} clients flooding "
        f"{result['flood']}; median over the rounds (range)"
    ]
    for name, found in result["servers"].items():

        def figure(key: str, found: dict[str, Any] = found) -> str:
            f = found[key]
            return f"{f['median']} ms ({f['min']}-{f['max']})"

        lines += [
            f"  {name}:",
            f"    alone:        p50 {figure('quiet_p50_ms')}   p99 {figure('quiet_p99_ms')}",
            f"    under flood:  p50 {figure('flood_p50_ms')}   p99 {figure('flood_p99_ms')}",
            f"    flood answers: {found['flood_answers']}; checkpoint answers other than 200: "
            f"{found['quiet_checkpoint_errors'] or 'none'} alone, "
            f"{found['flood_checkpoint_errors'] or 'none'} under the flood",
        ]
    lines.append(f"  (load average after the run: {result['load_average_after']})")
    return "\n".join(lines)
