"""Server time of the demo lots' provenance page and proof bundle, cold and warm.

Usage (after ``farmtrace demo --state DIR`` has run long enough for the lots' stages)::

    .venv/bin/python scripts/page_server_time.py --demo-state DIR [--runs 20]
        [--compare OLD_CHECKOUT] [--json]

Opens the API in process on a copy of the demo's database and calls the ASGI app itself (no
client, no socket: the time is the server's, from the request entering the app, through every
middleware, to the last byte of the response) and, per
demo lot, asks for the page (``Accept: text/html``) and the bundle: the first request of each is
the cold figure (a fresh app, nothing cached), then ``--runs`` more give the warm median and
range. ``--compare`` runs the same in a second process with another checkout's code (e.g.
``git archive OLD | tar -x -C /tmp/old`` plus the built ``farmtrace/rust_core.abi3.so``), one
copy of the database each, the two alternating lot by lot so a busy moment falls on both; the
responses of the two sides are compared byte for byte (``generated_at`` aside).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _copy_state(state: Path, into: Path) -> Path:
    """A copy of the demo's database and keys, so migrations and caches touch neither side."""
    target = into / "state"
    target.mkdir(parents=True)
    for name in ("farmtrace.db", "farmtrace.db-wal", "farmtrace.db-shm"):
        if (state / name).exists():
            shutil.copy2(state / name, target / name)
    if (state / "api").exists():
        shutil.copytree(state / "api", target / "api")
    return target


async def _call(app: Any, path: str, query: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET through the ASGI app itself (no client, no socket): status and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
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


def _forget_answers(app: Any) -> None:
    """Drop the answers kept until the next commit (as a commit would); nothing on a checkout
    that keeps none."""
    kept = getattr(app.state.farmtrace, "_answers", None)
    if kept is not None:
        kept._answers = type(kept._answers)(kept._answers.capacity)


def measure(state: Path, runs: int, paths: list[str]) -> dict[str, Any]:
    """Cold and warm server time of each path's page and bundle, in this process."""
    import asyncio

    from farmtrace.api.main import create_app
    from farmtrace.api.settings import Settings

    settings = Settings(
        db_url=f"sqlite:///{state / 'farmtrace.db'}",
        state_dir=state / "api",
        rate_per_s=1e9,
        rate_burst=1_000_000_000,
    )
    app = create_app(settings)  # opens the database: not part of the first request's time
    out: dict[str, Any] = {}

    async def run_all() -> None:
        for path in paths:
            lot = path.split("/10/")[1]
            gtin = path.split("/01/")[1].split("/")[0]
            targets = {
                "page": (path, {"Accept": "text/html", "Accept-Language": "en"}),
                "bundle": (f"/v1/lots/{gtin}/{lot}/bundle", {}),
            }
            for kind, (url, headers) in targets.items():
                times, cpu = [], []
                body = b""
                for _ in range(runs + 1):
                    begin, used = time.perf_counter(), time.process_time()
                    status, body = await _call(app, url, "", headers)
                    times.append((time.perf_counter() - begin) * 1000)
                    cpu.append((time.process_time() - used) * 1000)
                    if status != 200:
                        raise SystemExit(f"{url}: {status} {body[:300]!r}")
                warm = times[1:]
                # After a commit: what is kept until the next commit is gone, the rest (the
                # readers' caches of what never changes) stays.
                missed, missed_cpu = [], []
                for _ in range(runs):
                    _forget_answers(app)
                    begin, used = time.perf_counter(), time.process_time()
                    status, _ = await _call(app, url, "", headers)
                    missed.append((time.perf_counter() - begin) * 1000)
                    missed_cpu.append((time.process_time() - used) * 1000)
                out[f"{kind} {path}"] = {
                    "cold_cpu_ms": round(cpu[0], 2),
                    "warm_cpu_median_ms": round(statistics.median(cpu[1:]), 2),
                    "after_commit_cpu_median_ms": round(statistics.median(missed_cpu), 2),
                    "after_commit_median_ms": round(statistics.median(missed), 2),
                    "cold_ms": round(times[0], 2),
                    "warm_median_ms": round(statistics.median(warm), 2),
                    "warm_min_ms": round(min(warm), 2),
                    "warm_max_ms": round(max(warm), 2),
                    "bytes": len(body),
                    "body": _comparable(body.decode()),
                }

    asyncio.run(run_all())
    return out


def _comparable(text: str) -> str:
    """The response with the moment it was generated blanked (the one part meant to differ)."""
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "<time>", text)
    # The page's footer says when it was made, to the minute.
    return re.sub(r"(Page made|页面生成于) [^<]*", r"\1 <time>", text)


