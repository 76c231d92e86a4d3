"""The measuring device: channels with per-device bias, gain, noise and resolution, a battery.

A channel reads one signal of an environment and returns what a cheap sensor would report:
``round_to_resolution(clamp(gain * truth + bias + drift + noise))``. Faults change a channel's
state (noise factor, drift, a stuck value) or the device's battery; the device kind decides
which channels it has (``KINDS``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

Source = Callable[[float], float]


@dataclass(slots=True)
class Channel:
    """One measured quantity of a device (EPCIS type and UN/ECE unit)."""

    type: str
    uom: str
    source: Source
    bias: float
    gain: float
    sigma: float
    resolution: float
    low: float
    high: float
    noise_factor: float = 1.0
    drift: float = 0.0
    stuck: float | None = None
    _digits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        text = f"{self.resolution:.10f}".rstrip("0")
        self._digits = len(text.split(".")[1]) if "." in text else 0

    def read(self, t: float, rng: random.Random) -> float:
        if self.stuck is not None:
            return self.stuck
        value = self.gain * self.source(t) + self.bias + self.drift
        if self.sigma:
            value += rng.gauss(0.0, self.sigma * self.noise_factor)
        return self.quantize(value)

    def quantize(self, value: float) -> float:
        value = min(self.high, max(self.low, value))
        return round(round(value / self.resolution) * self.resolution, self._digits)


@dataclass(slots=True)
class Battery:
    """A Li-ion cell: 3.0-4.2 V over its charge; solar-topped in the field, or mains-backed.

    Below ``BROWN_OUT`` volts the device stops; it comes back above ``RECOVER``.
    """

    charge: float
    drain_per_hour: float
    solar: Source | None = None  # illuminance, lux: charges the cell by day
    extra_drain_per_hour: float = 0.0
    browned_out: bool = False
    _t: float | None = None

    BROWN_OUT = 3.3
    RECOVER = 3.5

    def voltage(self, t: float) -> float:
        if self._t is not None and t > self._t:
            hours = (t - self._t) / 3600.0
            gain = 0.02 * self.solar(t) / 100000.0 if self.solar is not None else 0.0
            self.charge += (gain - self.drain_per_hour - self.extra_drain_per_hour) * hours
            self.charge = min(1.0, max(0.0, self.charge))
        self._t = t
        volts = 3.0 + 1.2 * self.charge
        if volts < self.BROWN_OUT:
            self.browned_out = True
        elif volts > self.RECOVER:
            self.browned_out = False
        return volts


@dataclass(slots=True)
class SensorDevice:
    """A device kind's channels plus its battery; ``measure`` gives ``(type, value, uom)``."""

    kind: str
    channels: list[Channel]
    battery: Battery
    rng: random.Random

    def measure(self, t: float) -> list[tuple[str, float, str]] | None:
        """The values at ``t``, or None when the battery is browned out (no reading)."""
        volts = self.battery.voltage(t)
        if self.battery.browned_out:
            return None
        rng = self.rng
        out = [(c.type, c.read(t, rng), c.uom) for c in self.channels]
        out.append(("Voltage", round(volts + rng.gauss(0.0, 0.005), 2), "VLT"))
        return out

    def channel(self, type_: str) -> Channel | None:
        for c in self.channels:
            if c.type == type_:
                return c
        return None
