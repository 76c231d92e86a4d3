"""The status line on a terminal, and a log handler that keeps it from mangling log lines."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from farmtrace.gateway.ingest.metrics import RunTotals

__all__ = ["StatusLine", "TerminalLogHandler"]

_CLEAR = "\r\x1b[K"


class StatusLine:
    """Redraws one line on ``stream`` (only when it is a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self.enabled = self._stream.isatty()
        self._last_received = 0
        self._last_mono = time.monotonic()

    def update(self, totals: RunTotals, connected: bool, queued: int, lag: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        rate = (totals.received - self._last_received) / max(now - self._last_mono, 1e-6)
        self._last_received, self._last_mono = totals.received, now
        rejected = sum(totals.rejected.values())
        line = (
            f"{'connected' if connected else 'DISCONNECTED'} | {rate:,.0f} msg/s | "
            f"accepted {totals.accepted:,} | dup {totals.duplicates:,} | "
            f"rejected {rejected:,} | blocks {totals.blocks:,} | queued {queued:,} | lag {lag:.1f}s"
        )
        self._stream.write(_CLEAR + line)
        self._stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self._stream.write(_CLEAR)
            self._stream.flush()


class TerminalLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that clears the status line before each record."""

    def __init__(self, status: StatusLine) -> None:
        super().__init__(sys.stderr)
        self._status = status

    def emit(self, record: logging.LogRecord) -> None:
        self._status.clear()
        super().emit(record)
