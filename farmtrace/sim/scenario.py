"""Scenarios: which farm, which places, which devices, and what goes wrong.

A scenario is a built-in name (``small-farm``) or a JSON file of the same shape::

    {"name": "small-farm", "farm": "greenacre", "latitude": 52.0, "longitude": 5.0,
     "company_prefix": "4012345",
     "environments": [
        {"name": "field-north", "type": "field", "lot": "",
         "devices": [{"kind": "weather-station", "count": 2, "interval": 60}]},
        {"name": "coldroom-1", "type": "coldroom", "setpoint": 1.0, "lot": "LOT-2026-0417",
         "devices": [{"kind": "coldroom-air", "count": 3, "interval": 60}]}],
     "faults": ["spike:rate=0.001"], "attacks": []}

Device IDs are GS1 GIAI EPC URNs, ``urn:epc:id:giai:<company prefix>.FT<env>-<KIND><n>``, so
the same scenario always yields the same IDs (and reuses the same keys and sequence numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmtrace.sim.errors import ConfigError
from farmtrace.sim.sensors.kinds import KINDS
from farmtrace.wire import topics
from farmtrace.wire.protocol import Measurement, ProtocolError, Reading, encode

ENV_TYPES = ("field", "coldroom", "truck")
_KIND_CODES = {
    "weather-station": "WS",
    "soil-probe": "SP",
    "coldroom-air": "CA",
    "coldroom-probe": "CP",
    "coldroom-co2": "CO",
    "truck-logger": "TL",
}


@dataclass(frozen=True)
class DeviceSpec:
    device_id: str
    kind: str
    environment: str
    site: str
    lot: str
    interval: float  # simulated seconds between readings


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    type: str
    setpoint: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    farm: str
    latitude: float
    longitude: float
    environments: list[EnvironmentSpec]
    devices: list[DeviceSpec]
    faults: list[str] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)


SMALL_FARM: dict[str, Any] = {
    "name": "small-farm",
    "farm": "greenacre",
    "latitude": 52.0,
    "longitude": 5.0,
    "company_prefix": "4012345",
    "environments": [
        {
            "name": "field-north",
            "type": "field",
            "lot": "HARVEST-2026-N",
            "devices": [
                {"kind": "weather-station", "count": 2, "interval": 60},
                {"kind": "soil-probe", "count": 4, "interval": 900},
            ],
        },
        {
            "name": "field-south",
            "type": "field",
            "lot": "HARVEST-2026-S",
            "devices": [
                {"kind": "weather-station", "count": 2, "interval": 60},
                {"kind": "soil-probe", "count": 4, "interval": 900},
            ],
        },
        {
            "name": "coldroom-1",
            "type": "coldroom",
            "setpoint": 1.0,
            "lot": "LOT-2026-0417",
            "devices": [
                {"kind": "coldroom-air", "count": 3, "interval": 60},
                {"kind": "coldroom-probe", "count": 2, "interval": 120},
                {"kind": "coldroom-co2", "count": 1, "interval": 300},
            ],
        },
        {
            "name": "truck-1",
            "type": "truck",
            # It carries the lettuce lot: held at the lettuce band's optimum, like the cold room.
            "setpoint": 1.0,
            "lot": "LOT-2026-0417",
            "devices": [{"kind": "truck-logger", "count": 2, "interval": 60}],
        },
    ],
}

BUILT_IN = {"small-farm": SMALL_FARM}


def _get(data: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: missing {key!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be {kind.__name__}, got {value!r}")
    return value


def from_dict(data: dict[str, Any]) -> Scenario:
    """Validate and expand a scenario description (device IDs, sites)."""
    name = _get(data, "name", str, "scenario", "scenario")
    farm = _get(data, "farm", str, name)
    try:
        topics.check_farm(farm)
    except ProtocolError as err:
        raise ConfigError(f"{name}: {err}") from err
    prefix = _get(data, "company_prefix", str, name, "4012345")
    environments: list[EnvironmentSpec] = []
    devices: list[DeviceSpec] = []
    for env_no, env in enumerate(_get(data, "environments", list, name), start=1):
        where = f"{name}: environment {env_no}"
        if not isinstance(env, dict):
            raise ConfigError(f"{where}: must be an object")
        env_name = _get(env, "name", str, where)
        env_type = _get(env, "type", str, where)
        if env_type not in ENV_TYPES:
            raise ConfigError(f"{where}: type must be one of {', '.join(ENV_TYPES)}")
        setpoint = env.get("setpoint")
        if setpoint is not None and not isinstance(setpoint, int | float):
            raise ConfigError(f"{where}: setpoint must be a number")
        environments.append(EnvironmentSpec(env_name, env_type, setpoint))
        lot = _get(env, "lot", str, where, "")
        for group in _get(env, "devices", list, where):
            devices += _devices(
                group, env_name, env_type, env_no, lot, f"{farm}/{env_name}", prefix, where
            )
    if not devices:
        raise ConfigError(f"{name}: no devices")
    ids = [d.device_id for d in devices]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{name}: device IDs are not unique")
    return Scenario(
        name=name,
        farm=farm,
        latitude=_get(data, "latitude", float, name, 52.0),
        longitude=_get(data, "longitude", float, name, 5.0),
        environments=environments,
        devices=devices,
        faults=list(_get(data, "faults", list, name, [])),
        attacks=list(_get(data, "attacks", list, name, [])),
    )


def _devices(
    group: Any, env_name: str, env_type: str, env_no: int, lot: str, site: str, prefix: str,
    where: str,
) -> list[DeviceSpec]:  # fmt: skip
    if not isinstance(group, dict):
        raise ConfigError(f"{where}: each device group must be an object")
    kind = _get(group, "kind", str, where)
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown device kind {kind!r}; known: {', '.join(KINDS)}")
    if KINDS[kind][0] != env_type:
        raise ConfigError(f"{where}: a {kind} belongs in a {KINDS[kind][0]}, not a {env_type}")
    count = _get(group, "count", int, where, 1)
    interval = _get(group, "interval", float, where, 60.0)
    if count < 1 or interval <= 0:
        raise ConfigError(f"{where}: count must be at least 1 and interval positive")
    out = []
    for n in range(1, count + 1):
        device_id = f"urn:epc:id:giai:{prefix}.FT{env_no:02d}-{_KIND_CODES[kind]}{n:02d}"
        try:  # the tags must fit the wire format: find out now, not at the first reading
            encode(Reading(device_id, 1, 0, site, lot, (Measurement("Temperature", 0.0, "CEL"),)))
        except ProtocolError as err:
            raise ConfigError(f"{where}: {err}") from err
        out.append(DeviceSpec(device_id, kind, env_name, site, lot, interval))
    return out


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a JSON scenario file."""
    if name_or_path in BUILT_IN:
        return from_dict(BUILT_IN[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"no scenario {name_or_path!r}: not a built-in ({', '.join(BUILT_IN)}) nor a file"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read scenario {path}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario is a JSON object")
    return from_dict(data)


def fleet(devices: int, interval: float, farm: str = "fleet", per_site: int = 40) -> Scenario:
    """``--devices N``: N devices in sites of ``per_site``, each a field, a cold room and a truck.

    Kinds cycle so a fleet looks like many small farms; IDs are ``...4012345.SIM-000001``.
    """
    if devices < 1 or interval <= 0:
        raise ConfigError("--devices must be at least 1 and --interval positive")
    environments: list[EnvironmentSpec] = []
    out: list[DeviceSpec] = []
    plan = (("field", "weather-station"), ("field", "soil-probe"), ("coldroom", "coldroom-air"), ("truck", "truck-logger"))  # fmt: skip
    for n in range(devices):
        site_no = n // per_site + 1
        env_type, kind = plan[n % len(plan)]
        env_name = f"site-{site_no:03d}-{env_type}"
        if all(e.name != env_name for e in environments[-len(plan) :]):
            environments.append(EnvironmentSpec(env_name, env_type, None))
        out.append(
            DeviceSpec(
                f"urn:epc:id:giai:4012345.SIM-{n + 1:06d}", kind, env_name,
                f"{farm}/{env_name}", "", interval,
            )
        )  # fmt: skip
    return Scenario("fleet", farm, 52.0, 5.0, environments, out)
