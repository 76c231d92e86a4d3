"""Ed25519 checks per core: ``rust_core`` against ``cryptography``, interleaved, in CPU time.

``.venv/bin/python scripts/ed25519_per_core.py [--rust-core PATH.so ...]``

The workload is the gateway's: ``--signatures`` valid readings-sized messages signed by
``--devices`` keys (message ``i`` by key ``i % devices``), checked by ``rust_core``'s bulk call
on one thread (``threads=1``, the calling thread) and by ``cryptography`` one at a time with its
keys loaded beforehand (in its favour). Each repetition runs every side once, in turn, so a
busy machine slows them alike; the figure is signatures per second of the calling thread's CPU
time (``time.thread_time``), which other processes' load does not inflate the way wall time
is, with wall-clock rates printed beside it. Median, min and max of ``--repeats``.

``--rust-core`` loads other builds of the extension (e.g. an older commit's ``.so``) to compare
them in the same run; the installed ``farmtrace.rust_core`` is always measured. The first call
of each build is not timed (it fills the decompressed-key cache, as a running gateway has).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import time
from array import array
from collections.abc import Callable
from types import ModuleType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace import rust_core


def load_build(path: str) -> ModuleType:
    """Another build of the extension, loaded under its own name."""
    loader = importlib.machinery.ExtensionFileLoader("rust_core", path)
    spec = importlib.util.spec_from_file_location("rust_core", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=4096)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--message-size", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rust-core", action="append", default=[], metavar="PATH")
    args = parser.parse_args()

    n = args.signatures
    keys = [Ed25519PrivateKey.generate() for _ in range(min(n, args.devices))]
    public = [key.public_key() for key in keys]
    raw = [key.public_bytes_raw() for key in public]
    messages = [os.urandom(args.message_size) for _ in range(n)]
    signatures = [keys[i % len(keys)].sign(m) for i, m in enumerate(messages)]
    packed_keys = b"".join(raw[i % len(raw)] for i in range(n))
    packed_signatures, packed_messages = b"".join(signatures), b"".join(messages)
    offsets = array("Q", range(0, n * args.message_size + 1, args.message_size))

    def cryptography_check() -> None:
        for i, message in enumerate(messages):
            public[i % len(public)].verify(signatures[i], message)

    def bulk(module: ModuleType) -> Callable[[], None]:
        def check() -> None:
            failed = module.verify_ed25519_batch(
                packed_keys, packed_signatures, packed_messages, offsets, threads=1
            )
            if failed:
                raise RuntimeError(f"valid signatures rejected: {failed[:5]}")

        check()  # untimed: fills the key cache
        return check

    sides: list[tuple[str, Callable[[], None]]] = [("cryptography", cryptography_check)]
    sides.append(("rust_core (installed)", bulk(rust_core)))
    sides += [(f"rust_core {path}", bulk(load_build(path))) for path in args.rust_core]
    cpu: dict[str, list[float]] = {name: [] for name, _ in sides}
    wall: dict[str, list[float]] = {name: [] for name, _ in sides}
    for _ in range(args.repeats):
        for name, check in sides:
            c0, w0 = time.thread_time(), time.perf_counter()
            check()
            c1, w1 = time.thread_time(), time.perf_counter()
            cpu[name].append(n / (c1 - c0))
            wall[name].append(n / (w1 - w0))
    base = statistics.median(cpu["cryptography"])
    print(
        f"{n:,} signatures by {len(keys):,} keys, {args.message_size}-byte messages, "
        f"{args.repeats} repeats, one thread; load average {os.getloadavg()[0]:.1f}; "
        f"installed rust_core's curve arithmetic: {rust_core.ed25519_arithmetic()}"
    )
    for name, _ in sides:
        c, w = cpu[name], wall[name]
        print(
            f"  {name:44s} {statistics.median(c):8,.0f}/s CPU (min {min(c):,.0f}, max "
            f"{max(c):,.0f})  {statistics.median(c) / base:5.2f}x cryptography;  wall "
            f"{statistics.median(w):8,.0f}/s (min {min(w):,.0f}, max {max(w):,.0f})"
        )


if __name__ == "__main__":
    main()
