"""Child process of ``farmtrace bench core``: peak memory of one fast-path tree build.

Run as ``python -m farmtrace.bench.memory_probe --entries N --entry-size S``. It prints one JSON
object: the packed input's size in bytes, the process's resident memory once the interpreter and
``rust_core`` are loaded (``baseline_rss``), once the input exists (``input_rss``), and its peak
after building the tree (``peak_rss``). A fresh process is used because peak memory only ever
grows: in the benchmark's own process it would report the largest thing measured so far.

The peak is the kernel's ``VmHWM`` (high-water mark of this process's address space), not
``getrusage().ru_maxrss``: Linux carries ``ru_maxrss`` over from the parent when a child is
spawned (the parent's memory is counted at ``fork``/``exec``), so in a child of the benchmark it
would report the benchmark's own peak, several hundred MB of Python objects.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from farmtrace import rust_core
from farmtrace.bench.packing import little_endian_offsets


def _status_bytes(field: str) -> int:
    """A memory figure of ``/proc/self/status`` (given there in kB), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status (not Linux?)")


def _current_rss() -> int:
    """Resident set size now, in bytes."""
    return _status_bytes("VmRSS")


def _peak_rss() -> int:
    """Largest resident set size of this process so far, in bytes."""
    return _status_bytes("VmHWM")


def measure(entries: int, entry_size: int) -> dict[str, int]:
    """Build one tree of ``entries`` random entries through ``from_buffer``; report memory."""
    baseline = _current_rss()
    data = os.urandom(entries * entry_size)
    offsets = little_endian_offsets(entries, entry_size)
    input_bytes = len(data) + len(offsets)
    before_build = _current_rss()
    tree = rust_core.MerkleTree.from_buffer(data, offsets)
    if len(tree.root) != 32 or tree.size != entries:
        raise SystemExit(f"memory probe: unexpected tree (size {tree.size})")
    return {
        "entries": entries,
        "entry_size": entry_size,
        "input_bytes": input_bytes,
        "baseline_rss": baseline,
        "input_rss": before_build,
        "peak_rss": _peak_rss(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m farmtrace.bench.memory_probe")
    parser.add_argument("--entries", type=int, required=True)
    parser.add_argument("--entry-size", type=int, required=True)
    args = parser.parse_args(argv)
    json.dump(measure(args.entries, args.entry_size), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
