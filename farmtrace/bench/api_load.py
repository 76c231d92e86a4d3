"""``farmtrace bench api`` (also ``python -m farmtrace.bench.api_load``): reading proofs under concurrent load.

1. A chain of at least ``--readings`` real signed readings (devices sign with Ed25519 through
   ``farmtrace.wire.protocol``; the ledger appends them in blocks of ``--block``), kept in
   ``<state>/bench.db`` and reused when it already holds enough.
2. ``farmtrace api`` on a free 127.0.0.1 port, in its own process.
3. A load process: ``--concurrency`` clients on one asyncio loop asking
   ``/v1/readings/{random}/proof`` for ``--seconds``; proofs/s and latency percentiles.

Targets (issue 5): at least 1,000 proofs/s with p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["main", "register"]

ORIGIN = "farmtrace.example/bench-api"


def _sign_chunk(args: tuple[int, int, int]) -> list[tuple[str, int, int, bytes]]:
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from farmtrace.wire.protocol import Measurement, Reading, sign

    start, stop, devices = args
    keys: dict[str, Ed25519PrivateKey] = {}
    out = []
    for n in range(start, stop):
        device, seq = f"bench-{n % devices:04d}", n // devices + 1
        key = keys.get(device)
        if key is None:
            seed = hashlib.sha256(b"farmtrace-bench/" + device.encode()).digest()
            key = keys[device] = Ed25519PrivateKey.from_private_bytes(seed)
        ts = 1_767_225_600_000 + n * 10
        reading = Reading(
            device, seq, ts, "bench/room", "LOT-B", (Measurement("Temperature", 2.5, "CEL"),)
        )
        out.append((device, seq, ts, sign(reading, key)))
    return out


def prepare(state: Path, readings: int, block: int, devices: int) -> str:
    """The bench database URL, filled with at least ``readings`` signed readings."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from farmtrace.store.ledger import Ledger
    from farmtrace.store.records import PendingReading

    state.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{state / 'bench.db'}"
    with Ledger.open(url, state / "gateway", ORIGIN) as ledger:
        have = ledger.entry_count
        if have >= readings:
            print(f"reusing {have:,} readings in {state / 'bench.db'}", file=sys.stderr)
            return url
        ledger.register_devices(
            {
                f"bench-{d:04d}": Ed25519PrivateKey.from_private_bytes(
                    hashlib.sha256(f"farmtrace-bench/bench-{d:04d}".encode()).digest()
                )
                .public_key()
                .public_bytes_raw()
                for d in range(devices)
            }
        )
        started = time.monotonic()
        chunks = [(s, min(s + block, readings), devices) for s in range(have, readings, block)]
        with ProcessPoolExecutor(max(1, (os.cpu_count() or 2))) as pool:
            for signed in pool.map(_sign_chunk, chunks):
                now = time.time()
                ledger.append_batch([PendingReading(d, s, t, p, now) for d, s, t, p in signed])
                print(
                    f"\rstored {ledger.entry_count:,} readings "
                    f"({time.monotonic() - started:.0f} s)",
                    end="",
                    file=sys.stderr,
                )
        print(file=sys.stderr)
    return url


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; return the status code.

    A minimal client, so that the load generator costs far less CPU than the server it loads.
    """
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(base: str, total: int, seconds: float, concurrency: int) -> dict[str, Any]:
    host_port = base.removeprefix("http://")
    host, _, port = host_port.partition(":")
    latencies: list[float] = []
    errors: dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop:
                index = random.randrange(total)
                begin = time.perf_counter()
                status = await _get(reader, writer, host_port, f"/v1/readings/{index}/proof")
                latencies.append(time.perf_counter() - begin)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "proofs_per_s": round((len(latencies) - sum(errors.values())) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    url = prepare(args.state, args.readings, args.block, args.devices)
    load_before = os.getloadavg()[0]
    port = _free_port()
    # One client address makes all the load: the per-client rate limit is lifted for the run.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "api",
            "--db",
            url,
            "--port",
            str(port),
            "--state",
            str(args.state / "api"),
            "--workers",
            str(args.workers),
        ],
        env=os.environ
        | {"FARMTRACE_API_RATE_PER_S": "1e9", "FARMTRACE_API_RATE_BURST": "1000000000"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("farmtrace bench api: the API did not start", file=sys.stderr)
                    return 2
                time.sleep(0.2)
        # Warm-up (not measured): fills the batch-tree caches, as a running server's would be.
        if _run_load(base, args, args.warmup) is None:
            return 2
        # The load runs in its own process so that it does not share the server's GIL.
        measured = _run_load(base, args, args.seconds)
        if measured is None:
            return 2
        result = measured
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["readings_stored"] = args.readings
    result["load_average"] = round(load_before, 2)  # before the run: others' load, not ours
    result["cores"] = os.cpu_count()
    result["pass"] = result["proofs_per_s"] >= 1000 and result["p99_ms"] <= 50
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"reading proofs over HTTP, {args.readings:,} readings stored, "
            f"{args.concurrency} concurrent clients for {result['seconds']} s\n"
            f"  {result['proofs_per_s']:,.0f} proofs/s (target >= 1,000)   "
            f"p50 {result['p50_ms']} ms   p99 {result['p99_ms']} ms (target <= 50)   "
            f"errors {result['errors'] or 'none'}\n"
            f"  {'PASS' if result['pass'] else 'FAIL'}   (load average before the run "
            f"{result['load_average']} on {result['cores']} cores)"
        )
        if result["load_average"] > 0.5:
            print(
                "  warning: other processes were busy before the run; the figures are low",
                file=sys.stderr,
            )
    return 0 if result["pass"] else 1


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state", type=Path, default=Path.home() / ".cache" / "farmtrace" / "bench-api"
    )
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=10_000, help="readings per block")
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--json", action="store_true")


def register(kinds: Any) -> None:
    """Add ``api`` to ``farmtrace bench``'s kinds."""
    parser = kinds.add_parser("api", help="reading proofs/s and p99 of the API under load")
    _add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m farmtrace.bench.api_load")
    _add_arguments(parser)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(asyncio.run(_load(args.load, args.total, args.seconds, args.concurrency))))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())


def _run_load(base: str, args: argparse.Namespace, seconds: float) -> dict[str, Any] | None:
    """Drive ``base`` from a separate ``farmtrace.bench.api_load --load`` process for ``seconds``; its JSON
    report, or ``None`` after printing the load process's error."""
    load = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmtrace.bench.api_load",
            "--load",
            base,
            "--total",
            str(args.readings),
            "--seconds",
            str(seconds),
            "--concurrency",
            str(args.concurrency),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if load.returncode != 0:
        print(load.stderr, file=sys.stderr)
        return None
    report: dict[str, Any] = json.loads(load.stdout)
    return report
