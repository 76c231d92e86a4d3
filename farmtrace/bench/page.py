"""``farmtrace bench page``: server time of the demo lots' consumer page and bundle.

1. The demo's own chain: ``farmtrace demo --state DIR --duration D`` (broker, gateway,
   simulator, API and the sample lots, exactly as a person runs it) when ``DIR`` holds no
   ``farmtrace.db`` yet; an existing demo state is reused as it is. The lots measured are
   every lot that database holds: the demo's sample lots and its campaign's lot.
2. Each side (this checkout, and with ``--server-checkout`` another one, e.g. the commit
   before a change) is measured in a process of its own on a copy of the demo's database
   (a fresh copy for every lot), the two sides alternating lot by lot so a busy moment falls on both. A side calls its ASGI
   app itself (no client, no socket): the time runs from the request entering the app,
   through every middleware, to the response's last byte, so it is the server's.
3. For each lot, the page (the Digital Link with ``Accept: text/html``, what a phone opens)
   and the bundle (``/v1/lots/{gtin}/{lot}/bundle``, what the page verifies), ``--repeats``
   requests each of:

   * ``cold``: a fresh app (new readers, empty caches) for every request; opening the app is
     not timed. Module-level state of the process and the operating system's page cache stay
     warm, as they do for a server that has run a while.
   * ``warm``: one app, a first request not timed, then the timed ones (nothing committed
     between them: the answers kept until the next commit are served).
   * ``after commit``: one app, warm, with a real commit to the database before each timed
     request (an API key added, which changes no lot): the answers kept until the next commit
     are gone, what the readers keep of sealed blocks stays.
   * ``after block``: the same with a new block sealed before each timed request instead (one
     signed reading of a device in no lot, appended by the ledger as the gateway does): the
     chain has a new checkpoint, so what is kept per checkpoint is gone too. A live gateway
     seals a block about every second, so this is what most consumers of a busy farm meet.

   The median and the min-max of the wall-clock time are printed, and the process's CPU time
   per request (all threads: the steadier figure on a shared machine), with the load average
   before and after.
4. Every side's answers are compared: cold, warm and after-commit bodies of one side, and the
   two sides, must be the same bytes (after a block the chain has grown, so not those) (the page's minute it was made and the bundle's
   generation time blanked).

Target (issue 18): each at most 10 ms of server time, warm.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["measure_lot", "register", "run"]

KINDS = ("cold", "warm", "after_commit", "after_block")
COMPARED = ("cold", "warm", "after_commit")
"""The figures whose answers must be the same bytes (after a block the chain has grown)."""
BENCH_DEVICE = "bench-page-0000"
"""The device whose readings seal the new blocks (in no lot's stage)."""
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "en"}


