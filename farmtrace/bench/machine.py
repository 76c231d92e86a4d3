"""How much of the machine other processes used while a benchmark ran (Linux ``/proc/stat``).

On a shared machine a slow figure may mean a slow program or a busy machine; this tells the two
apart. The load average cannot: it trails by a minute and counts the benchmark itself.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the whole machine and by this process (and its children)."""

    wall: float
    machine_busy: float
    own: float


def sample() -> CpuSample | None:
    """The current counters, or ``None`` where ``/proc/stat`` is not available."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    ticks = [int(v) for v in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    return CpuSample(time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own)


def others_share(start: CpuSample | None, end: CpuSample | None) -> float | None:
    """The fraction (0 to 1) of all CPUs that other processes kept busy between two samples."""
    if start is None or end is None or end.wall <= start.wall:
        return None
    others = (end.machine_busy - start.machine_busy) - (end.own - start.own)
    capacity = (end.wall - start.wall) * (os.cpu_count() or 1)
    return min(1.0, max(0.0, others / capacity))
