"""The hostile corpus: every kind of bad MQTT message the gateway must quarantine, named, with
the outcome ``docs/gateway.md`` promises for it.

One copy, used by the unit tests (each case through the real batcher and judge), the
integration test (each case injected into a real Mosquitto and ``farmtrace gateway`` beside an
honest stream) and ``farmtrace bench ingest --hostile-share`` (the honest rate with junk mixed
in). Build it with :func:`build_corpus`:

* ``devices``: the corpus's own devices, each with its deterministic key. ``anchor``, ``jumper``
  and ``drifter`` and ``revoked`` are to be registered (``revoked`` then revoked); ``stranger``
  never is. Honest traffic runs on other devices, so the corpus never disturbs it.
* ``prelude``: messages to publish and have committed before the cases that need stored
  readings (``altered``, ``seq-conflict``, ``replay``, ``stale-seq`` and the two flagged cases):
  ``anchor`` readings 1, 2, 3 and 5 and its drop floor 4 (so its watermark is 5), and reading 1
  of ``jumper`` and ``drifter``. A ``replay`` is only a replay once the gateway has published
  ``anchor``'s watermark at least ``--replay-grace`` seconds before the copy arrives.
* ``cases``: one :class:`HostileCase` per kind. ``expect`` is a quarantine reason code
  (:mod:`gateway.ingest.reasons`), or one of :data:`STORED_SEQUENCE_SKIP` and
  :data:`STORED_CLOCK_BACKWARDS` for the two kinds the gateway stores and flags instead (a
  genuine reading from a device that skipped seqs or whose clock went back: dropping it would
  lose data and hide the fault). Copies of those two are duplicates (each leaves a gap below
  it, so the device's watermark never covers it and a copy cannot count as a replay).

Every case's ``(topic, payload)`` is unique, so a quarantine row names its case.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_sim import topics
from firmware_sim.protocol import MAX_PAYLOAD, Measurement, Reading, sign
from gateway.ingest import reasons

__all__ = [
    "STORED_CLOCK_BACKWARDS",
    "STORED_SEQUENCE_SKIP",
    "Corpus",
    "CorpusDevice",
    "HostileCase",
    "build_corpus",
]

STORED_SEQUENCE_SKIP = "stored:sequence-skip"
"""Stored, logged and counted as a sequence skip (``sequence_gaps_total``, device health)."""
STORED_CLOCK_BACKWARDS = "stored:clock-backwards"
"""Stored, logged and counted as a clock going backwards (``clock_backwards_total``)."""

_ROLES = ("anchor", "jumper", "drifter", "revoked", "stranger")
_SITE = "hostile/cold-room"
_LOT = "LOT-HOSTILE"
_ED25519_L = 2**252 + 27742317777372353535851937790883648493
_JUMP_SEQ = 10**12
_NEEDS_PRELUDE = frozenset(
    {
        "altered-after-signing",
        "seq-reused-other-content",
        "replay-of-stored",
        "seq-declared-dropped",
        "huge-seq-jump",
        "clock-backwards",
    }
)


@dataclass(frozen=True)
class CorpusDevice:
    """A device of the corpus: ``role`` (see the module docstring), ID and private key."""

    role: str
    device_id: str
    key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()


@dataclass(frozen=True)
class HostileCase:
    """One kind of bad message: what it is, where it goes and what must become of it."""

    kind: str
    topic: str
    payload: bytes
    expect: str
    needs_prelude: bool = False

    @property
    def quarantined(self) -> bool:
        """Whether the gateway must quarantine it (else it stores and flags it)."""
        return not self.expect.startswith("stored:")


@dataclass(frozen=True)
class Corpus:
    farm: str
    devices: dict[str, CorpusDevice]
    prelude: list[tuple[str, bytes]]
    cases: list[HostileCase]

    @property
    def registered(self) -> dict[str, bytes]:
        """Device ID to public key of every device to register (all but ``stranger``)."""
        return {d.device_id: d.public_key for r, d in self.devices.items() if r != "stranger"}

    @property
    def revoked(self) -> str:
        """The device to revoke after registering it."""
        return self.devices["revoked"].device_id

    @property
    def prelude_readings(self) -> int:
        """Readings among the prelude (the rest are drop floors)."""
        return sum(1 for t, _ in self.prelude if t.endswith("/reading"))

    def by_message(self) -> dict[tuple[str, bytes], HostileCase]:
        """Each case by its ``(topic, payload)``."""
        return {(c.topic, c.payload): c for c in self.cases}


def _device(tag: str, role: str) -> CorpusDevice:
    seed = hashlib.sha256(f"farmtrace-hostile/{tag}/{role}".encode()).digest()
    name = f"urn:epc:id:giai:4012345.HOSTILE-{tag}-{role.upper()}"
    return CorpusDevice(role, name, Ed25519PrivateKey.from_private_bytes(seed))


def _string(raw: bytes) -> bytes:
    return bytes((len(raw),)) + raw


@dataclass
class _Raw:
    """A reading's signed bytes built field by field with no validation, to break any rule."""

    device: bytes
    seq: int
    timestamp_ms: int
    site: bytes = _SITE.encode()
    lot: bytes = _LOT.encode()
    kinds: tuple[tuple[bytes, bytes, bytes], ...] = (
        (b"Temperature", b"CEL", struct.pack(">d", 4.0)),
        (b"Voltage", b"VLT", struct.pack(">d", 3.7)),
    )
    magic: bytes = b"FT"
    version: int = 1
    count: int | None = None
    lot_prefix: int | None = None  # a length byte that lies about the lot
    trailing: bytes = b""

    def signed_bytes(self) -> bytes:
        head = self.magic + bytes((self.version,))
        head += struct.pack(">QQ", self.seq % 2**64, self.timestamp_ms % 2**64)
        lot = _string(self.lot) if self.lot_prefix is None else bytes((self.lot_prefix,)) + self.lot
        parts = [head, _string(self.device), _string(self.site), lot]
        parts.append(bytes((len(self.kinds) if self.count is None else self.count,)))
        parts += [_string(t) + _string(u) + v for t, u, v in self.kinds]
        return b"".join(parts) + self.trailing

    def signed_by(self, key: Ed25519PrivateKey) -> bytes:
        body = self.signed_bytes()
        return body + key.sign(body)


