"""A lot's readings as time series: per stage, device and measurement type."""

from __future__ import annotations

from dataclasses import dataclass

from api.coldchain import Sample
from api.lots.store import LotEntry
from firmware_sim.protocol import ProtocolError, decode

__all__ = ["Series", "lot_series"]


@dataclass(frozen=True, slots=True)
class Series:
    """One measurement type from one device during one stage, strictly increasing in time."""

    stage: str
    device_id: str
    measurement: str
    uom: str
    samples: tuple[Sample, ...]


def lot_series(entries: list[LotEntry]) -> list[Series]:
    """Group readings into series; a repeated timestamp keeps the first reading's value."""
    groups: dict[tuple[str, str, str, str], dict[int, float]] = {}
    for item in entries:
        try:
            reading = decode(item.payload)
        except ProtocolError:
            continue  # a stored entry that no longer decodes is reported by the bundle check
        for m in reading.measurements:
            key = (item.stage, item.device_id, m.type, m.uom)
            groups.setdefault(key, {}).setdefault(reading.timestamp_ms, m.value)
    return [
        Series(stage, device, kind, uom, tuple(Sample(t, v) for t, v in sorted(points.items())))
        for (stage, device, kind, uom), points in sorted(groups.items())
    ]
