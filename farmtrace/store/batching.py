"""Checking a batch of readings before it touches the database.

Every reading must be reading entry bytes with values the schema can hold; a batch with one bad
reading is refused whole (:class:`InvalidEntryError`), before any write, since it means the
caller skipped its own checks. Repeats of one ``(device_id, seq)`` within the batch are
reported, and only the first is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.chain.entry import READING_PREFIX
from farmtrace.store.errors import InvalidEntryError
from farmtrace.store.records import PendingReading

__all__ = ["MAX_DEVICE_ID", "MAX_SEQ", "unique_in_batch", "validate_reading"]

MAX_SEQ = 2**63 - 1
"""Largest sequence number the store holds (a signed 64-bit column); the ingest rejects more."""

MAX_DEVICE_ID = 128
"""Longest device ID the store holds, in characters."""

_MIN_I64 = -(2**63)


def unique_in_batch(
    readings: Sequence[PendingReading],
) -> tuple[list[PendingReading], list[tuple[str, int]]]:
    """Validate the batch; keep the first of each ``(device_id, seq)``, report the repeats."""
    seen: set[tuple[str, int]] = set()
    kept: list[PendingReading] = []
    repeated: list[tuple[str, int]] = []
    for number, reading in enumerate(readings):
        validate_reading(number, reading)
        key = (reading.device_id, reading.seq)
        if key in seen:
            repeated.append(key)
        else:
            seen.add(key)
            kept.append(reading)
    return kept, repeated


def validate_reading(number: int, r: PendingReading) -> None:
    """Raise :class:`InvalidEntryError` naming reading ``number`` if it cannot be stored."""
    problem = None
    if not isinstance(r, PendingReading):
        problem = f"is a {type(r).__name__}, not a PendingReading"
    elif not isinstance(r.payload, bytes) or not r.payload.startswith(READING_PREFIX):
        problem = f"payload is not reading entry bytes (must start with {READING_PREFIX!r})"
    elif not isinstance(r.device_id, str) or not 0 < len(r.device_id) <= MAX_DEVICE_ID:
        problem = f"device_id must be a non-empty string of at most {MAX_DEVICE_ID} characters"
    elif isinstance(r.seq, bool) or not isinstance(r.seq, int) or not 0 <= r.seq <= MAX_SEQ:
        problem = f"seq {r.seq!r} is outside 0..2**63-1"
    elif (
        isinstance(r.timestamp_ms, bool)
        or not isinstance(r.timestamp_ms, int)
        or not _MIN_I64 <= r.timestamp_ms <= MAX_SEQ
    ):
        problem = f"timestamp_ms {r.timestamp_ms!r} is not a 64-bit integer"
    elif not isinstance(r.received_at, float | int):
        problem = "received_at must be a number (time.time())"
    if problem:
        raise InvalidEntryError(f"reading {number} of the batch {problem}")
