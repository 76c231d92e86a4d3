"""Build a scenario's world: environments, devices with their keys, records, faults, links."""

from __future__ import annotations

import random
import selectors

from farmtrace.sim.attacks import Attacker
from farmtrace.sim.faults import Faults, Tally
from farmtrace.sim.identity import Keystore
from farmtrace.sim.link import BrokerConfig, Link, LinkEvents
from farmtrace.sim.outbox import Outbox
from farmtrace.sim.runtime import Device
from farmtrace.sim.scenario import Scenario
from farmtrace.sim.sensors.coldroom import ColdRoom
from farmtrace.sim.sensors.kinds import KINDS, Environment
from farmtrace.sim.sensors.soil import FieldSoil
from farmtrace.sim.sensors.truck import ReeferTruck
from farmtrace.sim.sensors.weather import FieldWeather
from farmtrace.sim.specs import Spec, assign
from farmtrace.wire import topics


def build_environments(scenario: Scenario, seed: int) -> dict[str, Environment]:
    """One weather for the farm (its fields, rooms and trucks share a sky); soil per field."""
    weather = FieldWeather(
        random.Random(f"{seed}:{scenario.farm}:weather"), scenario.latitude, scenario.longitude
    )
    out: dict[str, Environment] = {}
    for spec in scenario.environments:
        rng = random.Random(f"{seed}:{scenario.farm}:{spec.name}")
        env = Environment(spec.name, weather)
        if spec.type == "field":
            env.soil = FieldSoil(weather, water_content=rng.uniform(24.0, 30.0))
        elif spec.type == "coldroom":
            setpoint = spec.setpoint if spec.setpoint is not None else 2.0
            env.room = ColdRoom(rng, setpoint=setpoint, longitude=scenario.longitude)
        else:
            setpoint = spec.setpoint if spec.setpoint is not None else 3.0
            env.truck = ReeferTruck(rng, weather, setpoint=setpoint)
        out[spec.name] = env
    return out


def build_devices(
    scenario: Scenario,
    *,
    seed: int,
    keystore: Keystore,
    outbox: Outbox,
    broker: BrokerConfig,
    selector: selectors.BaseSelector,
    events: LinkEvents,
    until_committed: bool,
    faults: list[Spec],
    attacks: list[Spec],
    tally: Tally,
    start: float,
) -> list[Device]:
    """Every device of the scenario, first reading scheduled at a random phase after ``start``."""
    environments = build_environments(scenario, seed)
    ids = [d.device_id for d in scenario.devices]
    fault_plan = assign(faults, ids)
    attack_plan = assign(attacks, ids)
    devices = []
    for spec in scenario.devices:
        rng = random.Random(f"{seed}:{spec.device_id}")
        env = environments[spec.environment]
        env.devices.append(spec.device_id)
        sensor = KINDS[spec.kind][1](env, rng)
        link = Link(spec.device_id, scenario.farm, broker, selector, events, until_committed)
        device_attacks = attack_plan[spec.device_id]
        device = Device(
            spec=spec,
            key=keystore.load_or_create(spec.device_id),
            record=outbox.register(spec.device_id),
            sensor=sensor,
            faults=Faults(spec.device_id, fault_plan[spec.device_id], sensor, env, rng, tally),
            attacker=Attacker(scenario.farm, spec.device_id, device_attacks, rng)
            if device_attacks
            else None,
            link=link,
            reading_topic=topics.reading_topic(scenario.farm, spec.device_id),
            dropped_topic=topics.dropped_topic(scenario.farm, spec.device_id),
            next_due=start + rng.uniform(0.0, spec.interval),
        )
        link.owner = device
        devices.append(device)
    outbox.flush()
    return devices
