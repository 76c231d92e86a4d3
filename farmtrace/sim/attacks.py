"""Attacks for testing the gateway: payloads a correct gateway must refuse or ignore.

Each runs after one of the device's genuine readings and yields extra messages:

* ``replay``         an earlier genuine payload of the device, byte for byte;
* ``bad-signature``  a well-formed reading for the device's next seq, signed with a wrong key;
* ``tamper``         the genuine reading with its first value changed after signing;
* ``unknown-device`` a validly signed reading from a device whose key was never exported,
                     on that device's own topic (per-device broker ACLs should already stop it);
* ``malformed``      a payload the format rejects (truncated, bad magic, bad version,
                     trailing bytes, NaN value, random bytes), cycling through those;
* ``oversized``      a payload longer than ``MAX_PAYLOAD``.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.sim.specs import Spec
from farmtrace.wire import topics
from farmtrace.wire.protocol import MAX_PAYLOAD, SIGNATURE_BYTES, Measurement, Reading, encode, sign

MALFORMED = ("truncated", "bad-magic", "unsupported-version", "trailing-bytes", "nan", "garbage")


@dataclass(frozen=True, slots=True)
class Injection:
    """One attack message: where it goes, what it is, and what it imitates."""

    kind: str
    topic: str
    payload: bytes
    device_id: str
    seq: int | None
    variant: str = ""


class Attacker:
    """The attacks aimed at (or through) one device."""

    def __init__(self, farm: str, device_id: str, specs: list[Spec], rng: random.Random) -> None:
        self.farm = farm
        self.device_id = device_id
        self.specs = specs
        self.rng = rng
        self._history: deque[tuple[int, bytes]] = deque(maxlen=16)
        self._readings = 0
        self._done: dict[int, int] = {}
        self._malformed = 0
        self._rogue: tuple[str, Ed25519PrivateKey] | None = None
        self._rogue_seq = 0

    def after(self, reading: Reading, payload: bytes, elapsed: float) -> list[Injection]:
        """Attack messages to send after the genuine ``payload`` of ``reading``."""
        self._readings += 1
        out = []
        for index, spec in enumerate(self.specs):
            if not spec.active(elapsed) or self._done.get(index, 0) >= (spec.count or 2**62):
                continue
            if spec.every is not None and self._readings % spec.every:
                continue
            if spec.rate is not None and self.rng.random() >= spec.rate:
                continue
            injection = self._make(spec.kind, reading, payload)
            if injection is not None:
                self._done[index] = self._done.get(index, 0) + 1
                out.append(injection)
        self._history.append((reading.seq, payload))
        return out

    def _make(self, kind: str, reading: Reading, payload: bytes) -> Injection | None:
        topic = topics.reading_topic(self.farm, self.device_id)
        signed = payload[:-SIGNATURE_BYTES]
        if kind == "replay":
            if not self._history:
                return None
            seq, old = self._history[0]
            return Injection(kind, topic, old, self.device_id, seq)
        if kind == "bad-signature":
            forged = replace(reading, seq=reading.seq + 1)
            return Injection(
                kind, topic, sign(forged, Ed25519PrivateKey.generate()), self.device_id, forged.seq
            )
        if kind == "tamper":
            first = reading.measurements[0]
            altered = Measurement(first.type, first.value - 3.0, first.uom)
            changed = replace(reading, measurements=(altered, *reading.measurements[1:]))
            forged_payload = encode(changed) + payload[-SIGNATURE_BYTES:]
            return Injection(kind, topic, forged_payload, self.device_id, reading.seq)
        if kind == "unknown-device":
            return self._unknown(reading)
        if kind == "oversized":
            size = MAX_PAYLOAD + 1 + self.rng.randrange(MAX_PAYLOAD)
            return Injection(
                kind, topic, payload + bytes(size - len(payload)), self.device_id, reading.seq
            )
        variant = MALFORMED[self._malformed % len(MALFORMED)]
        self._malformed += 1
        return Injection(
            kind, topic, _malformed(variant, signed, payload, self.rng), self.device_id,
            reading.seq, variant,
        )  # fmt: skip

    def _unknown(self, reading: Reading) -> Injection:
        if self._rogue is None:
            rogue_id = f"urn:epc:id:giai:4012345.ROGUE-{self.rng.randrange(10**6):06d}"
            self._rogue = (rogue_id, Ed25519PrivateKey.generate())
        rogue_id, key = self._rogue
        self._rogue_seq += 1
        forged = replace(reading, device_id=rogue_id, seq=self._rogue_seq)
        return Injection(
            "unknown-device",
            topics.reading_topic(self.farm, rogue_id),
            sign(forged, key),
            rogue_id,
            forged.seq,
        )


def _malformed(variant: str, signed: bytes, payload: bytes, rng: random.Random) -> bytes:
    signature = payload[-SIGNATURE_BYTES:]
    if variant == "truncated":
        return payload[: rng.randrange(1, len(payload))]
    if variant == "bad-magic":
        return b"XX" + payload[2:]
    if variant == "unsupported-version":
        return payload[:2] + b"\xff" + payload[3:]
    if variant == "trailing-bytes":
        return signed + b"\x00\x00" + signature
    if variant == "nan":
        return signed[:-8] + struct.pack(">d", float("nan")) + signature
    return rng.randbytes(rng.randrange(1, 200))
