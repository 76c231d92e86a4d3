"""``farmtrace bench all --out DIR``: every benchmark at small sizes, one report with plots.

Runs, each as its own ``farmtrace bench ... --json`` process (the commands are written into the
report, so any figure can be made again by hand):

1. ``bench core`` (Merkle builds, SHA-256 ceiling, Ed25519; medians with their spread);
2. ``bench ingest`` through a Mosquitto started for it (left out, and said so, when
   ``mosquitto`` is not installed);
3. ``bench api`` over a grid: each stored size with realistic blocks (20-100 readings), and each
   block size at the largest stored size; each point gives the cold, warm and rate-limited
   figures.

``DIR`` gets ``report.md``, the raw JSON of every run and four SVG plots: proofs/s and p99
against the stored size and against the block size. The defaults are small (minutes, not
hours); the figures of the issue's targets need the full-size runs (``make bench``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmtrace.bench.api_load import REALISTIC_BLOCKS, parse_block
from farmtrace.bench.plots import Series, line_chart

__all__ = ["register"]

ROOT = Path(__file__).resolve().parents[2]
API_FIGURES = (("cold", "cold cache"), ("warm", "warm cache"), ("rate_limited", "rate-limited"))


def register(kinds: Any) -> None:
    """Add ``all`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "all",
        help="every benchmark at small sizes, one markdown report with SVG plots",
        description="Run bench core, bench ingest and a grid of bench api (stored sizes x "
        "block sizes) at small sizes and write DIR/report.md with SVG plots of proofs/s and p99 "
        "against the stored size and the block size, and every run's JSON.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="report directory")
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=(5_000, 20_000, 50_000),
        metavar="N,N,...",
        help="readings stored, one bench api point each, realistic blocks (5000,20000,50000)",
    )
    p.add_argument(
        "--blocks",
        type=_blocks,
        default=(REALISTIC_BLOCKS, (1000, 1000), (10_000, 10_000)),
        metavar="B,B,...",
        help="block sizes (N or MIN-MAX) tried at the largest stored size (20-100,1000,10000)",
    )
    p.add_argument("--seconds", type=float, default=3.0, help="seconds a bench api figure (3)")
    p.add_argument("--concurrency", type=int, default=8, help="bench api clients (8)")
    p.add_argument("--skip-core", action="store_true", help="leave out bench core")
    p.add_argument("--skip-ingest", action="store_true", help="leave out bench ingest")
    p.add_argument(
        "--api-state",
        type=Path,
        metavar="DIR",
        help="keep the bench api databases here to reuse them (default: DIR/api-state)",
    )
    p.set_defaults(func=run)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes {text!r}: expected N,N,...") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"sizes {text!r}: at least one, each at least 1")
    return sizes


def _blocks(text: str) -> tuple[tuple[int, int], ...]:
    blocks = tuple(parse_block(part) for part in text.split(",") if part)
    if not blocks:
        raise argparse.ArgumentTypeError("at least one block size")
    return blocks


@dataclass
class Step:
    """One benchmark run: its command, its JSON figures (or why there are none)."""

    name: str
    command: list[str]
    figures: dict[str, Any] | None = None
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        """The command as a reader would type it."""
        return shlex.join(["farmtrace", *self.command[3:]])


def _bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "farmtrace", "bench", *args]


def _run_step(step: Step, out: Path, timeout: float) -> Step:
    print(f"... {step.shown}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            step.command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        step.failure = f"did not finish within {timeout:.0f} s"
        return step
    (out / f"{step.name}.log").write_text(done.stderr)
    lines = done.stdout.strip().splitlines()
    try:
        step.figures = json.loads("\n".join(lines) if lines[:1] == ["{"] else lines[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        step.failure = f"exit {done.returncode}: {last[-300:]} (see {step.name}.log)"
        return step
    (out / f"{step.name}.json").write_text(json.dumps(step.figures, indent=2) + "\n")
    return step


def _block_name(block: tuple[int, int]) -> str:
    return str(block[0]) if block[0] == block[1] else f"{block[0]}-{block[1]}"


def api_grid(
    sizes: tuple[int, ...], blocks: tuple[tuple[int, int], ...]
) -> list[tuple[int, tuple[int, int]]]:
    """The (stored size, block size) points: every size with realistic blocks, then every
    other block size at the largest size; smallest first, so each database is topped up."""
    points = [(size, REALISTIC_BLOCKS) for size in sizes]
    points += [(sizes[-1], block) for block in blocks if block != REALISTIC_BLOCKS]
    return points


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    state = args.api_state or out / "api-state"
    steps: list[Step] = []
    if not args.skip_core:
        core = Step(
            "core",
            _bench("core", "--entries", "200000", "--reference-entries", "20000", "--signatures",
                   "3000", "--repeats", "3", "--sha256-seconds", "0.5", "--json"),
        )  # fmt: skip
        steps.append(_run_step(core, out, 600))
    if not args.skip_ingest:
        ingest = Step(
            "ingest",
            _bench("ingest", "--devices", "100", "--seconds", "4", "--rate", "5000",
                   "--repeat", "2", "--json"),
        )  # fmt: skip
        if shutil.which("mosquitto") is None:
            ingest.failure = "left out: mosquitto is not installed"
            steps.append(ingest)
        else:
            steps.append(_run_step(ingest, out, 900))
    for size, block in api_grid(args.sizes, args.blocks):
        step = Step(
            f"api-{size}-{_block_name(block)}",
            _bench("api", "--state", str(state), "--readings", str(size), "--block",
                   _block_name(block), "--seconds", f"{args.seconds:g}", "--warmup",
                   f"{args.seconds:g}", "--concurrency", str(args.concurrency), "--workers", "1",
                   "--json"),
        )  # fmt: skip
        step.extra = {"size": size, "block": block}
        steps.append(_run_step(step, out, 600 + size / 200))
    write_report(out, steps)
    print(f"report: {out / 'report.md'}")
    return 0 if all(s.failure is None or s.failure.startswith("left out") for s in steps) else 1


# -- the report ---------------------------------------------------------------------------------


def write_report(out: Path, steps: list[Step]) -> None:
    """``report.md`` and the four SVG plots of the api grid."""
    api = [s for s in steps if s.name.startswith("api-") and s.figures is not None]
    plots = _api_plots(api)
    for name, svg in plots.items():
        (out / name).write_text(svg + "\n")
    lines = [
        "# farmtrace benchmarks",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"(load average before: {os.getloadavg()[0]:.2f}), commit {_commit()}. Small sizes: the "
        "figures show shape and spread, not the targets' full-size runs. Every figure below "
        "comes from the command printed with it (`--json` output next to this file).",
        "",
    ]
    for step in steps:
        if step.name == "core":
            lines += _core_section(step)
        elif step.name == "ingest":
            lines += _ingest_section(step)
    lines += _api_section(steps, plots)
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _failed(step: Step) -> list[str]:
    return [f"`{step.shown}`: no figures ({step.failure}).", ""]


def _spread(spread: dict[str, Any] | None, scale: float = 1.0, digits: int = 0) -> str:
    if spread is None:
        return "n/a"
    lo, mid, hi = (spread[k] / scale for k in ("min", "median", "max"))
    return f"{mid:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def _core_section(step: Step) -> list[str]:
    lines = ["## Core: Merkle builds, SHA-256, Ed25519 (`bench core`)", "", f"`{step.shown}`", ""]
    if step.figures is None:
        return lines + _failed(step)
    f = step.figures
    repeats = f["config"]["repeats"]
    build, py, ed = f["tree_build"], f["python"], f["ed25519"]
    up = f["speedups"]
    lines += [
        f"Median of {repeats} runs for every figure, min-max in brackets; ratios per core "
        "(one thread against one thread) unless labelled.",
        "",
        "| figure | median (min-max) |",
        "|---|---|",
        f"| fast path, 1 thread, M leaves/s | {_spread(build['fast_path']['spread']['one_thread'], 1e6, 2)} |",
        f"| fast path, all threads, M leaves/s | {_spread(build['fast_path']['spread']['all_threads'], 1e6, 2)} |",
        f"| Python reference, 1 thread, M leaves/s | {_spread(py['spread']['reference_leaves_per_s'], 1e6, 3)} |",
        f"| pymerkle, 1 thread, M leaves/s | {_spread(py['spread']['pymerkle_leaves_per_s'], 1e6, 3)} |",
        f"| Ed25519 rust_core, 1 thread, /s | {_spread(ed['spread']['rust_one_thread'])} |",
        f"| Ed25519 rust_core, all threads, /s | {_spread(ed['spread']['rust_all_threads'])} |",
        f"| Ed25519 cryptography, 1 thread, /s | {_spread(ed['spread']['cryptography_one_at_a_time'])} |",
        f"| Ed25519 speedup per core | x{up['ed25519_one_thread']:.2f} (all threads: x{up['ed25519_all_threads']:.2f}) |",
        f"| other processes' share of the CPUs | {f['others_cpu_share'] or 0:.0%} |",
        "",
        *_targets(f["targets"]),
    ]
    return lines


def _targets(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | figure | bound | |", "|---|---|---|---|"]
    for t in targets:
        bound = "<=" if t["at_most"] else ">="
        lines.append(
            f"| {t['name']} | {t['figure']:,.3f} {t['unit']} | {bound} {t['threshold']:,.3f} | "
            f"{'PASS' if t['passed'] else 'FAIL'} |"
        )
    return [*lines, ""]


def _ingest_section(step: Step) -> list[str]:
    lines = ["## Ingest: through Mosquitto into the gateway (`bench ingest`)", "", f"`{step.shown}`", ""]  # fmt: skip
    if step.figures is None:
        return lines + _failed(step)
    f = step.figures
    spread = f["spread"]
    lines += [
        f"{f['messages']:,} signed readings of {f['config']['devices']} devices, "
        f"{len(f['rounds'])} rounds (min/median/max over rounds). The bare drain runs at "
        "capacity (published unpaced); latency counts from the publisher's timestamp.",
        "",
        "| figure | median (min-max) |",
        "|---|---|",
        f"| gateway readings/s committed | {_spread(spread['gateway_per_s'])} |",
        f"| bare drain at capacity, msg/s | {_spread(spread['bare_per_s'])} |",
        f"| gateway / bare drain | {_spread(spread['gateway_over_bare'], 1, 3)} |",
        f"| p99 publish-to-commit, s | {_spread(spread['publish_to_commit_p99_s'], 1, 3)} |",
        "",
        *_targets(f["targets"]),
    ]
    return lines


def _api_series(
    api: list[Step], key: str, along: str, fixed: Any
) -> tuple[list[Series], list[Series]]:
    """Rate and p99 series of the grid points varying ``along`` ('size' or 'block')."""
    rates, p99s = [], []
    for figure, label in API_FIGURES:
        rate_points, p99_points = [], []
        for step in api:
            assert step.figures is not None
            other = step.extra["block"] if along == "size" else step.extra["size"]
            if other != fixed or step.figures.get(figure) is None:
                continue
            x = (
                step.figures["readings_stored"]
                if along == "size"
                else step.figures["block_size"]["mean"]
            )
            rate_points.append((float(x), float(step.figures[figure][key])))
            p99_points.append((float(x), float(step.figures[figure]["p99_ms"])))
        if rate_points:
            rates.append(Series(label, rate_points))
            p99s.append(Series(label, p99_points))
    return rates, p99s


def _api_plots(api: list[Step]) -> dict[str, str]:
    if not api:
        return {}
    largest = max(s.extra["size"] for s in api)
    by_size = _api_series(api, "proofs_per_s", "size", REALISTIC_BLOCKS)
    by_block = _api_series(api, "proofs_per_s", "block", fixed=largest)
    blocks = f"blocks of {_block_name(REALISTIC_BLOCKS)} readings"
    stored = f"{largest:,} readings stored"
    return {
        "api-rate-vs-stored.svg": line_chart(
            "Proofs/s against readings stored", "readings stored", "proofs/s", by_size[0],
            subtitle=blocks,
        ),
        "api-p99-vs-stored.svg": line_chart(
            "p99 latency against readings stored", "readings stored", "p99, ms", by_size[1],
            subtitle=blocks,
        ),
        "api-rate-vs-block.svg": line_chart(
            "Proofs/s against block size", "mean readings per block", "proofs/s", by_block[0],
            subtitle=stored,
        ),
        "api-p99-vs-block.svg": line_chart(
            "p99 latency against block size", "mean readings per block", "p99, ms", by_block[1],
            subtitle=stored,
        ),
    }  # fmt: skip


def _api_section(steps: list[Step], plots: dict[str, str]) -> list[str]:
    api = [s for s in steps if s.name.startswith("api-")]
    lines = [
        "## Proofs over HTTP (`bench api`)",
        "",
        "Each point: a fresh API process measured from its first request (cold: its tree cache "
        "empty; the OS page cache is not dropped), the same process after a warm-up (warm), and "
        "a fresh process with the default per-client rate limit on (rate-limited; one client "
        "address makes all the load, so this is what one client gets). Random readings over "
        "every stored reading; `readings stored` is counted in the store.",
        "",
    ]
    lines += [f"![{name.removesuffix('.svg')}]({name})" for name in plots]
    lines += [
        "",
        "| stored | blocks (mean size) | cold proofs/s | cold p99 ms | warm proofs/s | warm p99 ms "
        "| rate-limited proofs/s (429s) | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step in api:
        f = step.figures
        if f is None:
            lines.append(f"| | | | | | | {step.failure} | `{step.shown}` |")
            continue
        limited = f.get("rate_limited")
        rl = "n/a" if limited is None else (
            f"{limited['proofs_per_s']:,.0f} ({limited['rate_limited_429']:,})"
        )  # fmt: skip
        lines.append(
            f"| {f['readings_stored']:,} | {f['blocks_stored']:,} ({f['block_size']['mean']}) | "
            f"{f['cold']['proofs_per_s']:,.0f} | {f['cold']['p99_ms']} | "
            f"{f['warm']['proofs_per_s']:,.0f} | {f['warm']['p99_ms']} | {rl} | `{step.shown}` |"
        )
    return [*lines, ""]
