"""``farmtrace mirror URL DIR``: fetch a chain by its tiles, verify it, audit it (docs/tiles.md).

Exit codes, as ``farmtrace audit``: 0 all is well, 1 a tile or the checkpoint does not check
(named on stderr), 2 the mirror could not run (server unreachable, bad key or keys file).
On a terminal a progress bar on stderr; otherwise only the closing summary line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from farmtrace.audit.mirror import MirrorError, MirrorFailure, mirror
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["ProgressBar", "register"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def register(sub: Any) -> None:
    """Add ``mirror`` to the ``farmtrace`` command."""
    parser = sub.add_parser(
        "mirror",
        help="fetch a chain by its C2SP tiles into a directory, verify and audit it",
        description="Fetch the chain log and every block's entries from a tlog-tiles prefix "
        "(e.g. http://HOST/v1/chains/ORIGIN/tlog) into DIR, check every tile against the "
        "checkpoint signed by --key, and run the audit's block and entry checks on the copy. "
        "Rerun to continue an interrupted mirror or to catch up with the log.",
    )
    parser.add_argument("url", metavar="URL", help="the chain's tiles prefix")
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        required=True,
        metavar="VKEY",
        help="trusted checkpoint verifier key (repeatable); see 'farmtrace keys show'",
    )
    parser.add_argument(
        "--devices",
        type=Path,
        metavar="KEYS.json",
        help="device public keys (the simulator's export-keys file) to check readings' "
        "signatures with; the tiles carry no device registry",
    )
    parser.add_argument("--workers", type=int, default=8, help="parallel fetches (default 8)")
    parser.set_defaults(func=_mirror)


class ProgressBar:
    """A one-line bar on a terminal stream, redrawn at most 10 times a second; nothing on a
    stream that is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < 0.1 and done < total:
                return
            self._last = now
            width = 30
            filled = width * done // max(total, 1)
            self.stream.write(
                f"\r\x1b[K[{'#' * filled}{'.' * (width - filled)}] {done}/{total} tiles"
            )
            self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _device_keys(path: Path | None) -> dict[str, bytes]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MirrorError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise MirrorError(f"{path}: expected an object mapping device IDs to base64 keys")
    keys = {}
    for device, encoded in data.items():
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise MirrorError(f"{path}: key of {device!r} is not valid base64") from None
        if len(raw) != 32:
            raise MirrorError(f"{path}: key of {device!r} is {len(raw)} bytes, not 32")
        keys[device] = raw
    return keys


def _mirror(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr)
    try:
        keys = [Verifier.from_vkey(k) for k in args.key]
        report = mirror(
            args.url, args.directory, keys, _device_keys(args.devices), bar, max(1, args.workers)
        )
    except (MirrorError, TlogError) as exc:
        bar.clear()
        print(f"farmtrace mirror: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MirrorFailure as failure:
        bar.clear()
        print(f"farmtrace mirror: {failure.item}: {failure.reason}", file=sys.stderr)
        return EXIT_FAILED
    bar.clear()
    print(f"farmtrace mirror: {report.line()}", file=sys.stderr)
    return EXIT_OK
