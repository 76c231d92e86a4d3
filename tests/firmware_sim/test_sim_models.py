"""Sensor models behave like FIELD.md says, deterministically for a seed."""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from datetime import datetime

import pytest

from farmtrace.sim import scenario as scenarios
from farmtrace.sim.errors import ConfigError
from farmtrace.sim.sensors import solar
from farmtrace.sim.sensors.coldroom import ColdRoom
from farmtrace.sim.sensors.device import Battery, Channel
from farmtrace.sim.sensors.soil import FIELD_CAPACITY, IRRIGATE_BELOW, SATURATION, FieldSoil
from farmtrace.sim.sensors.truck import ReeferTruck
from farmtrace.sim.sensors.weather import FieldWeather, magnus_rh
from farmtrace.sim.specs import assign, parse_attacks, parse_duration, parse_faults
from farmtrace.sim.world import build_environments

SUMMER = datetime.fromisoformat("2026-06-29T00:00:00Z").timestamp()
HOUR = 3600.0


def test_magnus() -> None:
    assert magnus_rh(20.0, 20.0) == pytest.approx(100.0)
    assert magnus_rh(20.0, 25.0) == 100.0  # capped
    assert 40 < magnus_rh(25.0, 11.0) < 45  # a dry summer afternoon


def test_day_curve_and_humidity() -> None:
    weather = FieldWeather(random.Random(7))
    peaks, dawn_rh, afternoon_rh = [], [], []
    for day in range(14):
        samples = [
            (m / 60, weather.at(SUMMER + day * 86400 + m * 60)) for m in range(0, 24 * 60, 10)
        ]
        hottest = max(samples, key=lambda s: s[1].air_temperature)
        peaks.append(solar.solar_hour(SUMMER + day * 86400 + hottest[0] * HOUR, weather.longitude))
        dawn_rh += [s.relative_humidity for h, s in samples if 4.5 <= h < 6 and not s.raining]
        afternoon_rh += [s.relative_humidity for h, s in samples if 14 <= h < 16 and not s.raining]
        assert all(s.relative_humidity <= 100.0 for _, s in samples)
        assert all(s.illuminance == 0.0 for h, s in samples if h < 2 or h > 22.5)
        assert all(95.0 < s.pressure < 106.0 for _, s in samples)
    assert 13.0 < statistics.median(peaks) < 16.5  # the maximum lags noon by ~2.6 h
    assert statistics.mean(dawn_rh) - statistics.mean(afternoon_rh) > 20


def test_soil_rain_drainage_and_irrigation() -> None:
    weather = FieldWeather(random.Random(3), tmax_mean=28.0)
    soil = FieldSoil(weather, water_content=30.0)
    series = [soil.at(SUMMER + h * HOUR).water_content for h in range(0, 60 * 24)]
    assert all(10.8 <= v <= SATURATION for v in series)
    assert soil.irrigations >= 1  # a hot summer dries the loam to the trigger
    assert min(series) > IRRIGATE_BELOW - 2.0  # and the controller catches it there
    # Above field capacity it drains back within days.
    wet = [i for i, v in enumerate(series) if v > FIELD_CAPACITY + 1]
    for i in wet:
        assert min(series[i : i + 96]) < FIELD_CAPACITY + 1


def test_cold_room_sawtooth_doors_defrost() -> None:
    room = ColdRoom(random.Random(5), setpoint=2.0)
    samples = [room.at(SUMMER + m * 60.0) for m in range(0, 3 * 24 * 60)]
    air = [s.air_temperature for s in samples]
    near = sum(1 for a in air if abs(a - 2.0) <= 1.0) / len(air)
    assert near > 0.75
    assert max(air) > 5.0  # defrosts and doors
    defrost_starts = [
        i for i in range(1, len(samples)) if samples[i].defrosting and not samples[i - 1].defrosting
    ]
    gaps = [(b - a) / 60 for a, b in itertools.pairwise(defrost_starts)]
    assert len(defrost_starts) >= 5 and all(5.5 <= g <= 12.5 for g in gaps)
    product = [s.product_temperature for s in samples]
    assert statistics.pstdev(product) < statistics.pstdev(air)
    assert all(400 <= s.co2 <= 5000 for s in samples)
    opened = Counter(
        int(solar.solar_hour(SUMMER + i * 60.0, 5.0)) for i, s in enumerate(samples) if s.door_open
    )
    working = sum(n for h, n in opened.items() if 7 <= h < 18)
    assert working > 0.7 * sum(opened.values())


