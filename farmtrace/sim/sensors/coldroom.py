"""A cold room: air temperature, product temperature, humidity and CO2.

The air follows the compressor's sawtooth around the setpoint (0.5-1.5 °C over a few to tens
of minutes), jumps 2-6 °C when the door opens (mostly in working hours, decaying over 5-20
minutes) and 3-8 °C during a defrost every 6-12 hours (15-40 minutes). Product temperature lags
the air by about two hours. CO2 builds up from produce respiration and is flushed by the door.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from farmtrace.sim.sensors import solar
from farmtrace.sim.sensors.weather import AR1

PRODUCT_LAG_HOURS = 2.0
RESPIRATION_PPM_PER_HOUR = 120.0


@dataclass(frozen=True, slots=True)
class ColdRoomSample:
    air_temperature: float
    product_temperature: float
    relative_humidity: float
    co2: float
    door_open: bool
    defrosting: bool


class Events:
    """Bumps that rise at once and decay exponentially (door openings)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[float, float, float]] = []  # (start, amplitude, tau seconds)

    def add(self, start: float, amplitude: float, tau: float) -> None:
        self.items.append((start, amplitude, tau))

    def at(self, t: float) -> float:
        total = 0.0
        for start, amplitude, tau in self.items:
            if start <= t:
                total += amplitude * math.exp(-(t - start) / tau)
        self.items = [e for e in self.items if t - e[0] < 6 * e[2]]
        return total


class ColdRoom:
    """One cold room; ``at(t)`` for non-decreasing simulated times."""

    def __init__(
        self,
        rng: random.Random,
        setpoint: float = 2.0,
        humidity: float = 92.0,
        longitude: float = 5.0,
        door_rate_per_hour: float = 1.5,
    ) -> None:
        self._rng = rng
        self.setpoint = setpoint
        self._humidity = humidity
        self._longitude = longitude
        self._door_rate = door_rate_per_hour
        self._band = rng.uniform(0.5, 1.5)
        self._period = rng.uniform(5, 30) * 60.0
        self._phase = rng.uniform(0, self._period)
        self._doors = Events()
        self._open: list[tuple[float, float]] = []  # door open intervals
        self._hour_done: int | None = None
        self._defrost: tuple[float, float, float] | None = None  # (start, end, amplitude)
        self._next_defrost: float | None = None
        self._product: float | None = None
        self._co2 = 600.0
        self._t: float | None = None
        self._cache: tuple[float, ColdRoomSample] | None = None
        self._rh_noise = AR1(rng, 1.0, 0.98)
        self.extra_heat = 0.0  # °C added by faults (power loss)

    def _schedule(self, t: float) -> None:
        hour = int(t // 3600)
        if self._hour_done is None:
            self._hour_done = hour - 1
        while self._hour_done < hour:
            self._hour_done += 1
            local = solar.solar_hour(self._hour_done * 3600.0, self._longitude)
            rate = self._door_rate if 7 <= local < 18 else self._door_rate / 10
            for _ in range(_poisson(self._rng, rate)):
                start = self._hour_done * 3600.0 + self._rng.uniform(0, 3600)
                tau = self._rng.uniform(5, 20) * 60.0
                self._doors.add(start, self._rng.uniform(2, 6), tau)
                self._open.append((start, start + self._rng.uniform(30, 180)))
        if self._next_defrost is None:
            self._next_defrost = t + self._rng.uniform(0, 12) * 3600.0
        if t >= self._next_defrost:
            length = self._rng.uniform(15, 40) * 60.0
            self._defrost = (
                self._next_defrost,
                self._next_defrost + length,
                self._rng.uniform(3, 8),
            )
            self._next_defrost += self._rng.uniform(6, 12) * 3600.0

    def _sawtooth(self, t: float) -> float:
        p = ((t + self._phase) % self._period) / self._period
        if p < 0.85:  # compressor off: slow warming
            return self.setpoint - self._band / 2 + self._band * p / 0.85
        return self.setpoint + self._band / 2 - self._band * (p - 0.85) / 0.15

    def at(self, t: float) -> ColdRoomSample:
        t = float(math.floor(t))  # devices in one place share a sample per second
        cached = self._cache
        if cached is not None and cached[0] == t:
            return cached[1]
        sample = self._at(t)
        self._cache = (t, sample)
        return sample

    def _at(self, t: float) -> ColdRoomSample:
        self._schedule(t)
        door = self._doors.at(t)
        defrost = 0.0
        defrosting = False
        if self._defrost is not None and self._defrost[0] <= t < self._defrost[1]:
            start, end, amplitude = self._defrost
            defrost = amplitude * math.sin(math.pi * (t - start) / (end - start))
            defrosting = True
        air = self._sawtooth(t) + door + defrost + self.extra_heat
        previous = t if self._t is None else self._t
        dt = max(0.0, t - previous)
        self._t = t
        if self._product is None:
            self._product = self.setpoint
        self._product += (air - self._product) * (1.0 - math.exp(-dt / 3600.0 / PRODUCT_LAG_HOURS))
        self._open = [(b, e) for b, e in self._open if e > t - 3600]
        door_open = any(b <= t < e for b, e in self._open)
        self._co2 += RESPIRATION_PPM_PER_HOUR * dt / 3600.0
        for begin, _ in self._open:
            if previous < begin <= t:  # each opening swaps much of the room's air
                self._co2 = 450.0 + (self._co2 - 450.0) * 0.4
        self._co2 = min(5000.0, self._co2)
        rh = self._humidity + self._rh_noise.at(t) - 1.5 * door
        return ColdRoomSample(
            air_temperature=air,
            product_temperature=self._product,
            relative_humidity=min(100.0, rh),
            co2=self._co2,
            door_open=door_open,
            defrosting=defrosting,
        )


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
