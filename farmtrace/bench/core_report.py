"""The figures of ``farmtrace bench core`` judged against the issue's targets, as text or JSON.

Every figure is the median of ``repeats`` runs, printed with its min and max. Every ratio is per
core (one thread against a one-thread baseline) unless its name says otherwise: the all-thread
figures are reported beside them, labelled, and judged only by the thread-scaling target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from farmtrace.bench.core import CoreBenchResult, Spread

MIB = 1024 * 1024
MEMORY_HEADROOM = 64 * MIB


@dataclass(frozen=True)
class Target:
    """One target of the issue: a figure, the bound it must meet, and whether it does."""

    name: str
    figure: float
    threshold: float
    unit: str
    at_most: bool = False

    @property
    def passed(self) -> bool:
        return self.figure <= self.threshold if self.at_most else self.figure >= self.threshold


def efficiency(result: CoreBenchResult) -> dict[str, float]:
    """Single-thread leaves/s over the SHA-256 ceiling (one thread), for each build API."""
    ceiling = result.sha256.leaves_per_s
    return {
        "fast_path": result.fast_path.one_thread.median / ceiling,
        "list_api": result.list_api.one_thread.median / ceiling,
    }


def speedups(result: CoreBenchResult) -> dict[str, float | None]:
    """How many times faster ``rust_core`` is than each baseline, medians over medians.

    ``*_one_thread`` are per core (every baseline runs on one thread); ``*_all_threads`` put
    rust_core's every thread against the one-thread baseline and are not per core.
    """
    py, fast, sig = result.python, result.fast_path, result.ed25519
    pymerkle = None if py.pymerkle_leaves_per_s is None else py.pymerkle_leaves_per_s.median
    reference = py.reference_leaves_per_s.median
    crypto = sig.cryptography_one_at_a_time.median
    return {
        "vs_reference_one_thread": fast.one_thread.median / reference,
        "vs_reference_all_threads": fast.all_threads.median / reference,
        "vs_pymerkle_one_thread": fast.one_thread.median / pymerkle if pymerkle else None,
        "vs_pymerkle_all_threads": fast.all_threads.median / pymerkle if pymerkle else None,
        "ed25519_one_thread": sig.rust_one_thread.median / crypto,
        "ed25519_all_threads": sig.rust_all_threads.median / crypto,
    }


def targets(result: CoreBenchResult) -> list[Target]:
    """The issue's targets. Speedups are per core: one rust_core thread against the one-thread
    baselines; the use of a second core is judged on its own, by the thread-scaling target."""
    eff, up = efficiency(result), speedups(result)
    memory = result.memory
    found = [
        Target("fast path efficiency, 1 thread", eff["fast_path"], 0.85, "of ceiling"),
        Target("list API efficiency, 1 thread", eff["list_api"], 0.70, "of ceiling"),
        Target("thread scaling, fast path", result.fast_path.scaling, 1.8, "x one thread"),
        Target(
            "speedup vs Python reference, per core", _num(up["vs_reference_one_thread"]), 5.0, "x"
        ),
    ]
    if up["vs_pymerkle_one_thread"] is not None:
        found.append(
            Target("speedup vs pymerkle, per core", up["vs_pymerkle_one_thread"], 40.0, "x")
        )
    found += [
        Target("Ed25519 bulk vs cryptography, per core", _num(up["ed25519_one_thread"]), 5.0, "x"),
        Target(
            f"peak memory, {memory.entries:,} leaves",
            memory.peak_over_baseline / MIB,
            (memory.input_bytes + MEMORY_HEADROOM) / MIB,
            "MiB",
            at_most=True,
        ),
    ]
    return found


def warnings(result: CoreBenchResult) -> list[str]:
    """Reasons to distrust this run's figures, if any."""
    found = []
    if max(efficiency(result).values()) > 1.0:
        found.append(
            "a build beat the SHA-256 ceiling: the ceiling was measured while the machine was "
            "busy; rerun on a quiet machine"
        )
    others = result.others_cpu_share
    if others is not None and others > 0.05:
        found.append(
            f"other processes kept {others:.0%} of the CPUs busy during the run: figures are "
            "low, multi-thread ones most; rerun on a quiet machine"
        )
    return found


