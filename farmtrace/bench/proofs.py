"""``farmtrace bench proofs``: reading proofs with a cold cache, realistic blocks, long-tail access.

1. A chain of ``--readings`` real signed readings in blocks of a random size within
   ``--block-size`` (default 20..100: a gateway sealing every second on a small farm), kept in
   ``<state>/proofs-<readings>-<lo>-<hi>.db`` and reused when it is there. Readings are signed
   in worker processes (one per core) while the ledger seals each signed chunk's blocks in one
   transaction (``Ledger.append_batches``: the rows ``append_batch``, the gateway's write path,
   writes block by block; a test holds the two to the same chain).
2. What the database holds: bytes per reading stored (the file, counted rows), and the parts of
   it that are stored hashes: the blocks' run roots (``block_hashes``, revision 0010) and the
   chain log's full tiles (``log_tiles``, revision 0014), so the size without them (the schema
   before revision 0010) is printed beside it.
3. In process, side by side on the same database, each with a fresh reader (cold caches; the
   operating system's page cache is whatever it is): ``rebuild``, the path of blocks without
   stored hashes (every entry of the block read and its tree rebuilt, the reading's place in
   the chain log from a tree of every block header), and ``stored``, the proof from the
   block's stored run roots, the entries of the reading's run and the chain log's stored
   tiles. Each is run ``--repeats`` times, a fresh reader each time; the median and the range
   are printed, and the CPU time per proof beside the rates (the steadier figure on a shared
   machine). ``--threads`` threads
   ask for proofs of readings drawn uniformly from all of them (every block equally likely: the
   long tail a consumer scanning old lots meets) for ``--seconds``.
4. With ``--http``: ``farmtrace api`` started fresh (cold) on the database, ``--concurrency``
   keep-alive clients in a separate process asking ``/v1/readings/{random}/proof`` for
   ``--seconds``; the rate limit lifted (one client address makes all the load). With
   ``--seal-every S`` the chain grows meanwhile, a block of new readings sealed every S seconds
   (a live gateway: every new checkpoint makes the chain log one block longer).

Targets (issue 18): at least 1,000 proofs/s with p99 at most 50 ms, cold, at 10 M readings.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from farmtrace.gateway.ingest.cpu import tree_cpu_seconds

__all__ = ["main", "register", "run"]

ORIGIN = "farmtrace.example/bench-proofs"
_SEED = b"farmtrace-bench-proofs/"


def _device_key(device: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(_SEED + device.encode()).digest())


def _sign_range(args: tuple[int, int, int]) -> list[tuple[str, int, int, bytes]]:
    """Readings ``start .. stop - 1`` signed by their devices (reading n is device n % devices)."""
    from farmtrace.wire.protocol import Measurement, Reading, sign

    start, stop, devices = args
    keys: dict[str, Any] = {}
    out = []
    for n in range(start, stop):
        device, seq = f"bench-{n % devices:04d}", n // devices + 1
        key = keys.get(device)
        if key is None:
            key = keys[device] = _device_key(device)
        ts = 1_767_225_600_000 + n * 10
        reading = Reading(
            device, seq, ts, "bench/room", "LOT-B", (Measurement("Temperature", 2.5, "CEL"),)
        )
        out.append((device, seq, ts, sign(reading, key)))
    return out


def block_sizes(readings: int, low: int, high: int) -> list[int]:
    """The sizes of the bench chain's blocks: a seeded draw within ``low .. high`` (the last
    block takes what is left), so every build of the same arguments makes the same blocks."""
    draw = random.Random(f"{readings}/{low}/{high}")
    sizes: list[int] = []
    left = readings
    while left > 0:
        sizes.append(min(draw.randint(low, high), left))
        left -= sizes[-1]
    return sizes


def prepare(
    state: Path, readings: int, low: int, high: int, devices: int, workers: int | None = None
) -> Path:
    """The bench database, filled with ``readings`` signed readings in blocks of ``low`` to
    ``high`` (:func:`block_sizes`). Readings are signed in ``workers`` processes (default: one
    per core) while the ledger seals each signed chunk's blocks in one transaction
    (``Ledger.append_batches``: the rows ``append_batch`` writes, a statement per table)."""
    from farmtrace.store.bench_db import skip_fsync
    from farmtrace.store.ledger import Ledger
    from farmtrace.store.records import PendingReading

    state.mkdir(parents=True, exist_ok=True)
    path = state / f"proofs-{readings}-{low}-{high}.db"
    with Ledger.open(f"sqlite:///{path}", state / f"gateway-{path.stem}", ORIGIN) as ledger:
        have = ledger.entry_count
        if have >= readings:
            return path
        skip_fsync(ledger.engine)  # building only: the same rows, no wait for the disk
        ledger.register_devices(
            {
                f"bench-{d:04d}": _device_key(f"bench-{d:04d}").public_key().public_bytes_raw()
                for d in range(devices)
            }
        )
        # Blocks already stored (an interrupted build) are skipped by their readings' count.
        sizes, skipped = iter(block_sizes(readings, low, high)), 0
        while skipped < have:
            skipped += next(sizes)
        if skipped != have:
            raise SystemExit(f"{path}: {have:,} readings stored do not end a block; delete it")
        started = time.monotonic()
        chunk = 20_000
        ranges = [(s, min(s + chunk, readings), devices) for s in range(have, readings, chunk)]
        with ProcessPoolExecutor(workers or max(1, os.cpu_count() or 2)) as pool:
            pending: list[tuple[str, int, int, bytes]] = []
            signed_up_to = have
            for signed in pool.map(_sign_range, ranges):
                pending += signed
                signed_up_to += len(signed)
                blocks: list[list[PendingReading]] = []
                now = time.time()
                while pending:
                    size = next(sizes, None)
                    if size is None:
                        raise SystemExit("farmtrace bench proofs: more readings than blocks")
                    if size > len(pending) and signed_up_to < readings:
                        # This block's readings are still being signed: draw it again next time.
                        sizes = itertools.chain([size], sizes)
                        break
                    block, pending = pending[:size], pending[size:]
                    blocks.append([PendingReading(d, q, t, p, now) for d, q, t, p in block])
                ledger.append_batches(blocks)
                done = time.monotonic() - started
                print(
                    f"\rstored {ledger.entry_count:,} readings in {ledger.size:,} blocks "
                    f"({done:.0f} s, {(ledger.entry_count - have) / max(done, 1e-9):,.0f}/s)",
                    end="",
                    file=sys.stderr,
                )
        print(file=sys.stderr)
    return path


def storage(path: Path) -> dict[str, Any]:
    """Bytes per stored reading: the whole file, and without the ``block_hashes`` table."""
    from farmtrace.store.bench_db import sqlite_storage

    size = sqlite_storage(path)
    return {
        "readings_stored": size.readings,
        "entries_stored": size.entries,
        "blocks": size.blocks,
        "mean_block": round(size.entries / max(size.blocks, 1), 1),
        "file_bytes": size.file_bytes,
        "bytes_per_reading": round(size.bytes_per_reading(), 1),
        "block_hashes_bytes": sum(n for k, n in size.tables.items() if "block_hashes" in k),
        "log_tiles_bytes": sum(n for k, n in size.tables.items() if "log_tiles" in k),
        "bytes_per_reading_without_block_hashes": round(
            size.bytes_per_reading(without=("block_hashes",)), 1
        ),
        "bytes_per_reading_without_stored_hashes": round(
            size.bytes_per_reading(without=("block_hashes", "log_tiles")), 1
        ),
    }


def _spread(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds, and for each figure their median, lowest and highest."""
    keys = ("proofs_per_s", "p50_ms", "p99_ms", "cpu_us_per_proof", "server_cpu_us_per_proof")
    summary: dict[str, Any] = {"rounds": rounds}
    for key in keys:
        values = [r[key] for r in rounds if key in r]
        if values:
            summary[key] = {
                "median": round(statistics.median(values), 3),
                "low": min(values),
                "high": max(values),
            }
    summary["first_proof_ms"] = [r["first_proof_ms"] for r in rounds if "first_proof_ms" in r]
    summary["errors"] = [r["errors"] for r in rounds if r.get("errors")]
    summary["load_average"] = [r["load_average"] for r in rounds]
    if any("blocks_sealed_during_load" in r for r in rounds):
        summary["blocks_sealed"] = [r.get("blocks_sealed_during_load") for r in rounds]
        summary["sealer_errors"] = [r["sealer_error"] for r in rounds if "sealer_error" in r]
    return summary


