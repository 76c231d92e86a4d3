"""Bytes and time to first render of the demo lots' pages in headless Chromium at phone width.

Usage (after ``farmtrace demo --state DIR`` has run long enough for the lots' stages)::

    .venv/bin/python scripts/page_perf.py --demo-state DIR [--runs 7] [--width 390 --height 844]
        [--compare OLD_CHECKOUT --compare-state COPY_OF_DIR]

Starts ``farmtrace api`` on the demo's database (a free port on 127.0.0.1), loads each demo lot's
Digital Link page ``--runs`` times with ``scripts/page_probe.mjs`` (cache off, a fresh profile
each run) and prints, per lot: the bytes of the HTML, the stylesheet (both block the first
render), the badge's JavaScript modules (deferred) and the proof bundle, first-contentful-paint
(median and min-max over the runs), the page height in phone screens, the charts drawn and how
many of them have fewer than two points.
``--compare`` serves a second checkout (e.g. ``git archive OLD | tar -x -C /tmp/old`` plus
the built ``farmtrace/rust_core.abi3.so``) on ``--compare-state`` and interleaves its runs
with this checkout's, so before and after come from one run. ``--json FILE`` also writes every
run's raw probe output.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "scripts" / "page_probe.mjs"
sys.path.insert(0, str(ROOT))

from farmtrace.demo.lots import sample_lots  # noqa: E402  (after the path is set)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_api(state: Path, checkout: Path = ROOT) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # The checkout's own code (``-m farmtrace`` from it), so a copy of an older commit measures
    # that commit's page with the same interpreter and probe.
    argv = [
        sys.executable, "-m", "farmtrace", "api", "--db", f"sqlite:///{state / 'farmtrace.db'}",
        "--host", "127.0.0.1", "--port", str(port), "--state", str(state / "api"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.Popen(
        argv, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/checkpoint", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"the API on {base} did not answer within 60 s")


def probe(url: str, width: int, height: int, lang: str) -> dict[str, Any]:
    """One run of page_probe.mjs (a fresh Chromium profile, cache disabled)."""
    argv = ["node", "--experimental-websocket", str(PROBE), url, "--mobile",
            "--width", str(width), "--height", str(height), "--lang", lang]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"probe failed for {url}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _bytes(run: dict[str, Any], suffix: str) -> int:
    """Bytes transferred for the URLs ending in ``suffix`` (``.css``, ``.js``, ``/bundle``)."""
    return sum(n for url, n in run["bytes"]["byUrl"].items() if url.endswith(suffix))


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def _measure(
    sides: list[tuple[str, str]], args: argparse.Namespace
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``runs`` loads of each demo lot on each side (label, base URL), the sides interleaved run
    by run, so a slow moment of a shared machine falls on both alike."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label, _ in sides}
    for lot in sample_lots(datetime.now(UTC)):
        for _ in range(args.runs):
            for label, base in sides:
                run = probe(base + lot.path, args.width, args.height, args.lang)
                raw[label].setdefault(lot.path, []).append(run)
    return raw


def _report(label: str, base_runs: dict[str, list[dict[str, Any]]], height: int) -> None:
    for path, runs in base_runs.items():
        first = runs[0]
        html = next((n for u, n in first["bytes"]["byUrl"].items() if u.endswith(path)), 0)
        fcp = [r["paint"]["fcp"] for r in runs if r["paint"]["fcp"] is not None]
        screens = first["scrollHeight"] / height
        thin = sum(1 for c in first["charts"] if c["points"] < 2)
        print(f"{label:7} {path:38} {html:>7} {_bytes(first, '.css'):>6} "
              f"{_bytes(first, '.js'):>6} {_bytes(first, '/bundle'):>8} {_spread(fcp):>15} "
              f"{screens:>7.1f} {len(first['charts']):>6} {thin:>6}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-state", type=Path, required=True)
    parser.add_argument(
        "--compare", type=Path, help="another checkout (e.g. an older commit's git archive)"
    )
    parser.add_argument(
        "--compare-state", type=Path, help="the demo state it serves (a copy: its own migrations)"
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--width", type=int, default=390)
    parser.add_argument("--height", type=int, default=844)
    parser.add_argument("--lang", default="en-US")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    servers = [("this", *_start_api(args.demo_state))]
    try:
        if args.compare is not None:
            other = _start_api(args.compare_state or args.demo_state, args.compare.resolve())
            servers.insert(0, ("compare", *other))
        raw = _measure([(label, base) for label, _, base in servers], args)
    finally:
        for _, proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{args.runs} runs per lot and side at {args.width}x{args.height}, lang {args.lang}, "
          "interleaved; FCP median (min-max)")  # fmt: skip
    print(f"{'side':7} {'page':38} {'html B':>7} {'css B':>6} {'js B':>6} {'bundle B':>8} "
          f"{'FCP ms':>15} {'screens':>7} {'charts':>6} {'<2 pts':>6}")  # fmt: skip
    for label, runs in raw.items():
        _report(label, runs, args.height)
    if args.json is not None:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
