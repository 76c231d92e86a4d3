"""``farmtrace bench startup``: how long the gateway's start-up check takes on a long chain.

Builds a chain of ``--entries`` reading entries in a fresh SQLite database with the store's own
append path (``Ledger.append_batch``, ``--batch`` entries a block), then opens it ``--repeat``
times as the gateway does at start (``Ledger.open``: migrations, the chain lock and the
start-up check of :mod:`farmtrace.store.opening`) and reports each opening's wall time, their
median and range. The readings are real wire-format payloads whose signatures are left zero:
neither the append nor the start-up check verifies device signatures (the audit does), and
signing a million readings would take longer than what is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading
from farmtrace.wire.protocol import SIGNATURE_BYTES, Measurement, Reading, encode

__all__ = ["register", "run"]

ORIGIN = "farmtrace.example/bench-startup"


def register(kinds: Any) -> None:
    """Add ``startup`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "startup",
        help="time the gateway's start-up chain check on a long chain",
        description="Build a chain of --entries readings in a fresh SQLite database, then time "
        "Ledger.open (the gateway's start-up check) --repeat times.",
    )
    p.add_argument("--entries", type=int, default=1_000_000, help="entries (1,000,000)")
    p.add_argument("--batch", type=int, default=5000, help="entries per block (5,000)")
    p.add_argument("--repeat", type=int, default=5, help="openings timed (5)")
    p.add_argument("--devices", type=int, default=1000, help="distinct devices (1,000)")
    p.add_argument("--dir", type=Path, help="keep the database and state here (default: temp)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if min(args.entries, args.batch, args.repeat, args.devices) < 1:
        print("farmtrace bench startup: every count must be at least 1", file=sys.stderr)
        return 2
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        result = run(args.dir, args.entries, args.batch, args.repeat, args.devices)
    else:
        with tempfile.TemporaryDirectory(prefix="farmtrace-startup-") as tmp:
            result = run(Path(tmp), args.entries, args.batch, args.repeat, args.devices)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        times = result["open_seconds"]
        print(
            f"{result['entries']:,} entries in {result['blocks']:,} blocks "
            f"(database {result['database_bytes'] / 2**20:.0f} MiB, built in "
            f"{result['build_seconds']:.1f} s)"
        )
        print(
            f"start-up (Ledger.open): median {result['median_seconds']:.3f} s, "
            f"min {min(times):.3f}, max {max(times):.3f} over {len(times)} openings"
        )
    return 0


def run(where: Path, entries: int, batch: int, repeat: int, devices: int) -> dict[str, Any]:
    """Build the chain in ``where`` (unless it is already there) and time ``repeat`` openings."""
    db = where / "farmtrace.db"
    url = f"sqlite:///{db}"
    state = where / "state"
    built = 0.0
    if not db.exists():
        t0 = time.monotonic()
        _build(url, state, entries, batch, devices)
        built = time.monotonic() - t0
    times = []
    blocks = 0
    for _ in range(repeat):
        t0 = time.monotonic()
        with Ledger.open(url, state, ORIGIN) as ledger:
            times.append(time.monotonic() - t0)
            blocks, stored = ledger.size, ledger.entry_count
    return {
        "entries": stored,
        "blocks": blocks,
        "database_bytes": db.stat().st_size,
        "build_seconds": round(built, 2),
        "open_seconds": [round(t, 4) for t in times],
        "median_seconds": round(statistics.median(times), 4),
    }


def _build(url: str, state: Path, entries: int, batch: int, devices: int) -> None:
    base = int(time.time() * 1000)
    zero = bytes(SIGNATURE_BYTES)
    with Ledger.open(url, state, ORIGIN) as ledger:
        for start in range(0, entries, batch):
            pending = []
            for n in range(start, min(start + batch, entries)):
                device_id, seq = f"bench-{n % devices:05d}", n // devices + 1
                reading = Reading(
                    device_id, seq, base + n, "farm-1/field-a", "LOT-7",
                    (Measurement("Temperature", 4.5, "CEL"),),
                )  # fmt: skip
                pending.append(
                    PendingReading(device_id, seq, base + n, encode(reading) + zero, time.time())
                )
            ledger.append_batch(pending)
