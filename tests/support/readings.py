"""Real signed readings for storage tests: devices with Ed25519 keys and the wire format."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.store.records import PendingReading
from farmtrace.wire import dropfloor
from farmtrace.wire.protocol import Measurement, Reading, sign

BASE_TIME_MS = 1_718_000_000_000


@dataclass(frozen=True)
class SimDevice:
    """A device with a deterministic key (from its ID) that signs readings."""

    device_id: str
    key: Ed25519PrivateKey

    @classmethod
    def make(cls, device_id: str) -> SimDevice:
        seed = hashlib.sha256(b"farmtrace-test-device/" + device_id.encode()).digest()
        return cls(device_id, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def reading(self, seq: int, value: float = 4.0) -> PendingReading:
        ts = BASE_TIME_MS + seq * 1000
        payload = sign(
            Reading(
                self.device_id,
                seq,
                ts,
                "farm-1/cold-room",
                "LOT-1",
                (Measurement("Temperature", value, "CEL"),),
            ),
            self.key,
        )
        return PendingReading(self.device_id, seq, ts, payload, ts / 1000 + 0.05)

    def drop_floor(self, floor: int, ts_ms: int = BASE_TIME_MS) -> bytes:
        """This device's signed drop floor payload (``farmtrace.wire.dropfloor``)."""
        return dropfloor.sign(dropfloor.DropFloor(self.device_id, floor, ts_ms), self.key)


def devices(count: int, prefix: str = "dev") -> list[SimDevice]:
    return [SimDevice.make(f"{prefix}-{i:04d}") for i in range(count)]


def batch(devs: list[SimDevice], seqs: range) -> list[PendingReading]:
    """One reading per device per seq, interleaved as a broker would deliver them."""
    return [d.reading(seq) for seq in seqs for d in devs]
