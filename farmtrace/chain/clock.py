"""The one rule for a device clock that went backwards.

A reading is flagged when its signed ``timestamp_ms`` is more than :data:`CLOCK_TOLERANCE_MS`
before that of the device's previous stored reading by seq (signed rejections have no stored
timestamp and are passed over). The reading is still stored and served as signed: it is
authentic, only its time is suspect. The gateway's live check (:mod:`farmtrace.gateway.ingest.health`),
``farmtrace audit`` (:mod:`farmtrace.audit.devices`) and the API (:mod:`farmtrace.store.clock`) all decide
with :func:`went_backwards`, so they flag the same seqs.
"""

from __future__ import annotations

__all__ = ["CLOCK_TOLERANCE_MS", "went_backwards"]

CLOCK_TOLERANCE_MS = 1000
"""How far a timestamp may go back before it is flagged (device clocks jitter a little)."""


def went_backwards(previous_ms: int | None, timestamp_ms: int) -> bool:
    """Whether a reading stamped ``timestamp_ms`` went backwards from ``previous_ms``, the
    timestamp of the device's previous stored reading by seq (``None``: it has none)."""
    return previous_ms is not None and timestamp_ms < previous_ms - CLOCK_TOLERANCE_MS