def _demo_paths() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from farmtrace.demo.lots import sample_lots

    return [lot.path for lot in sample_lots(datetime.now(UTC))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-state", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--paths", help=argparse.SUPPRESS)  # a side's process: paths as JSON
    args = parser.parse_args()
    if args.paths is not None:
        json.dump(measure(args.demo_state, args.runs, json.loads(args.paths)), sys.stdout)
        return 0
    paths = _demo_paths()
    sides = [("this", ROOT)] + ([("compare", args.compare.resolve())] if args.compare else [])
    results: dict[str, dict[str, Any]] = {label: {} for label, _ in sides}
    with tempfile.TemporaryDirectory(prefix="page-time-") as tmp:
        copies = {label: _copy_state(args.demo_state, Path(tmp) / label) for label, _ in sides}
        for path in paths:  # alternating sides lot by lot, each a fresh process (cold)
            for label, checkout in reversed(sides):
                done = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--demo-state",
                     str(copies[label]), "--runs", str(args.runs), "--paths", json.dumps([path])],
                    capture_output=True, text=True, check=False, cwd=checkout,
                    env={**os.environ, "PYTHONPATH": str(checkout)},
                )  # fmt: skip
                if done.returncode != 0:
                    raise SystemExit(f"{label}: {done.stderr[-3000:]}")
                results[label].update(json.loads(done.stdout))
    if args.json:
        print(json.dumps({k: {p: {f: v for f, v in r.items() if f != "body"} for p, r in s.items()}
                          for k, s in results.items()}))  # fmt: skip
        return 0
    print(f"server time in ms, in process; cold = first request of a fresh app, warm = median "
          f"(min-max) of the next {args.runs}; after commit = median of {args.runs} with what is "
          "kept until the next commit dropped before each")  # fmt: skip
    print("(CPU: the process's CPU time per request, all threads: less sensitive to a busy "
          "machine than the wall-clock figures)")  # fmt: skip
    print(f"{'side':8} {'what':6} {'lot':38} {'cold':>8} {'warm':>8} {'range':>15} "
          f"{'after commit':>12} {'CPU cold':>8} {'warm':>6} {'commit':>6} {'bytes':>8}")  # fmt: skip
    for label, rows in results.items():
        for key, r in rows.items():
            kind, path = key.split(" ", 1)
            print(f"{label:8} {kind:6} {path:38} {r['cold_ms']:8.1f} {r['warm_median_ms']:8.2f} "
                  f"{r['warm_min_ms']:7.2f}-{r['warm_max_ms']:<7.2f} "
                  f"{r['after_commit_median_ms']:12.2f} {r['cold_cpu_ms']:8.1f} "
                  f"{r['warm_cpu_median_ms']:6.2f} {r['after_commit_cpu_median_ms']:6.1f} "
                  f"{r['bytes']:>8}")  # fmt: skip
    if len(sides) == 2:
        same = [
            k
            for k in results["this"]
            if results["this"][k]["body"] == results["compare"][k]["body"]
        ]
        print(f"identical responses (generation time aside): {len(same)} of {len(results['this'])}")
        for k in results["this"]:
            if k not in same:
                print(f"  differs: {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
