"""``farmtrace bench``: the benchmark command group."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from farmtrace.bench import anchoring as anchoring_bench
from farmtrace.bench import api_flood, ingest_command, suite
from farmtrace.bench import api_load as api_bench
from farmtrace.bench import coupons as coupons_bench
from farmtrace.bench import page as page_bench
from farmtrace.bench import proofs as proofs_bench
from farmtrace.bench import startup as startup_bench
from farmtrace.bench import tiles as tiles_bench


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    kinds = parser.add_subparsers(dest="bench", metavar="KIND", required=True)
    core = kinds.add_parser(
        "core",
        help="Merkle tree build, SHA-256 ceiling and Ed25519 bulk check",
        description="Measure rust_core against the SHA-256 ceiling and the Python baselines, "
        "and judge the figures against the targets of the rust_core issue.",
    )
    core.add_argument("--entries", type=_positive, default=1_000_000, help="leaves per tree")
    core.add_argument("--entry-size", type=_positive, default=120, help="bytes per entry")
    core.add_argument(
        "--repeats",
        type=_positive,
        default=5,
        help="runs of every timed figure, baselines included; the median is reported with min and max (5)",
    )
    core.add_argument(
        "--reference-entries",
        type=_positive,
        default=100_000,
        help="entries timed with the pure-Python baselines (capped at --entries)",
    )
    core.add_argument(
        "--signatures",
        type=_positive,
        default=None,
        help="Ed25519 triples to check (default: --entries, at most 10,000)",
    )
    core.add_argument(
        "--sha256-seconds",
        type=_positive_seconds,
        default=1.0,
        help="seconds spent measuring each SHA-256 ceiling",
    )
    core.add_argument("--json", action="store_true", help="print one JSON object, no text")
    core.set_defaults(func=_run_core)
    ingest_command.register(kinds)  # the gateway's benchmark, kept in its own module
    api_bench.register(kinds)  # the API's proof benchmark (farmtrace/bench/api_load.py)
    startup_bench.register(kinds)  # the gateway's start-up check (farmtrace/bench/startup.py)
    api_flood.register(kinds)  # checkpoint latency under a flood (farmtrace/bench/api_flood.py)
    tiles_bench.register(kinds)  # C2SP tiles served, cold and cached (farmtrace/bench/tiles.py)
    proofs_bench.register(kinds)  # cold proofs, realistic blocks (farmtrace/bench/proofs.py)
    suite.register(
        kinds
    )  # every benchmark, small, one report with plots (farmtrace/bench/suite.py)
    anchoring_bench.register(kinds)  # accepted → anchored (farmtrace/bench/anchoring.py)
    coupons_bench.register(kinds)  # coupon transfers per second (farmtrace/bench/coupons.py)
    page_bench.register(kinds)  # the demo lots' page and bundle (farmtrace/bench/page.py)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _run_core(args: argparse.Namespace) -> int:
    # Imported here so that `farmtrace --help` does not load rust_core and cryptography.
    from farmtrace.bench import core, core_report

    config = core.CoreBenchConfig(
        entries=args.entries,
        entry_size=args.entry_size,
        repeats=args.repeats,
        reference_entries=args.reference_entries,
        signatures=args.signatures or min(args.entries, 10_000),
        sha256_seconds=args.sha256_seconds,
    )

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    result = core.run(config, progress=None if args.json else progress)
    if args.json:
        json.dump(core_report.to_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(core_report.render_text(result))
    return 0
