"""Time ``Ledger.append_batch``: ``python -m farmtrace.bench.store_append --db URL [--batch 5000]``.

Signs ``--batches`` batches of ``--batch`` real readings (wire format, Ed25519) from
``--devices`` devices *before* timing, then appends them one batch per call into a fresh chain
in ``--db`` and prints the wall time of each call (each returns only after its durable commit),
their median and maximum, and the implied readings per second. The database should be empty or
at least not hold these devices' readings (they would all be duplicates); a random chain origin
and device prefix are used, so repeated runs against one database stay fresh.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading
from farmtrace.wire.protocol import Measurement, Reading, sign


def make_batches(devices: int, batch: int, batches: int, prefix: str) -> list[list[PendingReading]]:
    """``batches`` lists of ``batch`` signed readings, devices interleaved, seqs increasing."""
    keys = [(f"{prefix}-{i:05d}", Ed25519PrivateKey.generate()) for i in range(devices)]
    readings: list[PendingReading] = []
    base = int(time.time() * 1000)
    total = batch * batches
    for n in range(total):
        device_id, key = keys[n % devices]
        seq, ts = n // devices, base + n
        reading = Reading(
            device_id, seq, ts, "farm-1/field-a", "LOT-7", (Measurement("Temperature", 4.5, "CEL"),)
        )
        readings.append(PendingReading(device_id, seq, ts, sign(reading, key), time.time()))
    return [readings[i : i + batch] for i in range(0, total, batch)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m farmtrace.bench.store_append", description=__doc__
    )
    parser.add_argument(
        "--db", required=True, help="database URL (sqlite:///PATH or postgresql://)"
    )
    parser.add_argument("--batch", type=int, default=5000, help="readings per append (5000)")
    parser.add_argument("--batches", type=int, default=10, help="number of appends (10)")
    parser.add_argument("--devices", type=int, default=1000, help="distinct devices (1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    tag = secrets.token_hex(4)
    batches = make_batches(args.devices, args.batch, args.batches, f"bench-{tag}")
    with tempfile.TemporaryDirectory() as state:
        ledger = Ledger.open(args.db, Path(state), f"bench.farmtrace.example/{tag}")
        try:
            timings = []
            for readings in batches:
                start = time.perf_counter()
                result = ledger.append_batch(readings)
                timings.append(time.perf_counter() - start)
                if result.accepted != len(readings):
                    print(f"unexpected duplicates: {result.duplicate_count}", file=sys.stderr)
                    return 1
        finally:
            ledger.close()
    report = {
        "db": args.db.split("@")[-1],
        "batch": args.batch,
        "batches": args.batches,
        "seconds_per_batch": [round(t, 4) for t in timings],
        "median_s": round(statistics.median(timings), 4),
        "max_s": round(max(timings), 4),
        "readings_per_s": round(args.batch / statistics.median(timings)),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:18} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
