"""Fault and attack descriptions: ``KIND[:key=value,...]`` on the command line or in a scenario.

Examples::

    spike:rate=0.01                      every device, 1 % of readings get an outlier
    stuck:match=*WS01,at=2h,for=3h       one station repeats its last values for 3 hours
    link-down:devices=5,at=10m,for=30m   five devices lose the broker for 30 minutes
    replay:every=20,count=3              every 20th reading, a copy of an old one (3 per device)

Times accept ``s``, ``m``, ``h``, ``d`` suffixes and are simulated time after the start.
Unknown kinds or keys, and keys a kind does not use, are a ConfigError naming them.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass

from farmtrace.sim.errors import ConfigError

_COMMON = frozenset(("match", "devices", "at", "for"))
FAULT_KEYS: dict[str, frozenset[str]] = {
    "spike": frozenset(("rate", "channel", "value")),
    "stuck": frozenset(("channel",)),
    "noise-burst": frozenset(("factor", "channel")),
    "drift": frozenset(("value", "channel")),  # value: units per day
    "dropout": frozenset(("rate",)),
    "clock-skew": frozenset(("value",)),  # value: seconds added to timestamps
    "seq-reset": frozenset(),
    "battery-drain": frozenset(("value",)),  # value: charge fraction per hour
    "link-down": frozenset(),
    "power-loss": frozenset(("value",)),  # value: °C per hour
}
ATTACK_KEYS: dict[str, frozenset[str]] = {
    kind: frozenset(("every", "rate", "count"))
    for kind in ("replay", "bad-signature", "tamper", "unknown-device", "malformed", "oversized")
}

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, what: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h`` or ``1.5d``."""
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise ConfigError(f"{what}: {text!r} is not a duration such as 30s, 15m, 2h or 1d")
    return float(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class Spec:
    """One fault or attack and the devices and simulated time window it applies to."""

    kind: str
    match: str = "*"
    devices: int | None = None
    at: float = 0.0
    duration: float | None = None
    rate: float | None = None
    every: int | None = None
    count: int | None = None
    factor: float | None = None
    value: float | None = None
    channel: str | None = None
    text: str = ""

    def active(self, elapsed: float) -> bool:
        """True while simulated ``elapsed`` seconds since the start lie in the window."""
        if elapsed < self.at:
            return False
        return self.duration is None or elapsed < self.at + self.duration

    def selects(self, device_id: str) -> bool:
        return fnmatch.fnmatchcase(device_id, self.match)


def _number(key: str, raw: str, text: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{text!r}: {key}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{text!r}: {key} must be finite")
    return value


def _positive_int(key: str, raw: str, text: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{text!r}: {key}={raw!r} must be a whole number of at least 1")
    return int(raw)


def parse_spec(text: str, table: dict[str, frozenset[str]], what: str) -> Spec:
    """Parse ``KIND[:key=value,...]`` against ``table`` (FAULT_KEYS or ATTACK_KEYS)."""
    kind, _, rest = text.strip().partition(":")
    if kind not in table:
        raise ConfigError(f"unknown {what} {kind!r}; known: {', '.join(sorted(table))}")
    allowed = table[kind] | _COMMON
    fields: dict[str, object] = {"kind": kind, "text": text}
    for item in filter(None, rest.split(",")):
        key, sep, raw = item.partition("=")
        key = key.strip()
        raw = raw.strip()
        if not sep or not raw:
            raise ConfigError(f"{text!r}: expected key=value, got {item!r}")
        if key not in allowed:
            raise ConfigError(f"{text!r}: {kind} takes {', '.join(sorted(allowed))}, not {key!r}")
        if key in ("at", "for"):
            fields["duration" if key == "for" else "at"] = parse_duration(raw, f"{text!r} {key}")
        elif key in ("devices", "every", "count"):
            fields[key] = _positive_int(key, raw, text)
        elif key in ("rate", "factor", "value"):
            fields[key] = _number(key, raw, text)
        else:
            fields[key] = raw
    spec = Spec(**fields)  # type: ignore[arg-type]
    if spec.rate is not None and not 0.0 <= spec.rate <= 1.0:
        raise ConfigError(f"{text!r}: rate must be between 0 and 1")
    return spec


def parse_faults(texts: list[str]) -> list[Spec]:
    return [parse_spec(t, FAULT_KEYS, "fault") for t in texts]


def parse_attacks(texts: list[str]) -> list[Spec]:
    return [parse_spec(t, ATTACK_KEYS, "attack") for t in texts]


def assign(specs: list[Spec], device_ids: list[str]) -> dict[str, list[Spec]]:
    """Which specs apply to which device: ``match`` filters, ``devices`` keeps the first N."""
    out: dict[str, list[Spec]] = {d: [] for d in device_ids}
    for spec in specs:
        chosen = [d for d in device_ids if spec.selects(d)]
        if not chosen:
            raise ConfigError(f"{spec.text!r}: match={spec.match!r} selects no device")
        for device_id in chosen[: spec.devices]:
            out[device_id].append(spec)
    return out
