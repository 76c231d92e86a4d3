"""Per-device figures over every chain: readings, signed rejections, the sequence range, the
gaps in it, and where the device's clock went backwards (by the signed timestamps, in seq
order).

A seq is accounted for when its reading is stored or was a **signed rejection** (a quarantine
row with ``signed_rejection``: the device's registered key signed it and the gateway rejected
its content), so a rejected seq is reported as rejected, not as missing.

A device's **drop floor** (its highest stored, verified ``FD`` statement) explains seqs up to
it that are neither: ``lost_by_floor`` counts them (from seq 1, so seqs below the lowest
stored one count too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from farmtrace.audit.report import DeviceSummary
from farmtrace.chain.clock import went_backwards
from farmtrace.store.audit_reads import AuditReads, SeqRow

__all__ = ["MAX_GAPS", "device_summaries"]

MAX_GAPS = 1000
"""Most gap ranges (and rejected or clock-backwards seqs) listed per device (the counts have
them all)."""


def device_summaries(
    reads: AuditReads, floors: Mapping[str, int] | None = None
) -> list[DeviceSummary]:
    """One summary per device with stored readings, signed rejections or a drop floor
    (``floors``: each device's highest), by device ID.

    Streams ``(device_id, seq, timestamp_ms, rejected)`` in device and seq order, so memory
    stays flat whatever the size.
    """
    floors = floors or {}
    with reads.seq_rows() as rows:
        summaries, settled = _summarise(rows, floors)
    seen = {summary.device_id for summary in summaries}
    for device_id, floor in floors.items():
        if device_id not in seen:
            summaries.append(DeviceSummary(device_id, 0, 0, 0, 0, 0, [], drop_floor=floor))
    for summary in summaries:
        summary.lost_by_floor = summary.drop_floor - settled.get(summary.device_id, 0)
    summaries.sort(key=lambda summary: summary.device_id)
    return summaries


def _summarise(
    rows: Iterable[SeqRow], floors: Mapping[str, int]
) -> tuple[list[DeviceSummary], dict[str, int]]:
    """The summaries, and per device how many settled seqs (stored or signed and rejected)
    are at or below its drop floor."""
    summaries: list[DeviceSummary] = []
    settled: dict[str, int] = {}
    current: DeviceSummary | None = None
    previous_ts: int | None = None
    for device_id, seq, timestamp_ms, rejected in rows:
        if current is None or device_id != current.device_id:
            current = DeviceSummary(device_id, 0, seq, seq, 0, 0, [])
            current.drop_floor = floors.get(device_id, 0)
            summaries.append(current)
            previous_ts = None
        elif seq == current.highest_seq:
            continue  # a rejection of a seq that is also stored (rows are stored first)
        elif seq > current.highest_seq + 1:
            current.gap_count += 1
            current.missing += seq - current.highest_seq - 1
            if len(current.gaps) < MAX_GAPS:
                current.gaps.append([current.highest_seq + 1, seq - 1])
        if seq <= current.drop_floor:
            settled[device_id] = settled.get(device_id, 0) + 1
        current.highest_seq = seq
        if rejected:
            current.rejected += 1
            if len(current.rejected_at) < MAX_GAPS:
                current.rejected_at.append(seq)
            continue
        # A stored reading without a timestamp column is a failed entry check already; it
        # cannot be compared here.
        if timestamp_ms is not None and went_backwards(previous_ts, timestamp_ms):
            current.clock_backwards += 1
            if len(current.clock_backwards_at) < MAX_GAPS:
                current.clock_backwards_at.append(seq)
        current.readings += 1
        previous_ts = timestamp_ms
    return summaries, settled
