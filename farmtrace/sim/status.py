"""Run counters and the progress display (a line rewritten on a terminal, plain lines otherwise)."""

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
    watermarks: int = 0  # commit watermarks acted on
    watermarks_refused: dict[str, int] = field(default_factory=dict)  # ignored ones, by reason
    started: float = field(default_factory=time.monotonic)


class StatusLine:
    """Progress on stderr: on a terminal one line rewritten every second; otherwise (a log
    file, a pipe) a plain timestamped line every ``interval`` wall seconds; nothing at all
    when ``quiet``.

    The line names the simulated time, devices online, readings made, acknowledged by the
    broker (``acked``) and still waiting (``pending``), failed and dropped ones, and the
    acknowledgement rate.
    """

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 10.0, quiet: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.enabled = not quiet
        self.interval = 1.0 if self.tty else interval
        self._last = time.monotonic()
        self._last_acked = 0
        self._shown = False

    def update(self, stats: Stats, online: int, devices: int, queued: int, sim_time: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        rate = (stats.acked - self._last_acked) / (now - self._last)
        self._last, self._last_acked = now, stats.acked
        line = (
            f"{sim_time}  online {online}/{devices}  readings {stats.readings}"
            f"  acked {stats.acked}  pending {queued}  failed {stats.failed}"
            f"  dropped {stats.dropped}  rate {rate:.1f}/s"
        )
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
            self._shown = True
        else:
            self.stream.write(f"{time.strftime('%H:%M:%S')} sim {line}\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the terminal line before a log message or at the end."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
