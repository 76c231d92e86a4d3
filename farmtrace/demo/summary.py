"""The live summary: devices, readings a second, blocks and the latest checkpoint's size.

Read from the demo's database (read-only queries on the gateway's tables); on a terminal it
rewrites one line, otherwise it prints a plain line every ``interval`` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TextIO

from farmtrace.store.counts import ChainCounter, ChainCounts, read_counts

__all__ = ["SummaryLine", "read_counts"]

RATE_WINDOW_S = 10.0


class SummaryLine:
    """Prints the summary: rewritten in place on a TTY, a line per ``interval`` otherwise."""

    def __init__(self, db_url: str, out: TextIO, interval: float = 10.0) -> None:
        self.counter = ChainCounter(db_url)
        self.out = out
        self.tty = out.isatty()
        self.interval = interval
        # (time, entries) over the last RATE_WINDOW_S: blocks land about once a second, so
        # a one-second difference would jump between 0 and twice the rate.
        self._history: deque[tuple[float, int]] = deque()
        self._printed_at = 0.0
        self.latest: ChainCounts | None = None

    def tick(self) -> None:
        """Read the counts and print if it is time to."""
        now = time.monotonic()
        counts = self.counter.read()
        if counts is None:
            return
        self._history.append((now, counts.entries))
        while now - self._history[0][0] > RATE_WINDOW_S:
            self._history.popleft()
        then, entries_then = self._history[0]
        rate = (counts.entries - entries_then) / (now - then) if now > then else 0.0
        if not self.tty and now - self._printed_at < self.interval:
            return
        self._printed_at = now
        self.latest = counts
        line = (
            f"devices {counts.devices}  readings/s {rate:5.1f}  entries {counts.entries}  "
            f"blocks {counts.blocks}  checkpoint size {counts.checkpoint_size}"
        )
        if self.tty:
            self.out.write("\r\x1b[2K" + line)
        else:
            self.out.write(time.strftime("%H:%M:%S ") + line + "\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
        self.counter.close()