async def _call(app: Any, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET through the ASGI app itself: status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def comparable(body: bytes) -> str:
    """The digest of a response with the moment it was made blanked (the one part meant to
    differ between two requests)."""
    text = body.decode()
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "<time>", text)
    text = re.sub(r"(Page made|页面生成于) [^<]*", r"\1 <time>", text)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def measure_lot(state: Path, gtin: str, lot: str, repeats: int) -> dict[str, Any]:
    """Cold, warm and after-commit server time of the lot's page and bundle, in this process,
    on the database in ``state`` (the code measured is whatever ``farmtrace`` imports)."""
    from farmtrace.api.main import create_app
    from farmtrace.api.settings import Settings
    from farmtrace.store.api_keys import add_api_key
    from farmtrace.store.ledger import Ledger

    settings = Settings(
        db_url=f"sqlite:///{state / 'farmtrace.db'}",
        state_dir=state / "api",
        rate_per_s=1e9,
        rate_burst=1_000_000_000,
    )
    targets = {
        "page": (f"/01/{gtin}/10/{lot}", HTML),
        "bundle": (f"/v1/lots/{gtin}/{lot}/bundle", {"Accept": "application/json"}),
    }

    async def timed(app: Any, url: str, headers: dict[str, str]) -> tuple[float, float, bytes]:
        begin, used = time.perf_counter(), time.process_time()
        status, body = await _call(app, url, headers)
        wall, cpu = time.perf_counter() - begin, time.process_time() - used
        if status != 200:
            raise SystemExit(f"GET {url}: HTTP {status}: {body[:300]!r}")
        return wall * 1000, cpu * 1000, body

    origin = json.loads((state / "gateway" / "gateway.json").read_text())["origin"]
    ledger = Ledger.open(settings.db_url, state / "gateway", origin)
    key = _bench_key()
    ledger.register_devices({BENCH_DEVICE: key.public_key().public_bytes_raw()})
    # The bench device's seqs grow across the lots measured on one copy: from the clock.
    sealed = [time.time_ns() // 1000]

    def seal() -> None:
        """A block of one new signed reading: the ledger's append, as the gateway's."""
        from farmtrace.store.records import PendingReading
        from farmtrace.wire.protocol import Measurement, Reading, sign

        sealed[0] += 1
        seq, now_ms = sealed[0], int(time.time() * 1000)
        reading = Reading(
            BENCH_DEVICE, seq, now_ms, "bench/page", "LOT-B",
            (Measurement("Temperature", 2.5, "CEL"),),
        )  # fmt: skip
        payload = sign(reading, key)
        pending = PendingReading(BENCH_DEVICE, seq, now_ms, payload, now_ms / 1000)
        if ledger.append_batch([pending]).block is None:
            raise SystemExit(f"sealing a block of {BENCH_DEVICE} seq {seq}: no block made")

    async def measure() -> dict[str, Any]:
        # Every figure of every answer before the next kind: the compared kinds all see the
        # chain as the demo left it, the blocks are sealed last.
        out: dict[str, Any] = {what: {"digests": set()} for what in targets}
        for kind in KINDS:
            for what, (url, headers) in targets.items():
                walls, cpus = [], []
                app = None if kind == "cold" else create_app(settings)
                if app is not None:
                    await _call(app, url, headers)  # the first request: not timed
                for _ in range(repeats):
                    if kind == "cold":
                        if app is not None:
                            app.state.farmtrace.close()
                        app = create_app(settings)  # opening it is not timed
                    elif kind == "after_commit" and app is not None:
                        token = secrets.token_hex(32)
                        add_api_key(
                            app.state.farmtrace.database, "bench-page", token, [], time.time()
                        )
                    elif kind == "after_block":
                        seal()
                    wall, cpu, body = await timed(app, url, headers)
                    walls.append(wall)
                    cpus.append(cpu)
                    if kind in COMPARED:
                        out[what]["digests"].add(comparable(body))
                        out[what]["bytes"] = len(body)
                assert app is not None
                app.state.farmtrace.close()
                out[what][kind] = _summary(walls, cpus)
        for figures in out.values():
            figures["digests"] = sorted(figures["digests"])
        return out

    try:
        return asyncio.run(measure())
    finally:
        ledger.close()


def _bench_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.sha256(b"farmtrace-bench-page/" + BENCH_DEVICE.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def _summary(walls: list[float], cpus: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(walls), 3),
        "min_ms": round(min(walls), 3),
        "max_ms": round(max(walls), 3),
        "cpu_median_ms": round(statistics.median(cpus), 3),
        "repeats": len(walls),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_demo(state: Path, duration: float) -> None:
    """Run ``farmtrace demo`` for ``duration`` seconds into ``state`` (its own chain and lots)."""
    print(f"... farmtrace demo --state {state} --duration {duration:g}", file=sys.stderr)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "farmtrace", "demo", "--state", str(state)),
            *("--duration", f"{duration:g}", "--port", str(_free_port())),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (state / "farmtrace.db").exists():
        tail = (done.stdout + done.stderr)[-2000:]
        raise SystemExit(f"farmtrace demo failed (exit {done.returncode}):\n{tail}")


def demo_lots(state: Path) -> list[tuple[str, str]]:
    """The demo's lots: ``(gtin, lot)`` of every lot its database holds (the sample lots and
    the campaign's lot), as created."""
    from farmtrace.store.database import open_database
    from farmtrace.store.lots import Lots

    database = open_database(f"sqlite:///{state / 'farmtrace.db'}")
    try:
        return Lots(database).identities()
    finally:
        database.close()


def _copy_state(state: Path, into: Path) -> Path:
    """A copy of the demo's database and API keys: each side commits to its own."""
    into.mkdir(parents=True)
    for name in ("farmtrace.db", "farmtrace.db-wal", "farmtrace.db-shm"):
        if (state / name).exists():
            shutil.copy2(state / name, into / name)
    shutil.copytree(state / "api", into / "api")
    shutil.copytree(state / "gateway", into / "gateway", ignore=shutil.ignore_patterns("*.lock"))
    return into


def _side(checkout: Path, state: Path, gtin: str, lot: str, repeats: int) -> dict[str, Any]:
    """``measure_lot`` in a process of its own importing ``farmtrace`` from ``checkout``."""
    code = (
        "import json, runpy, sys; from pathlib import Path; "
        "m = runpy.run_path(sys.argv[1], run_name='bench_page_side'); "
        "print(json.dumps(m['measure_lot'](Path(sys.argv[2]), sys.argv[3], sys.argv[4], "
        "int(sys.argv[5]))))"
    )
    argv = [sys.executable, "-c", code, str(Path(__file__).resolve()), str(state)]
    done = subprocess.run(
        [*argv, gtin, lot, str(repeats)],
        capture_output=True,
        text=True,
        check=False,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {lot} with {checkout}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> int:
    state: Path = args.state
    if not (state / "farmtrace.db").exists():
        state.mkdir(parents=True, exist_ok=True)
        build_demo(state, args.demo_duration)
    here = Path(__file__).resolve().parents[2]
    sides = {"this": here}
    if args.server_checkout is not None:
        sides["checkout"] = args.server_checkout.resolve()
    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {name: {} for name in sides}
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        lots = demo_lots(_copy_state(state, Path(tmp) / "lots"))  # (migrates the copy)
        for gtin, lot in lots:  # the sides alternate lot by lot
            for name, checkout in sides.items():
                if not args.json:
                    print(f"... {name}: {lot}", file=sys.stderr, flush=True)
                # A fresh copy for every lot and side: the blocks sealed for one are in no other.
                copy = _copy_state(state, Path(tmp) / f"{name}-{len(results[name])}")
                results[name][lot] = _side(checkout, copy, gtin, lot, args.repeats)
    load_after = os.getloadavg()
    agree = _agreement(results)
    report = {
        "state": str(state),
        "repeats": args.repeats,
        "sides": {name: str(path) for name, path in sides.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
        "results": results,
        "same_bytes": agree,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(report))
    return 0 if all(agree.values()) else 1


def _agreement(results: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """For every lot and answer: one digest across cold, warm, after commit and both sides."""
    agree: dict[str, bool] = {}
    first = next(iter(results.values()))
    for lot, answers in first.items():
        for what in answers:
            digests = {d for side in results.values() for d in side[lot][what]["digests"]}
            # (cold, warm and after commit only: after a block the chain has grown)
            agree[f"{what} {lot}"] = len(digests) == 1
    return agree


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"server time per request, in process through the ASGI app; {report['repeats']} "
        "requests per figure: median (min-max) ms, CPU median ms",
        f"load average {' '.join(map(str, report['load_average_before']))} before, "
        f"{' '.join(map(str, report['load_average_after']))} after; {report['cpus']} CPUs",
    ]
    for name, path in report["sides"].items():
        lines.append(f"side {name}: {path}")
    head = f"{'side':9}{'answer':7}{'lot':16}{'bytes':>8}"
    for kind in KINDS:
        head += f"  {kind:>27}"
    lines.append(head)
    for name, lots in report["results"].items():
        for lot, answers in lots.items():
            for what, figures in answers.items():
                row = f"{name:9}{what:7}{lot:16}{figures['bytes']:>8}"
                for kind in KINDS:
                    f = figures[kind]
                    cell = (
                        f"{f['median_ms']:.2f} ({f['min_ms']:.1f}-{f['max_ms']:.1f}) "
                        f"cpu {f['cpu_median_ms']:.2f}"
                    )
                    row += f"  {cell:>27}"
                lines.append(row)
    same = report["same_bytes"]
    lines.append(
        f"same bytes (cold, warm, after commit{', both sides' if len(report['sides']) > 1 else ''}"
        f"; time made blanked): {sum(same.values())} of {len(same)}"
    )
    lines.extend(f"  differs: {key}" for key, ok in same.items() if not ok)
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(kinds: Any) -> None:
    parser: argparse.ArgumentParser = kinds.add_parser(
        "page",
        help="server time of the demo lots' consumer page and bundle, cold, warm, after a commit",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=Path("farmtrace-bench") / "page-demo",
        metavar="DIR",
        help="the demo's state directory; made by farmtrace demo when it holds no database "
        "(default farmtrace-bench/page-demo)",
    )
    parser.add_argument(
        "--demo-duration",
        type=float,
        default=80.0,
        metavar="SECONDS",
        help="how long the demo runs when it is made (80: past the lots' last stage)",
    )
    parser.add_argument(
        "--repeats", type=_positive, default=20, help="requests per figure, every figure (20)"
    )
    parser.add_argument(
        "--server-checkout",
        type=Path,
        metavar="DIR",
        help="another checkout (e.g. a git worktree of the commit before, with the built "
        "rust_core) measured beside this one on a copy of the same database",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no text")
    parser.set_defaults(func=run)
