"""Measurements of ``farmtrace bench core``, all taken in one run on the same input.

What is measured, and how:

* **Tree builds**: ``rust_core.MerkleTree`` built from Python, boundary included (the call, the
  root read back), once through the list API (``from_entries``, one ``bytes`` per entry) and once
  through the fast path (``from_buffer``, one buffer plus offsets), with one thread and with all
  threads, each run with the garbage collector paused, as :mod:`timeit` does.
* **SHA-256 ceiling**: SHA-256 compression blocks per second hashing 8 KiB buffers (the way
  ``openssl speed -evp sha256`` measures), by ``rust_core``'s own SHA-256 code and, for
  comparison, by :mod:`hashlib`. A leaf of ``s`` bytes costs ``ceil((1 + s + 9) / 64)`` blocks
  (prefix byte, entry, padding) plus its share of the ``n - 1`` interior nodes at 2 blocks each,
  so the ceiling in leaves/s is blocks/s divided by that.
* **Python baselines** on a subset: the plain reference :mod:`farmtrace.tlog.merkle` and, when
  importable, ``pymerkle`` 7; both roots are checked against ``rust_core``'s before timing.
* **Ed25519**: ``rust_core``'s bulk check of valid (key, message, signature) triples against
  :mod:`cryptography` verifying them one at a time (keys parsed beforehand, in its favour).
* **Peak memory** of a fast-path build in a child process (:mod:`farmtrace.bench.memory_probe`).

Every timed figure is taken ``repeats`` times, whichever side of a comparison it is on (rust_core,
the Python reference, pymerkle, cryptography), and kept as a :class:`Spread`: its median is the
figure and every ratio is median over median; min and max are printed beside it. The SHA-256
ceiling takes ``repeats`` slices before the builds and ``repeats`` after them.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from farmtrace import rust_core
from farmtrace.bench import machine
from farmtrace.bench.packing import little_endian_offsets
from farmtrace.tlog import merkle as reference

SHA256_BUFFER = 8192
_SENSOR_KEYS = 1000  # distinct signing keys in the signature workload, like a farm's sensors


@dataclass(frozen=True)
class CoreBenchConfig:
    """What to measure: sizes of the workloads and how hard to try."""

    entries: int = 1_000_000
    entry_size: int = 120
    repeats: int = 5
    reference_entries: int = 100_000
    signatures: int = 10_000
    sha256_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("entries", "entry_size", "repeats", "reference_entries", "signatures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sha256_seconds <= 0:
            raise ValueError(f"sha256_seconds must be positive, got {self.sha256_seconds}")


@dataclass(frozen=True)
class Spread:
    """One figure measured ``len(runs)`` times: the median is the figure, min and max its spread."""

    runs: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a figure needs at least one run")

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    def as_json(self) -> dict[str, float | int]:
        return {"min": self.min, "median": self.median, "max": self.max, "runs": len(self.runs)}


@dataclass(frozen=True)
class BuildRates:
    """Leaves per second of one way of building a tree."""

    one_thread: Spread
    all_threads: Spread

    @property
    def scaling(self) -> float:
        """All threads over one thread (medians)."""
        return self.all_threads.median / self.one_thread.median


@dataclass(frozen=True)
class Sha256Ceiling:
    """SHA-256 speed of this machine and what it allows for leaves of this size."""

    rust_blocks_per_s: Spread
    hashlib_blocks_per_s: Spread
    blocks_per_leaf: float

    @property
    def leaves_per_s(self) -> float:
        """Leaves per second one thread could build hashing at rust_core's median speed."""
        return self.rust_blocks_per_s.median / self.blocks_per_leaf


@dataclass(frozen=True)
class PythonBaselines:
    """Leaves per second of pure-Python trees on the first ``entries`` entries (one thread)."""

    entries: int
    reference_leaves_per_s: Spread
    pymerkle_leaves_per_s: Spread | None
    pymerkle_version: str | None


@dataclass(frozen=True)
class SignatureRates:
    """Signatures checked per second. ``cryptography`` checks on one thread; compare it with
    ``rust_one_thread`` (per core); ``rust_all_threads`` is reported beside it, labelled."""

    signatures: int
    rust_one_thread: Spread
    rust_all_threads: Spread
    cryptography_one_at_a_time: Spread
    # The field arithmetic rust_core's checks used (rust_core.ed25519_arithmetic): IFMA makes a
    # check about twice as fast as AVX2, so the ratio depends on the CPU as much as on the code.
    arithmetic: str = "unknown"


@dataclass(frozen=True)
class MemoryUse:
    """Resident memory of a fast-path build of ``entries`` leaves, in bytes."""

    entries: int
    input_bytes: int
    baseline_rss: int
    input_rss: int
    peak_rss: int

    @property
    def peak_over_baseline(self) -> int:
        """Peak memory attributable to the input and the build together."""
        return self.peak_rss - self.baseline_rss

    @property
    def build_overhead(self) -> int:
        """Peak memory beyond what the process held once the input existed."""
        return self.peak_rss - self.input_rss


