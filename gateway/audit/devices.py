"""Per-device figures over every chain: readings, sequence range, the gaps in it, and where the
device's clock went backwards (by the signed timestamps, in seq order)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from gateway.audit.report import DeviceSummary
from gateway.chain.entry import READING
from gateway.ingest.health import CLOCK_TOLERANCE_MS
from gateway.store.reader import ENTRIES

__all__ = ["MAX_GAPS", "device_summaries"]

MAX_GAPS = 1000
"""Most gap ranges listed per device (``gap_count`` counts them all)."""


def device_summaries(conn: Connection) -> list[DeviceSummary]:
    """One summary per device with stored readings, by device ID.

    Streams ``(device_id, seq, timestamp_ms)`` in index order, so memory stays flat whatever
    the size.
    """
    query = (
        select(ENTRIES.c.device_id, ENTRIES.c.seq, ENTRIES.c.timestamp_ms)
        .where(ENTRIES.c.kind == READING)
        .order_by(ENTRIES.c.device_id, ENTRIES.c.seq)
    )
    options = {"stream_results": True, "yield_per": 20_000}
    with conn.execute(query, execution_options=options) as rows:
        return _summarise(rows)


def _summarise(rows: Iterable[Any]) -> list[DeviceSummary]:
    summaries: list[DeviceSummary] = []
    current: DeviceSummary | None = None
    previous_ts = 0
    for device_id, seq, timestamp_ms in rows:
        if current is None or device_id != current.device_id:
            current = DeviceSummary(device_id, 0, seq, seq, 0, 0, [])
            summaries.append(current)
        else:
            if seq > current.highest_seq + 1:
                current.gap_count += 1
                current.missing += seq - current.highest_seq - 1
                if len(current.gaps) < MAX_GAPS:
                    current.gaps.append([current.highest_seq + 1, seq - 1])
            if timestamp_ms < previous_ts - CLOCK_TOLERANCE_MS:
                current.clock_backwards += 1
                if len(current.clock_backwards_at) < MAX_GAPS:
                    current.clock_backwards_at.append(seq)
        current.readings += 1
        current.highest_seq = seq
        previous_ts = timestamp_ms
    return summaries
