"""CPU seconds of processes and threads from Linux's ``/proc``: what the gateway reports of its
own threads (rust_core's workers among them) and what the benchmarks read of other processes.
Everything here answers ``None`` (or leaves a thread out) where ``/proc`` cannot be read."""

from __future__ import annotations

import os
from pathlib import Path

# rust_core names its worker threads ``rust_core-<threads>-<i>`` (rust_core/src/parallel.rs).
# They check the readings' signatures with the GIL released, so no Python thread's clock counts
# them. (The watermarks are signed on the committer's own thread, threads=1, and counted there.)
RUST_CORE_THREADS = "rust_core-"


def parse_stat(stat: str) -> tuple[str, float]:
    """The name and the user plus system CPU seconds in one ``/proc/<pid>[/task/<tid>]/stat``
    line. The line is ``pid (name) state ...``, and the name may hold spaces or parentheses, so
    it ends at the last ``)``; utime and stime are the line's 14th and 15th fields."""
    close = stat.rindex(")")
    fields = stat[close + 2 :].split()
    return stat[stat.index("(") + 1 : close], (int(fields[11]) + int(fields[12])) / os.sysconf(
        "SC_CLK_TCK"
    )


def process_cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of process ``pid`` so far, or ``None``."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())[1]
    except OSError:
        return None


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` and its living descendants so far (0 where
    ``pid`` cannot be read)."""
    try:
        own = parse_stat(Path(f"/proc/{pid}/stat").read_text())[1]
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return own + sum(tree_cpu_seconds(int(child)) for child in children)


def threads_cpu_seconds(prefix: str, tasks: Path = Path("/proc/self/task")) -> float | None:
    """User and system CPU seconds so far of this process's live threads whose name starts with
    ``prefix``; ``None`` where the threads cannot be listed. A thread that ends between the
    listing and its read is left out."""
    try:
        task_dirs = list(tasks.iterdir())
    except OSError:
        return None
    seconds = 0.0
    for task in task_dirs:
        try:
            name, cpu = parse_stat((task / "stat").read_text(errors="replace"))
        except OSError:
            continue
        if name.startswith(prefix):
            seconds += cpu
    return seconds
