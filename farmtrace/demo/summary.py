"""The live summary: devices, readings a second, blocks and the latest checkpoint's size.

Read from the demo's database (read-only queries on the gateway's tables); on a terminal it
rewrites one line, otherwise it prints a plain line every ``interval`` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["Counts", "SummaryLine", "read_counts"]

RATE_WINDOW_S = 10.0


@dataclass(frozen=True)
class Counts:
    devices: int
    entries: int
    blocks: int
    checkpoint_size: int


def read_counts(engine: Engine) -> Counts | None:
    """The current counts, or ``None`` while the gateway has not created its tables."""
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL),"
                    " (SELECT COALESCE(MAX(global_index) + 1, 0) FROM entries),"
                    " (SELECT COUNT(*) FROM blocks),"
                    " (SELECT COALESCE(MAX(size), 0) FROM checkpoints)"
                )
            ).one()
    except SQLAlchemyError:
        return None
    return Counts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


class SummaryLine:
    """Prints the summary: rewritten in place on a TTY, a line per ``interval`` otherwise."""

    def __init__(self, db_url: str, out: TextIO, interval: float = 10.0) -> None:
        self.engine = create_engine(db_url)
        self.out = out
        self.tty = out.isatty()
        self.interval = interval
        # (time, entries) over the last RATE_WINDOW_S: blocks land about once a second, so
        # a one-second difference would jump between 0 and twice the rate.
        self._history: deque[tuple[float, int]] = deque()
        self._printed_at = 0.0
        self.latest: Counts | None = None

    def tick(self) -> None:
        """Read the counts and print if it is time to."""
        now = time.monotonic()
        counts = read_counts(self.engine)
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
        self.engine.dispose()
