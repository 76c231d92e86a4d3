"""``farmtrace bench``: the benchmark command group."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    kinds = parser.add_subparsers(dest="bench", metavar="KIND", required=True)
    core = kinds.add_parser("core", help="Merkle tree build and Ed25519 bulk check")
    core.add_argument("--entries", type=int, default=1_000_000)
    core.set_defaults(func=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    raise SystemExit("farmtrace bench core: not built yet")