def _num(value: float | None) -> float:
    if value is None:
        raise ValueError("missing figure")
    return value


def _medians(figures: dict[str, Spread | None]) -> dict[str, Any]:
    """Each figure's median under its own name, and every spread under ``spread``."""
    return {
        **{name: None if s is None else s.median for name, s in figures.items()},
        "spread": {name: None if s is None else s.as_json() for name, s in figures.items()},
    }


def to_json(result: CoreBenchResult) -> dict[str, Any]:
    """One JSON-ready object with every figure (the median; ``spread`` holds min, median, max
    and the number of runs of each), the derived ratios and the targets."""
    sha, py, sig = result.sha256, result.python, result.ed25519
    return {
        "config": asdict(result.config),
        "threads": result.threads,
        "others_cpu_share": result.others_cpu_share,
        "sha256": {
            **_medians(
                {
                    "rust_blocks_per_s": sha.rust_blocks_per_s,
                    "hashlib_blocks_per_s": sha.hashlib_blocks_per_s,
                }
            ),
            "blocks_per_leaf": sha.blocks_per_leaf,
            "buffer_size": 8192,
            "ceiling_leaves_per_s": sha.leaves_per_s,
        },
        "tree_build": {
            name: {
                **_medians({"one_thread": rates.one_thread, "all_threads": rates.all_threads}),
                "scaling": rates.scaling,
            }
            for name, rates in (("fast_path", result.fast_path), ("list_api", result.list_api))
        },
        "efficiency": efficiency(result),
        "python": {
            "entries": py.entries,
            "pymerkle_version": py.pymerkle_version,
            **_medians(
                {
                    "reference_leaves_per_s": py.reference_leaves_per_s,
                    "pymerkle_leaves_per_s": py.pymerkle_leaves_per_s,
                }
            ),
        },
        "ed25519": {
            "signatures": sig.signatures,
            "arithmetic": sig.arithmetic,
            **_medians(
                {
                    "rust_one_thread": sig.rust_one_thread,
                    "rust_all_threads": sig.rust_all_threads,
                    "cryptography_one_at_a_time": sig.cryptography_one_at_a_time,
                }
            ),
        },
        "memory": {
            **asdict(result.memory),
            "peak_over_baseline": result.memory.peak_over_baseline,
            "build_overhead": result.memory.build_overhead,
            "limit": result.memory.input_bytes + MEMORY_HEADROOM,
        },
        "speedups": speedups(result),
        "targets": [{**asdict(t), "passed": t.passed} for t in targets(result)],
        "warnings": warnings(result),
    }


def _spread(s: Spread, scale: float, digits: int) -> str:
    return f"({s.min / scale:,.{digits}f}-{s.max / scale:,.{digits}f})"