@dataclass(frozen=True)
class CoreBenchResult:
    """Every figure of one ``farmtrace bench core`` run."""

    config: CoreBenchConfig
    threads: int
    others_cpu_share: float | None  # share of all CPUs other processes used during the run
    sha256: Sha256Ceiling
    fast_path: BuildRates
    list_api: BuildRates
    python: PythonBaselines
    ed25519: SignatureRates
    memory: MemoryUse


@dataclass(frozen=True)
class Workload:
    """The entries of the tree benchmarks, in both shapes ``rust_core`` accepts.

    ``offsets`` are little-endian ``bytes``, which ``from_buffer`` reads in place; an
    ``array('Q')`` would be copied and converted first (about 3 % slower at 1 M leaves).
    """

    data: bytes
    offsets: bytes
    entries: list[bytes]

    @classmethod
    def random(cls, count: int, entry_size: int) -> Workload:
        data = os.urandom(count * entry_size)
        entries = [data[i : i + entry_size] for i in range(0, len(data), entry_size)]
        return cls(data, little_endian_offsets(count, entry_size), entries)


def blocks_per_leaf(entry_size: int, leaves: int) -> float:
    """SHA-256 compression blocks per leaf: the leaf hash plus its share of interior nodes."""
    leaf_blocks = math.ceil((1 + entry_size + 9) / 64)
    return leaf_blocks + 2 * (leaves - 1) / leaves


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_times(action: Callable[[], object], repeats: int) -> list[float]:
    """The wall-clock time, in seconds, of each of ``repeats`` runs of ``action``."""
    times = []
    for _ in range(repeats):
        with _gc_paused():
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
    return times


def rates(work: int, action: Callable[[], object], repeats: int) -> Spread:
    """``work`` units per second of each of ``repeats`` runs of ``action``."""
    return Spread(tuple(work / max(t, 1e-12) for t in run_times(action, repeats)))


def measure_builds(work: Workload, repeats: int) -> tuple[BuildRates, BuildRates]:
    """Leaves/s of ``from_buffer`` and ``from_entries``, one thread and all threads."""
    n = len(work.entries)
    expected = rust_core.MerkleTree.from_buffer(work.data, work.offsets).root

    def rate(build: Callable[[], rust_core.MerkleTree]) -> Spread:
        if build().root != expected:
            raise RuntimeError("rust_core built different roots from the same entries")
        return rates(n, lambda: build().root, repeats)

    tree = rust_core.MerkleTree
    fast = BuildRates(
        one_thread=rate(lambda: tree.from_buffer(work.data, work.offsets, threads=1)),
        all_threads=rate(lambda: tree.from_buffer(work.data, work.offsets, threads=None)),
    )
    listed = BuildRates(
        one_thread=rate(lambda: tree.from_entries(work.entries, threads=1)),
        all_threads=rate(lambda: tree.from_entries(work.entries, threads=None)),
    )
    return fast, listed


def hashlib_sha256_blocks_per_s(seconds: float) -> float:
    """Compression blocks/s of :func:`hashlib.sha256` over 8 KiB buffers for about ``seconds``."""
    buffer = os.urandom(SHA256_BUFFER)
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(64):
            hashlib.sha256(buffer).digest()
        calls += 64
    elapsed = time.perf_counter() - start
    return calls * (SHA256_BUFFER / 64) / elapsed


def measure_sha256(config: CoreBenchConfig) -> Sha256Ceiling:
    """The SHA-256 ceiling, measured now, for this config's entry size and tree size.

    ``repeats`` slices of ``sha256_seconds / repeats`` each, rust_core and hashlib alike, so the
    ceiling has as many runs as the builds it is compared with.
    """
    each = config.sha256_seconds / config.repeats
    rust = [
        rust_core.sha256_throughput(buffer_size=SHA256_BUFFER, seconds=each)
        for _ in range(config.repeats)
    ]
    python = [hashlib_sha256_blocks_per_s(each) for _ in range(config.repeats)]
    return Sha256Ceiling(
        rust_blocks_per_s=Spread(tuple(rust)),
        hashlib_blocks_per_s=Spread(tuple(python)),
        blocks_per_leaf=blocks_per_leaf(config.entry_size, config.entries),
    )


def both_ceilings(first: Sha256Ceiling, second: Sha256Ceiling) -> Sha256Ceiling:
    """The slices of two measurements of the same ceiling (before and after the builds) as one:
    a burst of load elsewhere during one of them moves the median less than it would move
    either half."""
    return Sha256Ceiling(
        rust_blocks_per_s=Spread(first.rust_blocks_per_s.runs + second.rust_blocks_per_s.runs),
        hashlib_blocks_per_s=Spread(
            first.hashlib_blocks_per_s.runs + second.hashlib_blocks_per_s.runs
        ),
        blocks_per_leaf=first.blocks_per_leaf,
    )


def measure_python(work: Workload, count: int, repeats: int) -> PythonBaselines:
    """Leaves/s of the plain reference and pymerkle 7 on the first ``count`` entries."""
    subset = work.entries[:count]
    expected = rust_core.MerkleTree.from_entries(subset).root
    if reference.MerkleTree.from_entries(subset).root != expected:
        raise RuntimeError("the Python reference and rust_core disagree on the root")
    ref_rates = rates(len(subset), lambda: reference.MerkleTree.from_entries(subset).root, repeats)
    pymerkle_rate, version = _measure_pymerkle(subset, expected, repeats)
    return PythonBaselines(
        entries=len(subset),
        reference_leaves_per_s=ref_rates,
        pymerkle_leaves_per_s=pymerkle_rate,
        pymerkle_version=version,
    )


