"""A reefer truck's day: pre-cooling, loading, transit with drops, return.

Timeline in local solar hours: 04:00 the unit starts and pulls the box from ambient to the
setpoint; 05:00-05:30 loading with the doors open; transit until 13:30 near the setpoint with a
small sawtooth and some ambient drift, the doors opening at each of three drops; then the unit
is switched off and the box drifts back to ambient. A power-loss fault adds 1-3 °C an hour.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from farmtrace.sim.sensors import solar
from farmtrace.sim.sensors.coldroom import Events
from farmtrace.sim.sensors.weather import AR1, FieldWeather

PRECOOL, LOADING_END, TRANSIT_END = 4.0, 5.5, 13.5
DROPS = (7.5, 9.5, 11.5)


@dataclass(frozen=True, slots=True)
class TruckSample:
    air_temperature: float
    relative_humidity: float
    unit_on: bool


class ReeferTruck:
    """One refrigerated truck; ``at(t)`` for non-decreasing simulated times."""

    def __init__(self, rng: random.Random, weather: FieldWeather, setpoint: float = 3.0) -> None:
        self._rng = rng
        self.weather = weather
        self.setpoint = setpoint
        self._box: float | None = None
        self._t: float | None = None
        self._cache: tuple[float, TruckSample] | None = None
        self._doors = Events()
        self._day_planned: int | None = None
        self._rh_noise = AR1(rng, 1.5, 0.98)
        self.extra_heat_per_hour = 0.0  # set by a power-loss fault: cooling stops

    def _plan(self, t: float) -> None:
        day = solar.day_index(t, self.weather.longitude)
        if self._day_planned == day:
            return
        self._day_planned = day
        midnight = day * solar.DAY - self.weather.longitude / 15.0 * 3600.0
        self._doors.add(midnight + PRECOOL * 3600 + 3600, self._rng.uniform(3, 5), 900.0)
        for hour in DROPS:
            start = midnight + (hour + self._rng.uniform(-0.3, 0.3)) * 3600
            self._doors.add(start, self._rng.uniform(3, 6), self._rng.uniform(600, 1200))

    def at(self, t: float) -> TruckSample:
        t = float(math.floor(t))  # devices in one place share a sample per second
        cached = self._cache
        if cached is not None and cached[0] == t:
            return cached[1]
        sample = self._at(t)
        self._cache = (t, sample)
        return sample

    def _at(self, t: float) -> TruckSample:
        self._plan(t)
        ambient = self.weather.at(t).air_temperature
        hour = solar.solar_hour(t, self.weather.longitude)
        unit_on = PRECOOL <= hour < TRANSIT_END
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        if self._box is None:
            self._box = self.setpoint if unit_on else ambient
        # The unit pulls the box toward the setpoint in ~20 min; switched off, the box warms
        # toward ambient over about an hour.
        if unit_on and self.extra_heat_per_hour > 0:
            # Power lost in transit: no cooling, the load warms steadily toward ambient.
            self._box = min(
                max(self._box, ambient), self._box + self.extra_heat_per_hour * dt / 3600.0
            )
        else:
            target, tau = (
                (self.setpoint + 0.02 * (ambient - self.setpoint), 1200.0)
                if unit_on
                else (ambient, 3600.0)
            )
            self._box += (target - self._box) * (1.0 - math.exp(-dt / tau))
        cycle = 0.4 * math.sin(2 * math.pi * t / 900.0) if unit_on else 0.0
        air = self._box + cycle + (self._doors.at(t) if unit_on else 0.0)
        # A produce reefer keeps the box humid: leafy greens store at 95-99 %RH (FIELD.md).
        rh = 95.0 + self._rh_noise.at(t) if unit_on else self.weather.at(t).relative_humidity
        return TruckSample(air, min(100.0, rh), unit_on)
