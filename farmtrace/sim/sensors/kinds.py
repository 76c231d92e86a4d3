"""Device kinds: which channels a device has and how good its sensors are.

Accuracy figures follow FIELD.md's parts (DHT22/SHT3x air, BH1750 light, BMP280 pressure,
capacitive soil probe, DS18B20 probe, NDIR CO2). Bias is drawn once per device; noise per
sample. Every environment is shared by the devices placed in it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from farmtrace.sim.sensors.coldroom import ColdRoom
from farmtrace.sim.sensors.device import Battery, Channel, SensorDevice
from farmtrace.sim.sensors.soil import FieldSoil
from farmtrace.sim.sensors.truck import ReeferTruck
from farmtrace.sim.sensors.weather import FieldWeather


@dataclass
class Environment:
    """The shared physical world of one place: a field, a cold room or a truck."""

    name: str
    weather: FieldWeather
    soil: FieldSoil | None = None
    room: ColdRoom | None = None
    truck: ReeferTruck | None = None
    devices: list[str] = field(default_factory=list)


def _field_battery(rng: random.Random, env: Environment) -> Battery:
    weather = env.weather
    return Battery(rng.uniform(0.6, 0.95), 0.004, lambda t: weather.at(t).illuminance)


def _mains_battery(rng: random.Random) -> Battery:
    return Battery(rng.uniform(0.85, 0.95), 0.0)


def weather_station(env: Environment, rng: random.Random) -> SensorDevice:
    w = env.weather
    channels = [
        Channel("Temperature", "CEL", lambda t: w.at(t).air_temperature,
                rng.gauss(0.4, 0.7), 1.0, 0.1, 0.1, -40.0, 80.0),
        Channel("RelativeHumidity", "P1", lambda t: w.at(t).relative_humidity,
                rng.gauss(0.0, 2.0), 1.0, 0.5, 0.1, 0.0, 100.0),
        Channel("Illuminance", "LUX", lambda t: w.at(t).illuminance,
                0.0, rng.gauss(1.0, 0.08), 2.0, 1.0, 0.0, 65535.0),
        Channel("Pressure", "KPA", lambda t: w.at(t).pressure,
                rng.gauss(0.0, 0.05), 1.0, 0.01, 0.01, 30.0, 110.0),
    ]  # fmt: skip
    return SensorDevice("weather-station", channels, _field_battery(rng, env), rng)


def soil_probe(env: Environment, rng: random.Random) -> SensorDevice:
    soil = env.soil
    if soil is None:
        raise ValueError(f"{env.name} has no soil")
    spot = rng.gauss(0.0, 2.0)  # where the probe sits: wetter or drier spots
    channels = [
        Channel("VolumeFraction", "P1", lambda t: soil.at(t).water_content,
                spot + rng.gauss(0.0, 1.5), 1.0, 0.3, 0.1, 0.0, 60.0),
        Channel("Temperature", "CEL", lambda t: soil.at(t).temperature,
                rng.gauss(0.0, 0.3), 1.0, 0.05, 0.1, -20.0, 50.0),
        # dS/m from the model, sent as S/m (D10): 1 dS/m = 0.1 S/m.
        Channel("Conductivity", "D10", lambda t: soil.at(t).conductivity / 10.0,
                0.0, rng.gauss(1.0, 0.04), 0.002, 0.001, 0.0, 2.0),
    ]  # fmt: skip
    return SensorDevice("soil-probe", channels, _field_battery(rng, env), rng)


def coldroom_air(env: Environment, rng: random.Random) -> SensorDevice:
    room = env.room
    if room is None:
        raise ValueError(f"{env.name} is not a cold room")
    channels = [
        Channel("Temperature", "CEL", lambda t: room.at(t).air_temperature,
                rng.gauss(0.0, 0.2), 1.0, 0.05, 0.1, -40.0, 80.0),
        Channel("RelativeHumidity", "P1", lambda t: room.at(t).relative_humidity,
                rng.gauss(0.0, 2.0), 1.0, 0.5, 0.1, 0.0, 100.0),
    ]  # fmt: skip
    return SensorDevice("coldroom-air", channels, _mains_battery(rng), rng)


def coldroom_probe(env: Environment, rng: random.Random) -> SensorDevice:
    room = env.room
    if room is None:
        raise ValueError(f"{env.name} is not a cold room")
    channels = [
        Channel("Temperature", "CEL", lambda t: room.at(t).product_temperature,
                rng.gauss(0.0, 0.25), 1.0, 0.03, 0.0625, -55.0, 125.0),
    ]  # fmt: skip
    return SensorDevice("coldroom-probe", channels, _mains_battery(rng), rng)


def coldroom_co2(env: Environment, rng: random.Random) -> SensorDevice:
    room = env.room
    if room is None:
        raise ValueError(f"{env.name} is not a cold room")
    channels = [
        Channel("farm:CO2", "59", lambda t: room.at(t).co2,
                rng.gauss(0.0, 30.0), 1.0, 10.0, 1.0, 0.0, 10000.0),
    ]  # fmt: skip
    return SensorDevice("coldroom-co2", channels, _mains_battery(rng), rng)


def truck_logger(env: Environment, rng: random.Random) -> SensorDevice:
    truck = env.truck
    if truck is None:
        raise ValueError(f"{env.name} is not a truck")
    channels = [
        Channel("Temperature", "CEL", lambda t: truck.at(t).air_temperature,
                rng.gauss(0.0, 0.3), 1.0, 0.05, 0.1, -40.0, 80.0),
        Channel("RelativeHumidity", "P1", lambda t: truck.at(t).relative_humidity,
                rng.gauss(0.0, 2.0), 1.0, 0.5, 0.1, 0.0, 100.0),
    ]  # fmt: skip
    return SensorDevice("truck-logger", channels, _mains_battery(rng), rng)


Builder = Callable[[Environment, random.Random], SensorDevice]

# kind -> (environment type it needs, builder)
KINDS: dict[str, tuple[str, Builder]] = {
    "weather-station": ("field", weather_station),
    "soil-probe": ("field", soil_probe),
    "coldroom-air": ("coldroom", coldroom_air),
    "coldroom-probe": ("coldroom", coldroom_probe),
    "coldroom-co2": ("coldroom", coldroom_co2),
    "truck-logger": ("truck", truck_logger),
}
