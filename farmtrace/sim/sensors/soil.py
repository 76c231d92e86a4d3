"""Soil water, temperature and conductivity under one field (a loam root zone).

A bucket model (FIELD.md): rain and irrigation step the volumetric water content up; above
field capacity it drains back over a day or two; below it, evapotranspiration takes water, more
on hot sunny afternoons and less as the soil dries toward the wilting point. An irrigation
controller waters when the content falls near 23 %. Soil temperature is the air temperature,
damped and lagged; bulk conductivity rises with water content.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from farmtrace.sim.sensors.weather import FieldWeather

WILTING_POINT = 13.8
FIELD_CAPACITY = 32.1
SATURATION = 48.2
IRRIGATE_BELOW = 23.0
IRRIGATION_MM = 20.0
ROOT_ZONE_MM = 300.0
DRAINAGE_HOURS = 30.0
SOIL_LAG_HOURS = 8.0
STEP = 900.0  # integration step, simulated seconds


@dataclass(frozen=True, slots=True)
class SoilSample:
    water_content: float  # % VWC
    temperature: float  # °C
    conductivity: float  # dS/m (bulk)


class FieldSoil:
    """The soil of one field; ``at(t)`` for non-decreasing simulated times."""

    def __init__(self, weather: FieldWeather, water_content: float = 27.0) -> None:
        self.weather = weather
        self._theta = water_content
        self._temperature: float | None = None
        self._t: float | None = None
        self._cache: tuple[float, SoilSample] | None = None
        self._irrigated_at = -math.inf
        self.irrigations = 0

    def _step(self, t0: float, t1: float) -> None:
        hours = (t1 - t0) / 3600.0
        sample = self.weather.at(t1)
        theta = self._theta + self.weather.rain(t0, t1) / ROOT_ZONE_MM * 100.0
        if theta > FIELD_CAPACITY:
            theta = FIELD_CAPACITY + (theta - FIELD_CAPACITY) * math.exp(-hours / DRAINAGE_HOURS)
        availability = min(
            1.0, max(0.0, (theta - WILTING_POINT) / (FIELD_CAPACITY - WILTING_POINT))
        )
        theta -= sample.evapotranspiration * hours * availability / ROOT_ZONE_MM * 100.0
        if theta < IRRIGATE_BELOW and t1 - self._irrigated_at > 12 * 3600:
            theta += IRRIGATION_MM / ROOT_ZONE_MM * 100.0
            self._irrigated_at = t1
            self.irrigations += 1
        self._theta = min(SATURATION, max(WILTING_POINT - 3.0, theta))
        air = sample.air_temperature
        if self._temperature is None:
            self._temperature = air
        self._temperature += (air - self._temperature) * (1.0 - math.exp(-hours / SOIL_LAG_HOURS))

    def at(self, t: float) -> SoilSample:
        t = float(math.floor(t))  # devices in one place share a sample per second
        cached = self._cache
        if cached is not None and cached[0] == t:
            return cached[1]
        sample = self._at(t)
        self._cache = (t, sample)
        return sample

    def _at(self, t: float) -> SoilSample:
        if self._t is None:
            self._t = t
            self._step(t - STEP, t)
        while t > self._t:
            t1 = min(t, self._t + STEP)
            self._step(self._t, t1)
            self._t = t1
        temperature = self._temperature if self._temperature is not None else 15.0
        conductivity = 0.1 + 2.4 * (self._theta / SATURATION) ** 2
        return SoilSample(self._theta, temperature, conductivity)
