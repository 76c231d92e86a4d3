"""Field weather: air temperature, humidity, light, pressure and rain at one site.

* Air temperature: the Parton-Logan day curve (sine by day, exponential decay by night) between
  daily extremes that follow a random walk, plus AR(1) minute noise.
* Humidity: the dew point holds roughly steady through a day; relative humidity follows from
  the Magnus formula (near saturation at dawn, lowest mid-afternoon, capped at 100 %).
* Light: clear-sky illuminance from the sun's elevation, dimmed by a cloud walk; 0 at night.
* Rain: a few showers a week that cool the air, saturate it and wet the soil.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from farmtrace.sim.sensors import solar

# Parton-Logan parameters (FIELD.md): lag of the maximum after noon, lag of the minimum after
# sunrise, night decay coefficient.
ALPHA = 2.59
BETA = 1.55
GAMMA = 2.2
_DECAY_END = math.exp(-GAMMA)


def magnus_rh(temperature: float, dew_point: float) -> float:
    """Relative humidity (%) from air temperature and dew point (°C), capped at 100."""
    a, b = 17.62, 243.12
    rh = 100.0 * math.exp(a * dew_point / (b + dew_point) - a * temperature / (b + temperature))
    return min(100.0, rh)


@dataclass(frozen=True, slots=True)
class Day:
    tmax: float
    tmin: float
    dew_offset: float
    cloud: float
    pressure: float
    showers: tuple[tuple[float, float, float], ...]  # (start, end, mm per hour), UTC seconds


@dataclass(frozen=True, slots=True)
class WeatherSample:
    air_temperature: float
    dew_point: float
    relative_humidity: float
    illuminance: float
    pressure: float
    raining: bool
    evapotranspiration: float  # mm per hour


class AR1:
    """Red noise with per-minute persistence ``phi``, stepped over any interval."""

    __slots__ = ("_rng", "_t", "phi", "sigma", "value")

    def __init__(self, rng: random.Random, sigma: float, phi: float) -> None:
        self._rng = rng
        self.sigma = sigma
        self.phi = phi
        self.value = 0.0
        self._t: float | None = None

    def at(self, t: float) -> float:
        if self._t is None:
            self.value = self._rng.gauss(0.0, self.sigma)
        elif t > self._t:
            keep = self.phi ** ((t - self._t) / 60.0)
            self.value = keep * self.value + self.sigma * math.sqrt(
                1.0 - keep * keep
            ) * self._rng.gauss(0.0, 1.0)
        else:
            return self.value
        self._t = t
        return self.value


class FieldWeather:
    """The weather of one site; ``at(t)`` for simulated UTC seconds ``t`` (non-decreasing)."""

    def __init__(
        self,
        rng: random.Random,
        latitude: float = 52.0,
        longitude: float = 5.0,
        tmax_mean: float = 23.0,
        tmin_mean: float = 11.0,
    ) -> None:
        self._rng = rng
        self.latitude = latitude
        self.longitude = longitude
        self._tmax_mean = tmax_mean
        self._tmin_mean = tmin_mean
        self._days: dict[int, Day] = {}
        self._last_day: tuple[int, Day] | None = None
        self._noise = AR1(rng, 0.2, 0.9)
        self._dew_noise = AR1(rng, 0.3, 0.97)
        self._cloud_noise = AR1(rng, 0.15, 0.95)
        self._cache: tuple[float, WeatherSample] | None = None

    def day(self, index: int) -> Day:
        """The daily extremes of solar day ``index``, walking forward from the last one made."""
        found = self._days.get(index)
        if found is not None:
            return found
        rng = self._rng
        if self._last_day is None or index < self._last_day[0]:
            previous = Day(self._tmax_mean, self._tmin_mean, 1.5, 0.3, 101.3, ())
            start = index
        else:
            previous = self._last_day[1]
            start = self._last_day[0] + 1
        for i in range(start, index + 1):
            # Random walk with mean reversion, sigma about 1.7 °C a day (FIELD.md).
            tmax = previous.tmax + 0.3 * (self._tmax_mean - previous.tmax) + rng.gauss(0, 1.7)
            tmin = previous.tmin + 0.3 * (self._tmin_mean - previous.tmin) + rng.gauss(0, 1.5)
            tmin = min(tmin, tmax - 4.0)
            cloud = min(1.0, max(0.0, 0.6 * previous.cloud + 0.4 * rng.random()))
            pressure = previous.pressure + 0.2 * (101.3 - previous.pressure) + rng.gauss(0, 0.6)
            showers = []
            if rng.random() < 0.3:
                begin = i * solar.DAY - self.longitude / 15.0 * 3600.0 + rng.uniform(0, solar.DAY)
                hours = rng.uniform(1.0, 4.0)
                showers.append((begin, begin + hours * 3600.0, rng.expovariate(1 / 8.0) / hours))
            previous = Day(
                tmax, tmin, rng.uniform(0.0, 2.0), cloud, min(104.0, max(97.0, pressure)),
                tuple(showers),
            )  # fmt: skip
            self._days[i] = previous
        self._last_day = (index, previous)
        if len(self._days) > 8:
            for old in [k for k in self._days if k < index - 3]:
                del self._days[old]
        return previous

    def _curve(self, t: float) -> float:
        """Parton-Logan temperature without noise."""
        hour = solar.solar_hour(t, self.longitude)
        index = solar.day_index(t, self.longitude)
        length = solar.day_length(t, self.latitude)
        sunrise, sunset = 12.0 - length / 2.0, 12.0 + length / 2.0
        t_min_at = sunrise + BETA
        span = 2.0 * (12.0 + ALPHA - t_min_at)  # puts the maximum ALPHA hours after noon
        if t_min_at <= hour <= sunset:
            day = self.day(index)
            return day.tmin + (day.tmax - day.tmin) * math.sin(math.pi * (hour - t_min_at) / span)
        if hour > sunset:
            today, tomorrow, since_sunset = self.day(index), self.day(index + 1), hour - sunset
        else:
            today, tomorrow, since_sunset = self.day(index - 1), self.day(index), hour + 24 - sunset
        at_sunset = today.tmin + (today.tmax - today.tmin) * math.sin(
            math.pi * (sunset - t_min_at) / span
        )
        night = 24.0 - sunset + t_min_at
        # Normalised so the curve meets the next minimum exactly at its hour.
        decay = (math.exp(-GAMMA * since_sunset / night) - _DECAY_END) / (1.0 - _DECAY_END)
        return tomorrow.tmin + (at_sunset - tomorrow.tmin) * decay

    def rain(self, t0: float, t1: float) -> float:
        """Millimetres of rain that fell in ``(t0, t1]``."""
        total = 0.0
        for index in range(
            solar.day_index(t0, self.longitude) - 1, solar.day_index(t1, self.longitude) + 1
        ):
            for begin, end, rate in self.day(index).showers:
                overlap = min(end, t1) - max(begin, t0)
                if overlap > 0:
                    total += rate * overlap / 3600.0
        return total

    def _raining(self, t: float, index: int) -> bool:
        return any(b <= t < e for i in (index - 1, index) for b, e, _ in self.day(i).showers)

    def _pressure(self, t: float, index: int, day: Day) -> float:
        fraction = solar.solar_hour(t, self.longitude) / 24.0
        return day.pressure + (self.day(index + 1).pressure - day.pressure) * fraction

    def at(self, t: float) -> WeatherSample:
        """The weather at simulated time ``t``."""
        t = float(math.floor(t))  # devices in one place share a sample per second
        if self._cache is not None and self._cache[0] == t:
            return self._cache[1]
        index = solar.day_index(t, self.longitude)
        day = self.day(index)
        raining = self._raining(t, index)
        temperature = self._curve(t) + self._noise.at(t) - (2.0 if raining else 0.0)
        dew_point = day.tmin - day.dew_offset + self._dew_noise.at(t)
        if raining:
            dew_point = temperature - 0.3
        dew_point = min(dew_point, temperature)
        sin_el = solar.sin_elevation(t, self.latitude, self.longitude)
        cloud = 1.0 if raining else min(1.0, max(0.0, day.cloud + self._cloud_noise.at(t)))
        lux = 0.0
        if sin_el > 0:
            lux = 110000.0 * sin_el**1.2 * (1.0 - 0.75 * cloud)
        et = 0.6 * max(0.0, sin_el) * max(0.2, (temperature + 5.0) / 30.0) * (1.0 - 0.5 * cloud)
        sample = WeatherSample(
            air_temperature=temperature,
            dew_point=dew_point,
            relative_humidity=magnus_rh(temperature, dew_point),
            illuminance=lux,
            pressure=self._pressure(t, index, day),
            raining=raining,
            evapotranspiration=et,
        )
        self._cache = (t, sample)
        return sample