def _percentiles(latencies: list[float], elapsed: float, count: int) -> dict[str, Any]:
    latencies.sort()
    return {
        "proofs": count,
        "seconds": round(elapsed, 2),
        "proofs_per_s": round(count / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
    }


def in_process(path: Path, stored_hashes: bool, seconds: float, threads: int) -> dict[str, Any]:
    """Proofs of uniformly random readings from a fresh reader, ``threads`` at a time."""
    from farmtrace.store.reader import ChainReader

    # The API's reader settings (farmtrace.api.state.AppState.chain).
    reader = ChainReader.open(
        f"sqlite:///{path}",
        ORIGIN,
        batch_trees=2048,
        checkpoint_ttl=1.0,
        stored_hashes=stored_hashes,
    )
    try:
        total = reader.entry_count()
        begin = time.perf_counter()
        reader.reading_proof(random.randrange(total))  # the first one loads the chain log
        first_ms = (time.perf_counter() - begin) * 1000
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        def worker(seed: int) -> None:
            draw = random.Random(seed)
            mine = []
            while time.monotonic() < stop:
                index = draw.randrange(total)
                at = time.perf_counter()
                reader.reading_proof(index)
                mine.append(time.perf_counter() - at)
            latencies.extend(mine)

        started, cpu = time.monotonic(), time.process_time()
        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        result = _percentiles(latencies, time.monotonic() - started, len(latencies))
        result["cpu_us_per_proof"] = round(
            (time.process_time() - cpu) / max(len(latencies), 1) * 1e6, 1
        )
        result["first_proof_ms"] = round(first_ms, 1)
        result["load_average"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        reader.close()


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(head[9:12])


async def _load(port: int, total: int, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def client(seed: int) -> None:
        draw = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                path = f"/v1/readings/{draw.randrange(total)}/proof"
                request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                at = time.perf_counter()
                status = await _get(reader, writer, request)
                latencies.append(time.perf_counter() - at)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    result = _percentiles(
        latencies, time.monotonic() - started, len(latencies) - sum(errors.values())
    )
    result["errors"] = errors
    return result


class _Sealer(threading.Thread):
    """The chain growing while proofs are asked for: a block of ``low`` to ``high`` new signed
    readings sealed every ``every`` seconds through the ledger's own append, as a gateway on a
    small farm does (each block a new checkpoint, so the chain log is one block longer)."""

    def __init__(self, path: Path, state: Path, every: float, sizes: tuple[int, int]) -> None:
        super().__init__(daemon=True)
        self.path, self.state, self.every, self.sizes = path, state, every, sizes
        self.sealed = 0
        self.error: str | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        from farmtrace.store.ledger import Ledger
        from farmtrace.store.records import PendingReading

        draw = random.Random(f"seal/{self.path}")
        try:
            with Ledger.open(
                f"sqlite:///{self.path}", self.state / f"gateway-{self.path.stem}", ORIGIN
            ) as ledger:
                devices = len(ledger.devices())
                while not self._halt.wait(self.every):
                    start = ledger.entry_count
                    signed = _sign_range((start, start + draw.randint(*self.sizes), devices))
                    now = time.time()
                    ledger.append_batch([PendingReading(d, q, t, p, now) for d, q, t, p in signed])
                    self.sealed += 1
        except Exception as exc:  # reported beside the figures, never hidden
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


def over_http(
    path: Path,
    state: Path,
    seconds: float,
    concurrency: int,
    workers: int,
    checkout: Path | None = None,
    seal_every: float = 0.0,
    sizes: tuple[int, int] = (20, 100),
    total: int | None = None,
) -> dict[str, Any]:
    """A fresh ``farmtrace api`` on the database, loaded from a separate process; the server
    runs ``checkout``'s code when given (another commit's tree, to compare on one database).
    With ``seal_every`` > 0 a block is sealed that often during the load (:class:`_Sealer`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    if total is None:  # counting scans the whole file: callers pass what they counted
        total = storage(path)["entries_stored"]
    server = subprocess.Popen(
        [sys.executable, "-m", "farmtrace", "api", "--db", f"sqlite:///{path}",
         "--port", str(port), "--state", str(state / "api"), "--workers", str(workers)],
        env=os.environ
        | {"FARMTRACE_API_RATE_PER_S": "1e9", "FARMTRACE_API_RATE_BURST": "1000000000"}
        | ({} if checkout is None else {"PYTHONPATH": str(checkout)}),
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("farmtrace bench proofs: the API did not start") from None
                time.sleep(0.2)
        used = tree_cpu_seconds(server.pid)
        sealer = None
        if seal_every > 0:
            sealer = _Sealer(path, state, seal_every, sizes)
            sealer.start()
        load = subprocess.run(
            [sys.executable, "-m", "farmtrace.bench.proofs", "--load", str(port),
             "--total", str(total), "--seconds", str(seconds), "--concurrency", str(concurrency)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if load.returncode != 0:
            raise SystemExit(f"farmtrace bench proofs: the load failed: {load.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(load.stdout)
        used = tree_cpu_seconds(server.pid) - used
        if sealer is not None:
            sealer.stop()
            report["blocks_sealed_during_load"] = sealer.sealed
            if sealer.error:
                report["sealer_error"] = sealer.error
        report["server_cpu_us_per_proof"] = round(used / max(report["proofs"], 1) * 1e6, 1)
        report["load_average"] = round(os.getloadavg()[0], 2)
        return report
    finally:
        server.terminate()
        server.wait(timeout=30)


def _block_sizes(text: str) -> tuple[int, int]:
    low, _, high = text.partition("..")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or LOW..HIGH") from None
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: need 1 <= LOW <= HIGH")
    return lo, hi


def run(args: argparse.Namespace) -> int:
    low, high = args.block_size
    args.state = args.state.resolve()  # the server may run in another checkout's directory
    started = time.monotonic()
    path = prepare(args.state, args.readings, low, high, args.devices)
    built_s = time.monotonic() - started
    result: dict[str, Any] = {"database": str(path), "prepare_s": round(built_s, 1)}
    result["storage"] = storage(path)
    result["load_average_before"] = round(os.getloadavg()[0], 2)
    result["cores"] = os.cpu_count()
    # Rounds alternate between the modes, so a burst of load elsewhere hits both alike.
    rounds: dict[str, list[dict[str, Any]]] = {"rebuild": [], "stored": []}
    for _ in range(args.repeats):
        for mode, done in rounds.items():
            done.append(in_process(path, mode == "stored", args.seconds, args.threads))
    result["in_process"] = {mode: _spread(done) for mode, done in rounds.items()}
    servers: dict[str, Path | None] = {}
    if args.http:
        servers["http_stored_cold"] = None
    if args.server_checkout is not None:
        servers["http_checkout_cold"] = args.server_checkout
    http: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for _ in range(args.repeats):
        for name, checkout in servers.items():
            http[name].append(
                over_http(
                    path,
                    args.state,
                    args.seconds,
                    args.concurrency,
                    args.workers,
                    checkout,
                    args.seal_every,
                    (low, high),
                    result["storage"]["entries_stored"],
                )
            )
    for name, done in http.items():
        result[name] = _spread(done)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result))
        return 0
    st = result["storage"]
    print(
        f"{st['readings_stored']:,} readings stored in {st['blocks']:,} blocks "
        f"(mean {st['mean_block']}), {path}\n"
        f"  {st['bytes_per_reading']} bytes per reading; without stored hashes "
        f"{st['bytes_per_reading_without_stored_hashes']} "
        f"(block_hashes {st['block_hashes_bytes']:,} bytes, "
        f"log_tiles {st['log_tiles_bytes']:,} bytes)\n"
        f"load average before {result['load_average_before']}, after "
        f"{result['load_average_after']} on {result['cores']} cores\n"
        f"in process, fresh reader each, {args.threads} threads, {args.seconds} s, "
        f"{args.repeats} rounds, uniformly random readings (median [low-high]):"
    )
    for mode, r in result["in_process"].items():
        print(f"  {mode:8} {_line(r)}  first {r['first_proof_ms']} ms")
    for name, label in (("http_stored_cold", "this checkout"), ("http_checkout_cold", "checkout")):
        if name in result:
            where = args.server_checkout if name == "http_checkout_cold" else "this checkout"
            print(
                f"over HTTP, fresh server from {where} ({args.workers} workers), "
                f"{args.concurrency} clients, {args.seconds} s, {args.repeats} rounds:\n"
                f"  {label:13} {_line(result[name])}  errors {result[name]['errors'] or 'none'}"
            )
    return 0


def _line(summary: dict[str, Any]) -> str:
    def part(key: str, unit: str) -> str:
        figure = summary.get(key)
        if figure is None:
            return ""
        return f"{figure['median']:,} [{figure['low']:,}-{figure['high']:,}] {unit}  "

    return (
        part("proofs_per_s", "proofs/s")
        + part("p50_ms", "ms p50")
        + part("p99_ms", "ms p99")
        + part("cpu_us_per_proof", "us CPU/proof")
        + part("server_cpu_us_per_proof", "us server CPU/proof")
        + f"load {summary['load_average']}"
        + (f"  blocks sealed {summary['blocks_sealed']}" if "blocks_sealed" in summary else "")
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state", type=Path, default=Path.home() / ".cache" / "farmtrace" / "bench-proofs"
    )
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument(
        "--block-size",
        type=_block_sizes,
        default=(20, 100),
        help="readings per block: N or LOW..HIGH",
    )
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4, help="in-process proof threads")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each measurement")
    parser.add_argument(
        "--seal-every",
        type=float,
        default=0.0,
        help="over HTTP, also seal a block of new readings this often (seconds; 0: a still chain)",
    )
    parser.add_argument("--http", action="store_true", help="also over HTTP, a fresh server")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--server-checkout",
        type=Path,
        help="also over HTTP with this checkout's server code (e.g. an older commit's tree with "
        "the built rust_core and this database's migrations), on the same database",
    )
    parser.add_argument("--json", action="store_true")


def register(kinds: Any) -> None:
    """Add ``proofs`` to ``farmtrace bench``'s kinds."""
    parser = kinds.add_parser(
        "proofs", help="cold reading proofs/s and p99, realistic blocks, long-tail access"
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m farmtrace.bench.proofs")
    _add_arguments(parser)
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        report = asyncio.run(_load(args.load, args.total, args.seconds, args.concurrency))
        print(json.dumps(report))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
