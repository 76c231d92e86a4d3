"""``farmtrace bench api`` (also ``python -m farmtrace.bench.api_load``): reading proofs under concurrent load.

1. A chain of at least ``--readings`` real signed readings (devices sign with Ed25519 through
   ``farmtrace.wire.protocol``), appended through the ledger one block at a time, each block
   ``--block`` readings: by default a size drawn between 20 and 100, as the gateway seals every
   second on a small farm. Kept in ``<state>/bench-blocks-<MIN>-<MAX>.db`` and reused when it
   already holds enough. ``readings_stored`` and ``blocks_stored`` are counted in the store.
2. Three measurements, each ``--concurrency`` clients on one asyncio loop (a process of its own)
   asking ``/v1/readings/{random}/proof`` over every stored reading for ``--seconds``:

   * **cold**: a fresh ``farmtrace api`` process (its tree cache empty; the operating system's
     page cache is not dropped), measured from its first request, rate limit lifted;
   * **warm**: the same process after ``--warmup`` unmeasured seconds more;
   * **rate-limited**: a fresh process with the API's default per-client rate limit on (all the
     load comes from one address): proofs/s counts the 200s, the 429s are reported beside it.

Targets (issue 5): at least 1,000 proofs/s with p99 at most 50 ms, judged on the cold figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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


REALISTIC_BLOCKS = (20, 100)
"""Readings per block of a gateway sealing every second on a small farm."""
SIGN_CHUNK = 5000


def parse_block(text: str) -> tuple[int, int]:
    """``"N"`` (every block ``N`` readings) or ``"MIN-MAX"`` (sizes drawn in that range)."""
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"block size {text!r}: expected N or MIN-MAX") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"block size {text!r}: need 1 <= MIN <= MAX")
    return bounds


def block_sizes(total: int, block: tuple[int, int], seed: int = 0) -> list[int]:
    """Sizes of consecutive blocks holding ``total`` readings, each drawn in ``block``
    (the last one may be smaller); the same for the same arguments."""
    draw = random.Random(seed)
    sizes = []
    while total > 0:
        size = min(total, draw.randint(*block))
        sizes.append(size)
        total -= size
    return sizes


def database_path(state: Path, block: tuple[int, int]) -> Path:
    """The bench database for blocks of this size (one per size, reused across runs)."""
    return state / f"bench-blocks-{block[0]}-{block[1]}.db"


def prepare(state: Path, readings: int, block: tuple[int, int], devices: int) -> str:
    """The bench database URL, filled with at least ``readings`` signed readings appended in
    blocks of ``block`` readings (see :func:`block_sizes`)."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from farmtrace.store.ledger import Ledger
    from farmtrace.store.records import PendingReading

    state.mkdir(parents=True, exist_ok=True)
    path = database_path(state, block)
    url = f"sqlite:///{path}"
    # The gateway's state (its key and last signed checkpoint) belongs to this database alone.
    gateway_state = state / f"gateway-blocks-{block[0]}-{block[1]}"
    with Ledger.open(url, gateway_state, ORIGIN) as ledger:
        have = ledger.entry_count
        if have >= readings:
            print(f"reusing {have:,} readings in {path}", file=sys.stderr)
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
        chunks = [
            (s, min(s + SIGN_CHUNK, readings), devices) for s in range(have, readings, SIGN_CHUNK)
        ]
        sizes = iter(block_sizes(readings - have, block, seed=have))
        waiting: list[PendingReading] = []
        with ProcessPoolExecutor(max(1, (os.cpu_count() or 2))) as pool:
            for signed in pool.map(_sign_chunk, chunks):
                now = time.time()
                waiting += [PendingReading(d, s, t, p, now) for d, s, t, p in signed]
                # One append a block, as the gateway seals them.
                while waiting:
                    size = next(sizes)
                    if size > len(waiting) and len(waiting) + ledger.entry_count < readings:
                        sizes = itertools.chain([size], sizes)
                        break
                    ledger.append_batch(waiting[:size])
                    del waiting[:size]
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


RATE_LIFTED = {"FARMTRACE_API_RATE_PER_S": "1e9", "FARMTRACE_API_RATE_BURST": "1000000000"}


class BenchError(RuntimeError):
    """The benchmark could not run (the API did not start, the load process failed)."""


