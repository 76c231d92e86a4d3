"""A lot's readings as time series: per stage, device and measurement type."""

from __future__ import annotations

from dataclasses import dataclass

from farmtrace.api.services.coldchain import Sample
from farmtrace.store.lots import LotEntry
from farmtrace.wire.protocol import ProtocolError, decode

__all__ = ["Series", "lot_series"]


@dataclass(frozen=True, slots=True)
class Series:
    """One measurement type from one device during one stage, strictly increasing in time.

    ``clock_backwards``: how many of ``samples`` come from readings whose device clock went
    backwards (:mod:`farmtrace.store.clock`). They stand at the time the device signed, like every sample:
    a series is always in time order, so a clock going back never makes a negative duration.
    """

    stage: str
    device_id: str
    measurement: str
    uom: str
    samples: tuple[Sample, ...]
    clock_backwards: int = 0


def lot_series(entries: list[LotEntry]) -> list[Series]:
    """Group readings into series; a repeated timestamp keeps the reading with the lowest seq
    (``entries`` come ordered by time, then device and seq), the one the device signed first."""
    groups: dict[tuple[str, str, str, str], dict[int, tuple[float, bool]]] = {}
    for item in entries:
        try:
            reading = decode(item.payload)
        except ProtocolError:
            continue  # a stored entry that no longer decodes is reported by the bundle check
        for m in reading.measurements:
            key = (item.stage, item.device_id, m.type, m.uom)
            point = (m.value, item.clock_backwards)
            groups.setdefault(key, {}).setdefault(reading.timestamp_ms, point)
    return [
        Series(
            stage,
            device,
            kind,
            uom,
            tuple(Sample(t, v) for t, (v, _) in sorted(points.items())),
            sum(1 for _, flagged in points.values() if flagged),
        )
        for (stage, device, kind, uom), points in sorted(groups.items())
    ]
