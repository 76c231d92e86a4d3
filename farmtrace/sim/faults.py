"""Sensor and device faults (FIELD.md; Sharma et al., ACM TOSN 2010), applied per device.

Each fault acts on simulated time since the start and is counted in ``Tally`` so a run's report
says what was injected: ``spike`` (single outliers such as the DS18B20's 85 °C power-on value),
``stuck`` (a value repeated), ``noise-burst`` (noise times a factor), ``drift`` (slow offset),
``dropout`` (no reading at all, the sequence number is not used), ``clock-skew`` (timestamps
shifted), ``seq-reset`` (the device forgets its counter, as after a re-flash), ``battery-drain``
(fast discharge until brown-out), ``link-down`` (the device loses the broker and queues), and
``power-loss`` (a cold room or truck warming without cooling).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from farmtrace.sim.sensors.device import SensorDevice
from farmtrace.sim.sensors.kinds import Environment
from farmtrace.sim.specs import Spec

EVENT_LOG_LIMIT = 10000


@dataclass
class Tally:
    """What faults and attacks did during a run, for the status line and the report."""

    counts: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self, kind: str, device_id: str, **detail: Any) -> None:
        self.counts[kind] += 1
        if len(self.events) < EVENT_LOG_LIMIT:
            self.events.append({"kind": kind, "device_id": device_id, **detail})


class Faults:
    """The faults of one device, applied around each of its measurements."""

    def __init__(
        self,
        device_id: str,
        specs: list[Spec],
        sensor: SensorDevice,
        environment: Environment,
        rng: random.Random,
        tally: Tally,
    ) -> None:
        self.device_id = device_id
        self.specs = specs
        self.sensor = sensor
        self.environment = environment
        self.rng = rng
        self.tally = tally
        self._reset_done: set[int] = set()
        self._link_windows_counted: set[int] = set()

    def _channels(self, spec: Spec) -> list[Any]:
        if spec.channel is None:
            return list(self.sensor.channels)
        channel = self.sensor.channel(spec.channel)
        return [channel] if channel is not None else []

    def prepare(self, elapsed: float) -> None:
        """Set channel, battery and environment state for a measurement at ``elapsed``."""
        for spec in self.specs:
            active = spec.active(elapsed)
            kind = spec.kind
            if kind == "noise-burst":
                for channel in self._channels(spec):
                    channel.noise_factor = (spec.factor or 8.0) if active else 1.0
            elif kind == "stuck" and not active:
                for channel in self._channels(spec):
                    channel.stuck = None
            elif kind == "drift" and active:
                days = (elapsed - spec.at) / 86400.0
                for channel in self._channels(spec):
                    channel.drift = (spec.value if spec.value is not None else 0.03) * days
            elif kind == "battery-drain":
                drain = spec.value if spec.value is not None else 0.2
                self.sensor.battery.extra_drain_per_hour = drain if active else 0.0
            elif kind == "power-loss":
                self._power_loss(spec, elapsed, active)

    def _power_loss(self, spec: Spec, elapsed: float, active: bool) -> None:
        rate = spec.value if spec.value is not None else 2.0
        room, truck = self.environment.room, self.environment.truck
        if room is not None:
            room.extra_heat = rate * (elapsed - spec.at) / 3600.0 if active else 0.0
        if truck is not None:
            truck.extra_heat_per_hour = rate if active else 0.0

    def skip(self, elapsed: float, seq_next: int) -> bool:
        """True when a dropout means no reading now (the sequence number is not used)."""
        for spec in self.specs:
            if (
                spec.kind == "dropout"
                and spec.active(elapsed)
                and (spec.rate is None or self.rng.random() < spec.rate)
            ):
                self.tally.record("dropout", self.device_id, after_seq=seq_next - 1)
                return True
        return False

    def apply(
        self, values: list[tuple[str, float, str]], elapsed: float, seq: int
    ) -> list[tuple[str, float, str]]:
        """Stuck values and spikes, on the values a measurement produced."""
        for spec in self.specs:
            if not spec.active(elapsed):
                continue
            if spec.kind == "stuck":
                for channel in self._channels(spec):
                    if channel.stuck is None:
                        channel.stuck = next(v for t, v, _ in values if t == channel.type)
                self.tally.record("stuck", self.device_id, seq=seq)
            elif spec.kind == "noise-burst":
                self.tally.record("noise-burst", self.device_id, seq=seq)
            elif spec.kind == "spike" and self.rng.random() < (spec.rate or 0.001):
                values = self._spike(spec, values, seq)
            elif spec.kind == "power-loss":
                self.tally.record("power-loss", self.device_id, seq=seq)
        return values

    def _spike(
        self, spec: Spec, values: list[tuple[str, float, str]], seq: int
    ) -> list[tuple[str, float, str]]:
        channels = self._channels(spec)
        if not channels:
            return values
        channel = self.rng.choice(channels)
        if spec.value is not None:
            spiked = spec.value
        elif channel.type == "Temperature":
            spiked = 85.0  # the DS18B20 power-on reset value
        else:
            spiked = channel.high
        self.tally.record("spike", self.device_id, seq=seq, type=channel.type, value=spiked)
        return [(t, spiked if t == channel.type else v, u) for t, v, u in values]

    def skew(self, elapsed: float) -> float:
        """Seconds to add to the timestamp (clock skew or a time jump)."""
        total = 0.0
        for spec in self.specs:
            if spec.kind == "clock-skew" and spec.active(elapsed):
                total += spec.value if spec.value is not None else 3600.0
        return total

    def seq_reset_due(self, elapsed: float) -> bool:
        """True once per seq-reset spec, when its time has come."""
        for index, spec in enumerate(self.specs):
            if spec.kind == "seq-reset" and index not in self._reset_done and elapsed >= spec.at:
                self._reset_done.add(index)
                return True
        return False

    def link_down(self, elapsed: float) -> bool:
        """True while a link-down fault keeps the device away from the broker."""
        for index, spec in enumerate(self.specs):
            if spec.kind == "link-down" and spec.active(elapsed):
                if index not in self._link_windows_counted:
                    self._link_windows_counted.add(index)
                    self.tally.record("link-down", self.device_id, at=elapsed)
                return True
        return False
