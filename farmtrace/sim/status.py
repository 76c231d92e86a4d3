"""Run counters and the one-line status display (only on a terminal)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Stats:
    """What happened so far; ``acked`` counts readings whose PUBACK arrived."""

    readings: int = 0
    acked: int = 0
    failed: int = 0
    dropped: int = 0
    resent: int = 0
    injected: int = 0
    connects: int = 0
    connect_failures: int = 0
    watermarks: int = 0
    started: float = field(default_factory=time.monotonic)


class StatusLine:
    """Rewrites one terminal line every second; silent when the stream is not a TTY."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._last = time.monotonic()
        self._last_acked = 0
        self._shown = False

    def update(self, stats: Stats, online: int, devices: int, queued: int, sim_time: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        rate = (stats.acked - self._last_acked) / (now - self._last)
        self._last, self._last_acked = now, stats.acked
        self.stream.write(
            f"\r\x1b[K{sim_time}  online {online}/{devices}  sent {stats.acked}"
            f"  queued {queued}  failed {stats.failed}  dropped {stats.dropped}"
            f"  rate {rate:.1f}/s"
        )
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line before a log message or at the end."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