def _value(number: float) -> bytes:
    return struct.pack(">d", number)


def build_corpus(farm: str, now_ms: int, tag: str = "T") -> Corpus:
    """The corpus for devices on ``farm``, timestamps relative to ``now_ms`` (the time it is
    published; ``--max-age`` and ``--max-future`` are judged against arrival), device IDs
    unique to ``tag`` (so a database can hold several runs)."""
    devs = {role: _device(tag, role) for role in _ROLES}
    anchor, jumper, drifter = devs["anchor"], devs["jumper"], devs["drifter"]

    def reading(dev: CorpusDevice, seq: int, value: float = 4.0, ts_ms: int | None = None) -> bytes:
        return sign(
            Reading(
                dev.device_id,
                seq,
                now_ms - 60_000 + seq % 1000 * 10 if ts_ms is None else ts_ms,
                _SITE,
                _LOT,
                (Measurement("Temperature", value, "CEL"), Measurement("Voltage", 3.7, "VLT")),
            ),
            dev.key,
        )

    def topic(dev: CorpusDevice) -> str:
        return topics.reading_topic(farm, dev.device_id)

    prelude = [(topic(anchor), reading(anchor, s)) for s in (1, 2, 3, 5)]
    prelude.append((topics.dropped_topic(farm, anchor.device_id), b"4"))
    prelude += [(topic(jumper), reading(jumper, 1)), (topic(drifter), reading(drifter, 1))]

    fresh = iter(range(100, 1000))  # anchor seqs above anything stored, one per case

    def raw(**changes: object) -> _Raw:
        seq = next(fresh)
        fields: dict[str, object] = {
            "device": anchor.device_id.encode(),
            "seq": seq,
            "timestamp_ms": now_ms - 60_000 + seq,
        }
        fields.update(changes)
        return _Raw(**fields)  # type: ignore[arg-type]

    def signed_raw(**changes: object) -> bytes:
        return raw(**changes).signed_by(anchor.key)

    def fresh_reading(**changes: float | int) -> bytes:
        return reading(anchor, next(fresh), **changes)  # type: ignore[arg-type]

    good = fresh_reading()
    cases: list[HostileCase] = []
    mal = reasons.malformed
    at = topic(anchor)

    def add(kind: str, payload: bytes, expect: str, where: str = at) -> None:
        cases.append(HostileCase(kind, where, payload, expect, kind in _NEEDS_PRELUDE))

    # The wire format (docs/wire-format.md): rejected by the decoder before any key is looked at.
    add("empty", b"", mal("truncated"))
    add("one-byte", b"F", mal("truncated"))
    add("truncated-in-seq", good[:8], mal("truncated"))
    add("truncated-header-only", good[:83], mal("truncated"))
    add("truncated-last-byte", fresh_reading()[:-1], mal("truncated"))
    add("signature-missing", raw().signed_bytes(), mal("truncated"))
    add("oversized-1025", fresh_reading().ljust(MAX_PAYLOAD + 1, b"\0"), mal("oversized"))
    add("oversized-256k", fresh_reading() + bytes(256 * 1024), mal("oversized"))
    add("wrong-magic", signed_raw(magic=b"XX"), mal("bad-magic"))
    add("json-instead-of-binary", _json_payload(anchor.device_id, now_ms), mal("bad-magic"))
    add("wrong-version", signed_raw(version=2), mal("unsupported-version"))
    add("unknown-trailing-field", signed_raw(trailing=b"\x07extra=1"), mal("trailing-bytes"))
    add("no-measurements", signed_raw(count=0, kinds=()), mal("no-measurements"))
    add("too-many-measurements", signed_raw(count=13), mal("too-many-measurements"))
    add("empty-device-id", signed_raw(device=b""), mal("empty-field"))
    add("overlong-device-id", signed_raw(device=b"d" * 200), mal("field-too-long"))
    add("length-prefix-past-end", signed_raw(lot_prefix=64), mal("truncated"))
    add("device-id-bad-characters", signed_raw(device=b"dev/+#"), mal("bad-device-id"))
    add("site-bad-utf8", signed_raw(site=b"cold-\xff\xfe"), mal("bad-utf8"))
    add("lot-overlong-utf8", signed_raw(lot=b"LOT-\xc0\xaf"), mal("bad-utf8"))
    add("lot-utf8-surrogate", signed_raw(lot=b"LOT-\xed\xa0\x80"), mal("bad-utf8"))
    add("site-ansi-escape", signed_raw(site=b"cold\x1b[31mroom"), mal("bad-text"))
    add("lot-c1-control", signed_raw(lot="LOT\u0085".encode()), mal("bad-text"))
    add(
        "bad-measurement-type",
        _kind(raw, b"Temp-erature", b"CEL", anchor),
        mal("bad-measurement-type"),
    )
    add("lowercase-unit", _kind(raw, b"Temperature", b"cel", anchor), mal("bad-unit"))
    add("unit-too-long", _kind(raw, b"Temperature", b"CELS", anchor), mal("field-too-long"))
    add("type-too-long", _kind(raw, b"T" * 41, b"CEL", anchor), mal("field-too-long"))
    add("duplicate-type", _kind(raw, b"Voltage", b"VLT", anchor), mal("duplicate-type"))
    for name, bits in (
        ("nan", 0x7FF8000000000000),
        ("nan-with-payload", 0x7FF0000000000001),
        ("plus-infinity", 0x7FF0000000000000),
        ("minus-infinity", 0xFFF0000000000000),
    ):
        add(f"value-{name}", _bits_value(raw, bits, anchor), mal("non-finite-value"))
    # Authenticity: the payload is well formed; the signature or the registry says no.
    add("signature-bit-flip", _flip(fresh_reading(), -1), reasons.BAD_SIGNATURE)
    add("signature-zeros", fresh_reading()[:-64] + bytes(64), reasons.BAD_SIGNATURE)
    add("signature-s-plus-l", _malleable(fresh_reading()), reasons.BAD_SIGNATURE)
    add("content-changed-unstored", _flip(fresh_reading(), -70), reasons.BAD_SIGNATURE)
    add(
        "another-devices-key",
        _other_key(anchor, jumper, next(fresh), now_ms),
        reasons.BAD_SIGNATURE,
    )
    add("other-devices-reading", reading(jumper, 900), reasons.TOPIC_MISMATCH)
    add(
        "unknown-device",
        reading(devs["stranger"], 1),
        reasons.UNKNOWN_DEVICE,
        topic(devs["stranger"]),
    )
    add("revoked-device", reading(devs["revoked"], 1), reasons.REVOKED, topic(devs["revoked"]))
    add("seq-zero", reading(anchor, 0), reasons.SEQ_OUT_OF_RANGE)
    add("seq-2^63", reading(anchor, 2**63), reasons.SEQ_OUT_OF_RANGE)
    add("seq-2^64-1", reading(anchor, 2**64 - 1), reasons.SEQ_OUT_OF_RANGE)
    # The device's history: need the prelude committed first.
    add("altered-after-signing", _altered(prelude[0][1]), reasons.ALTERED)
    add("seq-reused-other-content", reading(anchor, 2, value=9.5), reasons.SEQ_CONFLICT)
    add("replay-of-stored", prelude[2][1], reasons.REPLAY)
    add("seq-declared-dropped", reading(anchor, 4), reasons.STALE_SEQ)
    add("huge-seq-jump", reading(jumper, _JUMP_SEQ), STORED_SEQUENCE_SKIP, topic(jumper))
    add(
        "clock-backwards",
        reading(drifter, 3, ts_ms=now_ms - 3_600_000),
        STORED_CLOCK_BACKWARDS,
        topic(drifter),
    )
    # Content: authentic and in sequence, but not a possible measurement now.
    add(
        "future-timestamp",
        fresh_reading(ts_ms=now_ms + 86_400_000),
        reasons.FUTURE_TIMESTAMP,
    )
    add("timestamp-int64-max", fresh_reading(ts_ms=2**63 - 1), reasons.FUTURE_TIMESTAMP)
    add(
        "far-past-timestamp",
        fresh_reading(ts_ms=now_ms - 30 * 86_400_000),
        reasons.STALE_TIMESTAMP,
    )
    add("timestamp-int64-min", fresh_reading(ts_ms=-(2**63)), reasons.STALE_TIMESTAMP)
    add("temperature-900", fresh_reading(value=900.0), reasons.OUT_OF_RANGE)
    add(
        "humidity-140",
        _kind(raw, b"RelativeHumidity", b"P1", anchor, 140.0),
        reasons.OUT_OF_RANGE,
    )
    add("unknown-unit", _kind(raw, b"farm:Radiation", b"ZZZ", anchor), reasons.UNKNOWN_UNIT)
    # Topics the gateway's subscriptions match but that name no valid farm or device.
    anchor_id = anchor.device_id
    add("topic-farm-with-space", good, reasons.BAD_TOPIC, f"farm/bad farm/{anchor_id}/reading")
    add("topic-empty-farm", good, reasons.BAD_TOPIC, f"farm//{anchor_id}/reading")
    add("topic-bad-device", good, reasons.BAD_TOPIC, f"farm/{farm}/d\u00e9vice/reading")
    add(
        "drop-floor-junk",
        b"-1; DROP TABLE entries",
        mal("bad-seq"),
        topics.dropped_topic(farm, anchor_id),
    )

    return Corpus(farm, devs, prelude, cases)