def test_reefer_truck_day() -> None:
    weather = FieldWeather(random.Random(11))
    truck = ReeferTruck(random.Random(12), weather, setpoint=3.0)
    by_hour: dict[int, list[float]] = {}
    for m in range(0, 24 * 60, 2):
        t = SUMMER + m * 60.0
        by_hour.setdefault(int(solar.solar_hour(t, 5.0)), []).append(truck.at(t).air_temperature)
    transit = [v for h in range(6, 13) for v in by_hour[h]]
    assert statistics.median(transit) < 5.0 and max(transit) > 5.5  # door openings at drops
    evening = statistics.mean(by_hour[20])
    assert evening > 8.0  # unit off, box near ambient


def test_channel_resolution_and_battery() -> None:
    probe = Channel("Temperature", "CEL", lambda t: 1.234567, 0.0, 1.0, 0.0, 0.0625, -55, 125)
    assert probe.read(0.0, random.Random(0)) == 1.25
    clipped = Channel("RelativeHumidity", "P1", lambda t: 104.0, 0.0, 1.0, 0.0, 0.1, 0, 100)
    assert clipped.read(0.0, random.Random(0)) == 100.0
    battery = Battery(0.3, drain_per_hour=0.1)
    assert battery.voltage(0.0) == pytest.approx(3.36)
    battery.voltage(HOUR)
    assert battery.browned_out


def test_same_seed_same_world() -> None:
    def first_values(seed: int) -> list[float]:
        envs = build_environments(scenarios.load("small-farm"), seed)
        return [envs["field-north"].weather.at(SUMMER + i * 600).air_temperature for i in range(50)]

    assert first_values(1) == first_values(1)
    assert first_values(1) != first_values(2)


def test_small_farm() -> None:
    farm = scenarios.load("small-farm")
    assert farm.farm == "greenacre" and len(farm.devices) == 20
    assert Counter(e.type for e in farm.environments) == {"field": 2, "coldroom": 1, "truck": 1}
    assert all(d.device_id.startswith("urn:epc:id:giai:4012345.FT0") for d in farm.devices)
    assert len({d.device_id for d in farm.devices}) == 20


def test_fleet_ids() -> None:
    fleet = scenarios.fleet(90, 1.0)
    assert fleet.devices[0].device_id == "urn:epc:id:giai:4012345.SIM-000001"
    assert len({d.environment for d in fleet.devices}) == len(fleet.environments) == 9


def test_specs() -> None:
    assert parse_duration("90", "x") == 90 and parse_duration("1.5h", "x") == 5400
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("an hour", "x")
    (spec,) = parse_faults(["stuck:match=*WS*,at=1h,for=30m,devices=2"])
    assert (spec.kind, spec.at, spec.duration, spec.devices) == ("stuck", 3600, 1800, 2)
    assert spec.active(3600) and not spec.active(5400) and not spec.active(10)
    plan = assign([spec], ["a-WS1", "b-WS2", "c-WS3", "d-SP1"])
    assert [d for d, specs in plan.items() if specs] == ["a-WS1", "b-WS2"]
    with pytest.raises(ConfigError, match="takes"):
        parse_attacks(["replay:factor=2"])
    with pytest.raises(ConfigError, match="whole number"):
        parse_attacks(["replay:every=0"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_faults(["spike:rate"])