def _start_api(
    url: str, args: argparse.Namespace, rate_limited: bool
) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh ``farmtrace api`` on a free port (its caches empty), and its base URL."""
    port = _free_port()
    env = dict(os.environ)
    for name in RATE_LIFTED:
        env.pop(name, None)
    if not rate_limited:
        # One client address makes all the load: the per-client rate limit is lifted.
        env |= RATE_LIFTED
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
        env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                _stop(server)
                raise BenchError("the API did not start") from None
            time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _figure(load: dict[str, Any]) -> dict[str, Any]:
    load = dict(load)
    load["pass"] = load["proofs_per_s"] >= 1000 and load["p99_ms"] <= 50
    return load


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the chain, take the cold, warm and rate-limited figures; the JSON report."""
    from farmtrace.api.settings import Settings
    from farmtrace.store.counts import read_counts

    block = args.block
    url = prepare(args.state, args.readings, block, args.devices)
    counts = read_counts(url)
    if counts is None or counts.entries < 1:
        raise BenchError(f"cannot count the readings stored in {url}")
    stored = counts.entries
    load_before = os.getloadavg()[0]
    server, base = _start_api(url, args, rate_limited=False)
    try:
        cold = _figure(_run_load(base, args, args.seconds, stored))
        _run_load(base, args, args.warmup, stored)  # unmeasured: fills the tree cache further
        warm = _figure(_run_load(base, args, args.seconds, stored))
    finally:
        _stop(server)
    limited: dict[str, Any] | None = None
    if not args.skip_rate_limited:
        server, base = _start_api(url, args, rate_limited=True)
        try:
            limited = _figure(_run_load(base, args, args.seconds, stored))
        finally:
            _stop(server)
        fields = Settings.model_fields  # the server ran with these defaults (the variables unset)
        limited["rate_per_s"] = fields["rate_per_s"].default
        limited["rate_burst"] = fields["rate_burst"].default
        limited["rate_limited_429"] = limited["errors"].get(429, limited["errors"].get("429", 0))
    result: dict[str, Any] = {
        **cold,
        "cache": "cold",
        "readings_stored": stored,
        "readings_requested": args.readings,
        "blocks_stored": counts.blocks,
        "block_size": {
            "min": block[0],
            "max": block[1],
            "mean": round(stored / max(1, counts.blocks), 1),
        },
        "concurrency": args.concurrency,
        "workers": args.workers,
        "cold": cold,
        "warm": warm,
        "rate_limited": limited,
        "load_average": round(load_before, 2),  # before the run: others' load, not ours
        "cores": os.cpu_count(),
    }
    return result


def _line(label: str, figure: dict[str, Any]) -> str:
    errors = {k: v for k, v in figure["errors"].items() if str(k) != "429"}
    return (
        f"  {label:<13}{figure['proofs_per_s']:>8,.0f} proofs/s   p50 {figure['p50_ms']} ms   "
        f"p99 {figure['p99_ms']} ms   errors {errors or 'none'}"
    )


def render_text(result: dict[str, Any]) -> str:
    """The report as text: cold (judged), warm and rate-limited figures side by side."""
    size = result["block_size"]
    blocks = f"{size['min']}" if size["min"] == size["max"] else f"{size['min']}-{size['max']}"
    lines = [
        f"reading proofs over HTTP, {result['readings_stored']:,} readings stored (counted) in "
        f"{result['blocks_stored']:,} blocks of {blocks} (mean {size['mean']}), "
        f"{result['concurrency']} concurrent clients, random readings, "
        f"{result['seconds']} s a figure",
        _line("cold", result["cold"]) + "   (fresh API process, rate limit lifted)",
        _line("warm", result["warm"]) + "   (same process after the warm-up)",
    ]
    limited = result["rate_limited"]
    if limited is not None:
        lines.append(
            _line("rate-limited", limited)
            + f"   ({limited['rate_limited_429']:,} answered 429; default limit "
            f"{limited['rate_per_s']:g}/s, burst {limited['rate_burst']} per client)"
        )
    lines.append(
        f"  {'PASS' if result['pass'] else 'FAIL'} (cold: >= 1,000 proofs/s and p99 <= 50 ms; "
        f"warm {'PASS' if result['warm']['pass'] else 'FAIL'})   (load average before the run "
        f"{result['load_average']} on {result['cores']} cores)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        result = measure(args)
    except BenchError as exc:
        print(f"farmtrace bench api: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(render_text(result))
        if result["load_average"] > 0.5:
            print(
                "  warning: other processes were busy before the run; the figures are low",
                file=sys.stderr,
            )
    return 0 if result["pass"] else 1


def _run_load(base: str, args: argparse.Namespace, seconds: float, total: int) -> dict[str, Any]:
    """Drive ``base`` from a separate ``farmtrace.bench.api_load --load`` process for
    ``seconds``, asking for readings ``0..total-1``; its JSON report. The load runs in its own
    process so that it does not share the server's GIL."""
    load = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmtrace.bench.api_load",
            "--load",
            base,
            "--total",
            str(total),
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
        raise BenchError(f"the load process failed: {load.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(load.stdout)
    return report


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state", type=Path, default=Path.home() / ".cache" / "farmtrace" / "bench-api"
    )
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument(
        "--block",
        type=parse_block,
        default=REALISTIC_BLOCKS,
        metavar="N|MIN-MAX",
        help="readings per block, or a range sizes are drawn from (20-100: a small farm's "
        "gateway sealing every second)",
    )
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="unmeasured seconds between cold and warm"
    )
    parser.add_argument(
        "--skip-rate-limited", action="store_true", help="leave out the rate-limited figure"
    )
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
