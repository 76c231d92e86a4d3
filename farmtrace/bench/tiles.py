"""``farmtrace bench tiles``: tiles served per second by a real ``farmtrace api``, cold and cached.

A chain of ``--blocks`` blocks of ``--block-size`` signed readings is built once in
``--state`` (reused on later runs). Each repetition starts a fresh API process with an empty
tile cache and fetches every tile a mirror fetches (the chain log's hash tiles and header
bundles; each block's entry bundles and level-0 tile) twice, with ``--concurrency`` keep-alive
clients: the first pass computes every tile from the database (cold), the second is served
from the cache (cached). It prints the median tiles/s of each pass with the range over the
repetitions, the same per second of the server's own CPU time (less sensitive to a busy
machine), their ratio, and the cold cost per block (the server CPU a block's tiles cost once).

Sealing is not measured here: the gateway's append path does no tile work at all (tiles are
computed on first request), see docs/tiles.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from farmtrace.bench.api_load import ORIGIN, prepare
from farmtrace.tlog.tiles import TileRef, bundle_refs, hash_tile_refs

__all__ = ["register", "run"]


def register(kinds: Any) -> None:
    """Add ``tiles`` to ``farmtrace bench``."""
    parser = kinds.add_parser(
        "tiles",
        help="C2SP tiles served per second, cold (computed) and cached",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--state", type=Path, default=Path("bench-tiles"), metavar="DIR")
    parser.add_argument("--blocks", type=int, default=600, help="blocks in the chain")
    parser.add_argument("--block-size", type=int, default=100, help="readings per block")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers (cold + cached)")
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive clients")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _paths(base: str, blocks: int, block_size: int) -> list[str]:
    """Every tile a mirror fetches, plus each block's level-0 tile (what a proof client reads)."""
    log = [r.path for r in hash_tile_refs(blocks) + bundle_refs(blocks)]
    per_block = [
        f"block/{h}/{r.path}"
        for h in range(blocks)
        for r in [*bundle_refs(block_size), TileRef(0, 0, min(block_size, 256))]
    ]
    return [f"{base}/{p}" for p in log + per_block]


def _fetch_all(port: int, paths: list[str], concurrency: int) -> tuple[float, int]:
    """Seconds to GET every path once with ``concurrency`` keep-alive clients; bytes read."""
    work = list(paths)
    lock = threading.Lock()
    total = [0]
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not work:
                    break
                path = work.pop()
            conn.request("GET", path)
            answer = conn.getresponse()
            body = answer.read()
            if answer.status != 200:
                failures.append(f"{path}: {answer.status}")
            with lock:
                total[0] += len(body)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} tiles failed, first {failures[0]}")
    return elapsed, total[0]


def _server(url: str, state: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "farmtrace", "api", "--db", url, "--port", str(port),
         "--state", str(state)],
        env=os.environ
        | {"FARMTRACE_API_RATE_PER_S": "1e9", "FARMTRACE_API_RATE_BURST": "1000000000"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError("the API did not start") from None
            time.sleep(0.2)


def run(args: argparse.Namespace) -> int:
    url = prepare(args.state, args.blocks * args.block_size, args.block_size, args.devices)
    base = f"/v1/chains/{quote(ORIGIN, safe='/')}/tlog"
    paths = _paths(base, args.blocks, args.block_size)
    cold: list[float] = []
    cached: list[float] = []
    cold_cpu: list[float] = []  # tiles per second of the server's own CPU time
    cached_cpu: list[float] = []
    for _ in range(args.repeats):
        api_state = args.state / "api-tiles"
        shutil.rmtree(api_state, ignore_errors=True)  # an empty tile cache: a cold start
        port = _free_port()
        server = _server(url, api_state, port)
        try:
            for rates, cpu in ((cold, cold_cpu), (cached, cached_cpu)):
                used = _cpu_seconds(server.pid)
                seconds, _ = _fetch_all(port, paths, args.concurrency)
                rates.append(len(paths) / seconds)
                cpu.append(len(paths) / max(_cpu_seconds(server.pid) - used, 1e-3))
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "tiles": len(paths),
        "blocks": args.blocks,
        "block_size": args.block_size,
        "repeats": args.repeats,
        "concurrency": args.concurrency,
        "cold_tiles_per_s": _spread(cold),
        "cached_tiles_per_s": _spread(cached),
        "cold_tiles_per_cpu_s": _spread(cold_cpu),
        "cached_tiles_per_cpu_s": _spread(cached_cpu),
        "cached_over_cold": round(statistics.median(cached) / statistics.median(cold), 2),
        "cold_cpu_ms_per_block": round(
            1000 * len(paths) / statistics.median(cold_cpu) / args.blocks, 3
        ),
        "cores": os.cpu_count(),
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    c, k = result["cold_tiles_per_s"], result["cached_tiles_per_s"]
    cc, kc = result["cold_tiles_per_cpu_s"], result["cached_tiles_per_cpu_s"]
    print(
        f"{len(paths)} tiles of {args.blocks} blocks x {args.block_size} readings, "
        f"{args.concurrency} keep-alive clients, {args.repeats} fresh servers\n"
        f"  cold (computed from the database): {c['median']:,.0f} tiles/s "
        f"(min {c['min']:,.0f}, max {c['max']:,.0f}); {cc['median']:,.0f} per server CPU-second "
        f"(min {cc['min']:,.0f}, max {cc['max']:,.0f})\n"
        f"  cached:                            {k['median']:,.0f} tiles/s "
        f"(min {k['min']:,.0f}, max {k['max']:,.0f}); {kc['median']:,.0f} per server CPU-second "
        f"(min {kc['min']:,.0f}, max {kc['max']:,.0f})\n"
        f"  cached / cold: {result['cached_over_cold']}x; a block's tiles cost "
        f"{result['cold_cpu_ms_per_block']} ms of server CPU once, on first request (none when "
        "it is sealed)\n"
        f"  load average after the run: {result['load_average_after']} on {result['cores']} cores"
    )
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }
