"""A simulated device at run time: identity, sensors, faults, outbox record and link state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.sim.attacks import Attacker, Injection
from farmtrace.sim.faults import Faults, Tally
from farmtrace.sim.link import Link
from farmtrace.sim.outbox import DeviceRecord, Outbox
from farmtrace.sim.scenario import DeviceSpec
from farmtrace.sim.sensors.device import SensorDevice
from farmtrace.wire.protocol import Measurement, Reading, sign

log = logging.getLogger("farmtrace.sim")


@dataclass(frozen=True, slots=True)
class Taken:
    """A reading just stored in the outbox, and any attack messages that follow it."""

    seq: int
    payload: bytes
    injections: list[Injection]
    dropped: int | None


@dataclass(eq=False)
class Device:
    """One simulated device. ``cursor`` is the highest seq handed to the current connection."""

    spec: DeviceSpec
    key: Ed25519PrivateKey
    record: DeviceRecord
    sensor: SensorDevice
    faults: Faults
    attacker: Attacker | None
    link: Link
    reading_topic: str
    dropped_topic: str
    next_due: float = 0.0  # simulated time of the next reading
    inflight: dict[int, int] = field(default_factory=dict)  # mid -> seq
    cursor: int = 0
    backlog: bool = False
    ready: bool = False
    ready_at: float | None = None
    last_progress: float = 0.0
    published_floor: int = 0
    # Resends since the watermark last moved, and how many readings the current resend may
    # still send (None: no limit). See Delivery.check.
    stalled_resends: int = 0
    resend_budget: int | None = None

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def take_reading(self, t: float, elapsed: float, outbox: Outbox, tally: Tally) -> Taken | None:
        """Measure at simulated time ``t``, sign, and store in the outbox (not yet committed).

        None when a fault or a flat battery means there is no reading.
        """
        faults = self.faults
        if faults.seq_reset_due(elapsed):
            outbox.reset_sequence(self.record)
            self.cursor = 0
            self.inflight.clear()
            tally.record("seq-reset", self.device_id, at=elapsed)
        faults.prepare(elapsed)
        if faults.skip(elapsed, self.record.last_seq + 1):
            return None
        values = self.sensor.measure(t)
        if values is None:
            tally.record("brown-out", self.device_id, after_seq=self.record.last_seq)
            return None
        seq = self.record.last_seq + 1
        if faults.specs:
            values = faults.apply(values, elapsed, seq)
        skew = faults.skew(elapsed) if faults.specs else 0.0
        if skew:
            tally.record("clock-skew", self.device_id, seq=seq, seconds=skew)
        reading = Reading(
            self.device_id,
            seq,
            round((t + skew) * 1000),
            self.spec.site,
            self.spec.lot,
            tuple(Measurement(k, v, u) for k, v, u in values),
        )
        payload = sign(reading, self.key)
        dropped = outbox.add(self.record, seq, payload)
        injections = (
            self.attacker.after(reading, payload, elapsed) if self.attacker is not None else []
        )
        return Taken(seq, payload, injections, dropped)