def render_text(result: CoreBenchResult) -> str:
    """A human-readable report; every target shows PASS or FAIL next to its figure."""
    c, sha, py, sig, mem = (
        result.config,
        result.sha256,
        result.python,
        result.ed25519,
        result.memory,
    )
    eff, up = efficiency(result), speedups(result)
    lines = [
        f"farmtrace bench core: {c.entries:,} entries of {c.entry_size} bytes, "
        f"{result.threads} threads available, median of {c.repeats} runs for every figure "
        "(min-max in brackets), other processes used "
        + ("?" if result.others_cpu_share is None else f"{result.others_cpu_share:.0%}")
        + " of the CPUs meanwhile",
        "Ratios are per core (one thread against one thread) unless labelled 'all threads'.",
        "",
        f"SHA-256 ceiling (8 KiB buffers, measured now, {len(sha.rust_blocks_per_s.runs)} slices)",
        f"  rust_core SHA-256      {sha.rust_blocks_per_s.median / 1e6:8.2f} M blocks/s  "
        f"{_spread(sha.rust_blocks_per_s, 1e6, 2)}",
        f"  Python hashlib         {sha.hashlib_blocks_per_s.median / 1e6:8.2f} M blocks/s  "
        f"{_spread(sha.hashlib_blocks_per_s, 1e6, 2)} (comparison only)",
        f"  blocks per leaf        {sha.blocks_per_leaf:8.3f}",
        f"  ceiling, 1 thread      {sha.leaves_per_s / 1e6:8.2f} M leaves/s",
        "",
        "Merkle tree build, rust_core called from Python (boundary included)",
    ]
    for label, rates, key in (
        ("fast path (from_buffer) ", result.fast_path, "fast_path"),
        ("list API (from_entries) ", result.list_api, "list_api"),
    ):
        lines.append(
            f"  {label} 1 thread {rates.one_thread.median / 1e6:6.2f} M leaves/s "
            f"{_spread(rates.one_thread, 1e6, 2)} (efficiency {eff[key]:.2f}); "
            f"all {result.threads} threads {rates.all_threads.median / 1e6:6.2f} M leaves/s "
            f"{_spread(rates.all_threads, 1e6, 2)} (x{rates.scaling:.2f} of 1 thread)"
        )
    lines += [
        "",
        f"Python baselines, one thread ({py.entries:,} entries)",
        f"  plain reference        {py.reference_leaves_per_s.median / 1e6:8.3f} M leaves/s "
        f"{_spread(py.reference_leaves_per_s, 1e6, 3)}   rust_core fast path "
        f"x{_num(up['vs_reference_one_thread']):.1f} per core "
        f"(all threads: x{_num(up['vs_reference_all_threads']):.1f})",
    ]
    if py.pymerkle_leaves_per_s is None:
        lines.append("  pymerkle               not installed")
    else:
        lines.append(
            f"  pymerkle {py.pymerkle_version:<13} {py.pymerkle_leaves_per_s.median / 1e6:8.3f} "
            f"M leaves/s {_spread(py.pymerkle_leaves_per_s, 1e6, 3)}   rust_core fast path "
            f"x{_num(up['vs_pymerkle_one_thread']):.1f} per core "
            f"(all threads: x{_num(up['vs_pymerkle_all_threads']):.1f})"
        )
    lines += [
        "",
        f"Ed25519 ({sig.signatures:,} valid signatures; rust_core's curve arithmetic: "
        f"{sig.arithmetic})",
        f"  rust_core bulk, 1 thread     {sig.rust_one_thread.median:10,.0f} /s "
        f"{_spread(sig.rust_one_thread, 1, 0)}",
        f"  rust_core bulk, all threads  {sig.rust_all_threads.median:10,.0f} /s "
        f"{_spread(sig.rust_all_threads, 1, 0)}",
        f"  cryptography, one by one     {sig.cryptography_one_at_a_time.median:10,.0f} /s "
        f"{_spread(sig.cryptography_one_at_a_time, 1, 0)}, 1 thread",
        f"  speedup x{_num(up['ed25519_one_thread']):.1f} per core "
        f"(all threads against cryptography's one: x{_num(up['ed25519_all_threads']):.1f})",
        "",
        f"Peak memory, fast-path build of {mem.entries:,} leaves (child process, one run)",
        f"  input {mem.input_bytes / MIB:.1f} MiB; peak over interpreter baseline "
        f"{mem.peak_over_baseline / MIB:.1f} MiB (build overhead {mem.build_overhead / MIB:.1f} MiB)",
        "",
        "Targets",
    ]
    for t in targets(result):
        bound = "<=" if t.at_most else ">="
        verdict = "PASS" if t.passed else "FAIL"
        lines.append(
            f"  {verdict}  {t.name:<40} {t.figure:9.2f} {t.unit:<12} (target {bound} {t.threshold:.2f})"
        )
    lines += [f"WARNING: {w}" for w in warnings(result)]
    return "\n".join(lines)
