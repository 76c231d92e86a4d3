"""Per-device figures over every chain: readings, signed rejections, the sequence range, the
gaps in it, and where the device's clock went backwards (by the signed timestamps, in seq
order).

A seq is accounted for when its reading is stored or was a **signed rejection** (a quarantine
row with ``signed_rejection``: the device's registered key signed it and the gateway rejected
its content), so a rejected seq is reported as rejected, not as missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, literal, null, select, union_all

from gateway.audit.report import DeviceSummary
from gateway.chain.entry import READING
from gateway.ingest.health import CLOCK_TOLERANCE_MS
from gateway.store.models import Base
from gateway.store.reader import ENTRIES

__all__ = ["MAX_GAPS", "device_summaries"]

QUARANTINE = Base.metadata.tables["quarantine"]

MAX_GAPS = 1000
"""Most gap ranges (and rejected or clock-backwards seqs) listed per device (the counts have
them all)."""


def device_summaries(conn: Connection) -> list[DeviceSummary]:
    """One summary per device with stored readings or signed rejections, by device ID.

    Streams ``(device_id, seq, timestamp_ms, rejected)`` in index order, so memory stays flat
    whatever the size.
    """
    stored = select(
        ENTRIES.c.device_id,
        ENTRIES.c.seq,
        ENTRIES.c.timestamp_ms,
        literal(0, Integer).label("rejected"),
    ).where(ENTRIES.c.kind == READING)
    rejected = (
        select(
            QUARANTINE.c.device_id,
            QUARANTINE.c.seq,
            null().cast(BigInteger).label("timestamp_ms"),
            literal(1, Integer).label("rejected"),
        )
        .where(QUARANTINE.c.signed_rejection.is_(True))
        .distinct()
    )
    both = union_all(stored, rejected).subquery()
    query = select(both).order_by(both.c.device_id, both.c.seq, both.c.rejected)
    options = {"stream_results": True, "yield_per": 20_000}
    with conn.execute(query, execution_options=options) as rows:
        return _summarise(rows)


def _summarise(rows: Iterable[Any]) -> list[DeviceSummary]:
    summaries: list[DeviceSummary] = []
    current: DeviceSummary | None = None
    previous_ts: int | None = None
    for device_id, seq, timestamp_ms, rejected in rows:
        if current is None or device_id != current.device_id:
            current = DeviceSummary(device_id, 0, seq, seq, 0, 0, [])
            summaries.append(current)
            previous_ts = None
        elif seq == current.highest_seq:
            continue  # a rejection of a seq that is also stored (rows are stored first)
        elif seq > current.highest_seq + 1:
            current.gap_count += 1
            current.missing += seq - current.highest_seq - 1
            if len(current.gaps) < MAX_GAPS:
                current.gaps.append([current.highest_seq + 1, seq - 1])
        current.highest_seq = seq
        if rejected:
            current.rejected += 1
            if len(current.rejected_at) < MAX_GAPS:
                current.rejected_at.append(seq)
            continue
        if previous_ts is not None and timestamp_ms < previous_ts - CLOCK_TOLERANCE_MS:
            current.clock_backwards += 1
            if len(current.clock_backwards_at) < MAX_GAPS:
                current.clock_backwards_at.append(seq)
        current.readings += 1
        previous_ts = timestamp_ms
    return summaries