def _measure_pymerkle(
    subset: Sequence[bytes], expected_root: bytes, repeats: int
) -> tuple[Spread | None, str | None]:
    try:
        from pymerkle import InmemoryTree
    except ImportError:
        return None, None

    def build() -> bytes:
        root: bytes = InmemoryTree.init_from_entries(subset, algorithm="sha256").get_root()
        return root

    if build() != expected_root:
        raise RuntimeError("pymerkle's root differs from rust_core's (not RFC 9162 hashing?)")
    # As many runs as rust_core gets: a single run would be judged against a median.
    return rates(len(subset), build, repeats), metadata.version("pymerkle")


def signature_workload(count: int, message_size: int) -> tuple[bytes, bytes, bytes, bytes]:
    """``count`` valid triples packed for ``verify_ed25519_batch``.

    Returns the public keys (32 bytes each), signatures (64 bytes each), messages back to back
    and their offsets; message ``i`` is signed by sensor key ``i % 1000``.
    """
    keys = [Ed25519PrivateKey.generate() for _ in range(min(count, _SENSOR_KEYS))]
    raw_keys = [key.public_key().public_bytes_raw() for key in keys]
    messages = os.urandom(count * message_size)
    public, signatures = bytearray(), bytearray()
    for i in range(count):
        message = messages[i * message_size : (i + 1) * message_size]
        public += raw_keys[i % len(keys)]
        signatures += keys[i % len(keys)].sign(message)
    offsets = little_endian_offsets(count, message_size)
    return bytes(public), bytes(signatures), messages, offsets


def measure_signatures(config: CoreBenchConfig, repeats: int) -> SignatureRates:
    """Signatures/s of ``rust_core``'s bulk check and of cryptography one at a time."""
    n = config.signatures
    public, signatures, messages, offsets = signature_workload(n, config.entry_size)

    def bulk(threads: int | None) -> Spread:
        def check() -> None:
            failed = rust_core.verify_ed25519_batch(
                public, signatures, messages, offsets, threads=threads
            )
            if failed:
                raise RuntimeError(f"rust_core rejected valid signatures at {failed[:5]}")

        return rates(n, check, repeats)

    parsed = [Ed25519PublicKey.from_public_bytes(public[32 * i : 32 * i + 32]) for i in range(n)]

    size = config.entry_size

    def one_at_a_time() -> None:
        for i, key in enumerate(parsed):
            key.verify(signatures[64 * i : 64 * i + 64], messages[i * size : (i + 1) * size])

    return SignatureRates(
        signatures=n,
        rust_one_thread=bulk(1),
        rust_all_threads=bulk(None),
        cryptography_one_at_a_time=rates(n, one_at_a_time, repeats),
        arithmetic=rust_core.ed25519_arithmetic(),
    )


def measure_memory(entries: int, entry_size: int) -> MemoryUse:
    """Peak memory of one fast-path build, measured in a fresh child process."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmtrace.bench.memory_probe",
            f"--entries={entries}",
            f"--entry-size={entry_size}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory probe failed: {completed.stderr.strip()}")
    figures = json.loads(completed.stdout)
    return MemoryUse(
        entries=figures["entries"],
        input_bytes=figures["input_bytes"],
        baseline_rss=figures["baseline_rss"],
        input_rss=figures["input_rss"],
        peak_rss=figures["peak_rss"],
    )


def run(config: CoreBenchConfig, progress: Callable[[str], None] | None = None) -> CoreBenchResult:
    """Take every measurement of ``farmtrace bench core`` in one run."""
    say = progress or (lambda _message: None)
    cpu_at_start = machine.sample()
    say(f"generating {config.entries:,} entries of {config.entry_size} bytes")
    work = Workload.random(config.entries, config.entry_size)
    say("SHA-256 ceiling")
    sha256_before = measure_sha256(config)
    say("tree builds (rust_core)")
    fast, listed = measure_builds(work, config.repeats)
    say("SHA-256 ceiling, again")
    # Measured on both sides of the builds, so a burst of load elsewhere during one half
    # moves the ceiling's median (and the efficiency) less.
    sha256 = both_ceilings(sha256_before, measure_sha256(config))
    say("Python reference and pymerkle")
    python = measure_python(work, min(config.reference_entries, config.entries), config.repeats)
    say("Ed25519")
    signatures = measure_signatures(config, config.repeats)
    say("peak memory (child process)")
    memory = measure_memory(config.entries, config.entry_size)
    return CoreBenchResult(
        config=config,
        threads=rust_core.available_threads(),
        others_cpu_share=machine.others_share(cpu_at_start, machine.sample()),
        sha256=sha256,
        fast_path=fast,
        list_api=listed,
        python=python,
        ed25519=signatures,
        memory=memory,
    )
