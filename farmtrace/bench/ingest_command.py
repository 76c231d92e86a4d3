"""``farmtrace bench ingest``: arguments and output (the work is in ``ingest.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(kinds: Any) -> None:
    """Add ``ingest`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "ingest",
        help="signed readings through a real broker into the gateway",
        description="Pre-sign readings for N devices, publish them through Mosquitto (started "
        "here unless --broker) to a bare paho subscriber as fast as possible (its capacity) and "
        "then to `farmtrace gateway` at --rate, and report the drain rates, publish-to-commit "
        "latency and reconciliation against the gateway issue's targets.",
    )
    p.add_argument("--devices", type=_positive_int, default=1000, help="devices (1000)")
    p.add_argument("--seconds", type=_positive_float, default=20.0, help="window at --rate (20)")
    p.add_argument(
        "--rate",
        type=_positive_float,
        default=15_000.0,
        help="msg/s offered to the gateway (15000); the stream is rate x seconds readings",
    )
    p.add_argument(
        "--unpaced",
        action="store_true",
        help="publish the gateway's stream as fast as possible too (capacity against capacity; "
        "publish-to-commit latency then measures the backlog and is not judged)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=5000, help="gateway batch (5000)")
    p.add_argument("--batch-age", type=_positive_float, default=1.0, help="seconds (1.0)")
    p.add_argument("--inflight", type=_positive_int, default=1000, help="publisher window (1000)")
    p.add_argument("--db", metavar="URL", help="database (default: SQLite in a temp dir)")
    p.add_argument("--broker", metavar="URL", help="use this broker instead of starting one")
    p.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for farmtrace gateway (repeatable, e.g. --gateway-arg=--verify-threads=1)",
    )
    p.add_argument("--skip-bare", action="store_true", help="do not run the bare drain")
    p.add_argument(
        "--repeat", type=_positive_int, default=1, help="rounds (median judged; SQLite only)"
    )
    p.add_argument(
        "--hostile-share",
        type=_share,
        default=0.0,
        metavar="S",
        help="also run the gateway with the hostile corpus as this share of the stream (e.g. "
        "0.1), the honest readings offered at the same rate, and compare their rate",
    )
    p.add_argument(
        "--hostile-fill",
        type=_positive_int,
        default=0,
        metavar="BYTES",
        help="with --hostile-share: the hostile messages are a disk-fill attack, junk of this "
        "many bytes each (e.g. 61440), half on the honest devices' topics, half naming new "
        "devices; the report gives each run's database size",
    )
    p.add_argument("--keep", type=Path, metavar="DIR", help="copy logs and reports to DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object, no text")
    p.set_defaults(func=_run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    from farmtrace.bench import ingest, ingest_report

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    try:
        config = ingest.IngestBenchConfig(
            devices=args.devices,
            seconds=args.seconds,
            rate=args.rate,
            batch_size=args.batch_size,
            batch_age=args.batch_age,
            inflight=args.inflight,
            db_url=args.db,
            broker_url=args.broker,
            gateway_args=tuple(args.gateway_arg),
            skip_bare=args.skip_bare,
            keep=args.keep,
            repeat=args.repeat,
            hostile_share=args.hostile_share,
            hostile_fill=args.hostile_fill,
            unpaced=args.unpaced,
        )
        result = ingest.run(config, progress=None if args.json else progress)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"farmtrace bench ingest: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(ingest_report.to_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(ingest_report.render_text(result))
    return 0
