"""Physical ranges per UN/ECE Rec 20 unit: values outside them cannot be real measurements.

The table is deliberately wide: it rejects impossible values (a cold room at 900 °C, a relative
humidity of 140 %), not implausible ones; sensor faults inside the range (the DS18B20's 85 °C
power-on value, a stuck sensor) are stored as measured and left to analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.wire.protocol import Measurement

__all__ = ["PHYSICAL_RANGES", "RangeViolation", "check_measurements"]

PHYSICAL_RANGES: dict[str, tuple[float, float, str]] = {
    "CEL": (-80.0, 150.0, "degree Celsius"),
    "P1": (0.0, 100.0, "percent"),
    "LUX": (0.0, 200_000.0, "lux"),
    "KPA": (30.0, 120.0, "kilopascal"),
    "VLT": (0.0, 60.0, "volt"),
    "59": (0.0, 100_000.0, "part per million"),
    "D10": (0.0, 10.0, "siemens per metre"),
}
"""Unit code to (lowest, highest, unit name); both bounds are allowed."""


class RangeViolation(Exception):
    """A measurement that cannot be physical: ``reason`` is a quarantine reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def check_measurements(measurements: Sequence[Measurement]) -> None:
    """Raise :class:`RangeViolation` for the first value outside its unit's range."""
    for m in measurements:
        bounds = PHYSICAL_RANGES.get(m.uom)
        if bounds is None or not bounds[0] <= m.value <= bounds[1]:
            _explain(measurements)


def _explain(measurements: Sequence[Measurement]) -> None:
    for index, m in enumerate(measurements):
        bounds = PHYSICAL_RANGES.get(m.uom)
        if bounds is None:
            raise RangeViolation(
                "unknown-unit", f"measurements[{index}] ({m.type}): no range for unit {m.uom!r}"
            )
        low, high, name = bounds
        if not low <= m.value <= high:
            raise RangeViolation(
                "out-of-range",
                f"measurements[{index}] ({m.type}) = {m.value!r} {m.uom}: outside "
                f"{low:g}..{high:g} {name}",
            )