def _json_payload(device_id: str, now_ms: int) -> bytes:
    return json.dumps(
        {"device_id": device_id, "seq": "1", "timestamp_ms": now_ms, "value": "NaN"}
    ).encode()


def _kind(
    raw: Callable[..., _Raw],
    type_: bytes,
    uom: bytes,
    dev: CorpusDevice,
    value: float = 4.0,
) -> bytes:
    """A reading whose second measurement is ``type_``/``uom``/``value`` (first: Voltage)."""
    kinds = ((b"Voltage", b"VLT", _value(3.7)), (type_, uom, _value(value)))
    return raw(kinds=kinds).signed_by(dev.key)


def _bits_value(raw: Callable[..., _Raw], bits: int, dev: CorpusDevice) -> bytes:
    kinds = ((b"Temperature", b"CEL", struct.pack(">Q", bits)),)
    return raw(kinds=kinds).signed_by(dev.key)


def _flip(payload: bytes, position: int) -> bytes:
    out = bytearray(payload)
    out[position] ^= 0x01
    return bytes(out)


def _altered(payload: bytes) -> bytes:
    """The stored ``payload`` with its temperature's lowest bit flipped, signature kept (the
    Voltage measurement after it takes 20 bytes: 1 + 7 type, 1 + 3 unit, 8 value)."""
    return _flip(payload, -(64 + 20 + 1))


def _malleable(payload: bytes) -> bytes:
    """The same signature with ``S + L`` for ``S``: a non-canonical encoding every strict
    verifier (RFC 8032 section 5.1.7) rejects."""
    s = int.from_bytes(payload[-32:], "little") + _ED25519_L
    return payload[:-32] + s.to_bytes(32, "little")


def _other_key(victim: CorpusDevice, signer: CorpusDevice, seq: int, now_ms: int) -> bytes:
    """A reading of ``victim`` signed with ``signer``'s key."""
    body = _Raw(victim.device_id.encode(), seq, now_ms - 60_000 + seq).signed_bytes()
    return body + signer.key.sign(body)
