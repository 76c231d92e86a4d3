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
  ``anchor`` readings 1, 2, 3 and 5 and its signed drop floor 4 (so its watermark is 5), and reading 1
  of ``jumper`` and ``drifter``. A ``replay`` is only a replay once the gateway has published
  ``anchor``'s watermark at least ``--replay-grace`` seconds before the copy arrives.
* ``cases``: one :class:`HostileCase` per kind. ``expect`` is a quarantine reason code
  (:mod:`farmtrace.gateway.ingest.reasons`), or one of :data:`STORED_SEQUENCE_SKIP` and
  :data:`STORED_CLOCK_BACKWARDS` for the two kinds the gateway stores and flags instead (a
  genuine reading from a device that skipped seqs or whose clock went back: dropping it would
  lose data and hide the fault). Copies of those two are duplicates (each leaves a gap below
  it, so the device's watermark never covers it and a copy cannot count as a replay).

The drop floor cases (``drop-floor-*``) are unsigned, forged or misdirected floors above
``anchor``'s watermark: were one believed, ``anchor``'s watermark would jump and its later
readings be refused as stale. Every one is quarantined and ``anchor``'s drop floor stays 4.

Every case's ``(topic, payload)`` is unique, so a quarantine row names its case.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.gateway.ingest import reasons
from farmtrace.wire import dropfloor, topics
from farmtrace.wire.protocol import MAX_PAYLOAD, Measurement, Reading, sign

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


class _Builder:
    """Signs the corpus's messages: readings of its devices, and raw bytes signed by ``anchor``
    at a fresh seq each (above anything stored), so every payload is unique."""

    def __init__(self, farm: str, now_ms: int, tag: str) -> None:
        self.farm, self.now_ms = farm, now_ms
        self.devs = {role: _device(tag, role) for role in _ROLES}
        self.anchor = self.devs["anchor"]
        self.cases: list[HostileCase] = []
        self._fresh = iter(range(100, 1000))

    def topic(self, role: str = "anchor") -> str:
        return topics.reading_topic(self.farm, self.devs[role].device_id)

    def add(self, kind: str, payload: bytes, expect: str, where: str = "") -> None:
        where = where or self.topic()
        self.cases.append(HostileCase(kind, where, payload, expect, kind in _NEEDS_PRELUDE))

    def reading(self, role: str, seq: int, value: float = 4.0, ts_ms: int | None = None) -> bytes:
        dev = self.devs[role]
        measurements = (
            Measurement("Temperature", value, "CEL"),
            Measurement("Voltage", 3.7, "VLT"),
        )
        ts = self.now_ms - 60_000 + seq % 1000 * 10 if ts_ms is None else ts_ms
        return sign(Reading(dev.device_id, seq, ts, _SITE, _LOT, measurements), dev.key)

    def fresh_reading(self, value: float = 4.0, ts_ms: int | None = None) -> bytes:
        return self.reading("anchor", next(self._fresh), value, ts_ms)

    def raw(self, **changes: object) -> _Raw:
        seq = next(self._fresh)
        fields: dict[str, object] = {
            "device": self.anchor.device_id.encode(),
            "seq": seq,
            "timestamp_ms": self.now_ms - 60_000 + seq,
        }
        fields.update(changes)
        return _Raw(**fields)  # type: ignore[arg-type]

    def signed_raw(self, **changes: object) -> bytes:
        return self.raw(**changes).signed_by(self.anchor.key)

    def kind(self, type_: bytes, uom: bytes, value: float = 4.0) -> bytes:
        """A reading whose second measurement is ``type_``/``uom``/``value`` (first: Voltage)."""
        return self.signed_raw(
            kinds=((b"Voltage", b"VLT", _value(3.7)), (type_, uom, _value(value)))
        )

    def floor(self, role: str, floor: int, key_role: str | None = None) -> bytes:
        """``role``'s drop floor statement, signed by ``key_role``'s key (default its own)."""
        statement = dropfloor.DropFloor(self.devs[role].device_id, floor, self.now_ms)
        return dropfloor.sign(statement, self.devs[key_role or role].key)

    def bits_value(self, bits: int) -> bytes:
        """A reading whose one value is the float64 with these bits."""
        return self.signed_raw(kinds=((b"Temperature", b"CEL", struct.pack(">Q", bits)),))


def build_corpus(farm: str, now_ms: int, tag: str = "T") -> Corpus:
    """The corpus for devices on ``farm``, timestamps relative to ``now_ms`` (the time it is
    published; ``--max-age`` and ``--max-future`` are judged against arrival), device IDs
    unique to ``tag`` (so a database can hold several runs)."""
    b = _Builder(farm, now_ms, tag)
    prelude = [(b.topic(), b.reading("anchor", s)) for s in (1, 2, 3, 5)]
    prelude.append((topics.dropped_topic(farm, b.anchor.device_id), b.floor("anchor", 4)))
    prelude += [(b.topic(r), b.reading(r, 1)) for r in ("jumper", "drifter")]
    _wire_format_cases(b)
    _authenticity_cases(b)
    _history_cases(b, prelude)
    _content_cases(b)
    _topic_cases(b)
    _drop_floor_cases(b)
    return Corpus(farm, b.devs, prelude, b.cases)


def _wire_format_cases(b: _Builder) -> None:
    """Rejected by the decoder (docs/wire-format.md) before any key is looked at."""
    mal = reasons.malformed
    good = b.fresh_reading()
    b.add("empty", b"", mal("truncated"))
    b.add("one-byte", b"F", mal("truncated"))
    b.add("truncated-in-seq", good[:8], mal("truncated"))
    b.add("truncated-header-only", good[:83], mal("truncated"))
    b.add("truncated-last-byte", b.fresh_reading()[:-1], mal("truncated"))
    b.add("signature-missing", b.raw().signed_bytes(), mal("truncated"))
    b.add("oversized-1025", b.fresh_reading().ljust(MAX_PAYLOAD + 1, b"\0"), mal("oversized"))
    b.add("oversized-256k", b.fresh_reading() + bytes(256 * 1024), mal("oversized"))
    b.add("wrong-magic", b.signed_raw(magic=b"XX"), mal("bad-magic"))
    b.add("json-instead-of-binary", _json_payload(b.anchor.device_id, b.now_ms), mal("bad-magic"))
    b.add("wrong-version", b.signed_raw(version=2), mal("unsupported-version"))
    b.add("unknown-trailing-field", b.signed_raw(trailing=b"\x07extra=1"), mal("trailing-bytes"))
    b.add("no-measurements", b.signed_raw(count=0, kinds=()), mal("no-measurements"))
    b.add("too-many-measurements", b.signed_raw(count=13), mal("too-many-measurements"))
    b.add("empty-device-id", b.signed_raw(device=b""), mal("empty-field"))
    b.add("overlong-device-id", b.signed_raw(device=b"d" * 200), mal("field-too-long"))
    b.add("length-prefix-past-end", b.signed_raw(lot_prefix=64), mal("truncated"))
    b.add("device-id-bad-characters", b.signed_raw(device=b"dev/+#"), mal("bad-device-id"))
    b.add("site-bad-utf8", b.signed_raw(site=b"cold-\xff\xfe"), mal("bad-utf8"))
    b.add("lot-overlong-utf8", b.signed_raw(lot=b"LOT-\xc0\xaf"), mal("bad-utf8"))
    b.add("lot-utf8-surrogate", b.signed_raw(lot=b"LOT-\xed\xa0\x80"), mal("bad-utf8"))
    b.add("site-ansi-escape", b.signed_raw(site=b"cold\x1b[31mroom"), mal("bad-text"))
    b.add("lot-c1-control", b.signed_raw(lot="LOT\u0085".encode()), mal("bad-text"))
    b.add("bad-measurement-type", b.kind(b"Temp-erature", b"CEL"), mal("bad-measurement-type"))
    b.add("lowercase-unit", b.kind(b"Temperature", b"cel"), mal("bad-unit"))
    b.add("unit-too-long", b.kind(b"Temperature", b"CELS"), mal("field-too-long"))
    b.add("type-too-long", b.kind(b"T" * 41, b"CEL"), mal("field-too-long"))
    b.add("duplicate-type", b.kind(b"Voltage", b"VLT"), mal("duplicate-type"))
    for name, bits in (
        ("nan", 0x7FF8000000000000),
        ("nan-with-payload", 0x7FF0000000000001),
        ("plus-infinity", 0x7FF0000000000000),
        ("minus-infinity", 0xFFF0000000000000),
    ):
        b.add(f"value-{name}", b.bits_value(bits), mal("non-finite-value"))


def _authenticity_cases(b: _Builder) -> None:
    """Well formed; the signature, the topic, the registry or the seq range says no."""
    b.add("signature-bit-flip", _flip(b.fresh_reading(), -1), reasons.BAD_SIGNATURE)
    b.add("signature-zeros", b.fresh_reading()[:-64] + bytes(64), reasons.BAD_SIGNATURE)
    b.add("signature-s-plus-l", _malleable(b.fresh_reading()), reasons.BAD_SIGNATURE)
    b.add("content-changed-unstored", _flip(b.fresh_reading(), -70), reasons.BAD_SIGNATURE)
    forged = b.raw().signed_by(b.devs["jumper"].key)
    b.add("another-devices-key", forged, reasons.BAD_SIGNATURE)
    b.add("other-devices-reading", b.reading("jumper", 900), reasons.TOPIC_MISMATCH)
    unknown = b.reading("stranger", 1)
    b.add("unknown-device", unknown, reasons.UNKNOWN_DEVICE, b.topic("stranger"))
    b.add("revoked-device", b.reading("revoked", 1), reasons.REVOKED, b.topic("revoked"))
    b.add("seq-zero", b.reading("anchor", 0), reasons.SEQ_OUT_OF_RANGE)
    b.add("seq-2^63", b.reading("anchor", 2**63), reasons.SEQ_OUT_OF_RANGE)
    b.add("seq-2^64-1", b.reading("anchor", 2**64 - 1), reasons.SEQ_OUT_OF_RANGE)


def _history_cases(b: _Builder, prelude: list[tuple[str, bytes]]) -> None:
    """Judged against the device's stored readings: the prelude must be committed first."""
    b.add("altered-after-signing", _altered(prelude[0][1]), reasons.ALTERED)
    b.add("seq-reused-other-content", b.reading("anchor", 2, 9.5), reasons.SEQ_CONFLICT)
    b.add("replay-of-stored", prelude[2][1], reasons.REPLAY)
    b.add("seq-declared-dropped", b.reading("anchor", 4), reasons.STALE_SEQ)
    jump = b.reading("jumper", _JUMP_SEQ)
    b.add("huge-seq-jump", jump, STORED_SEQUENCE_SKIP, b.topic("jumper"))
    back = b.reading("drifter", 3, ts_ms=b.now_ms - 3_600_000)
    b.add("clock-backwards", back, STORED_CLOCK_BACKWARDS, b.topic("drifter"))


def _content_cases(b: _Builder) -> None:
    """Authentic and in sequence, but not a possible measurement now."""
    day = 86_400_000
    b.add("future-timestamp", b.fresh_reading(ts_ms=b.now_ms + day), reasons.FUTURE_TIMESTAMP)
    b.add("timestamp-int64-max", b.fresh_reading(ts_ms=2**63 - 1), reasons.FUTURE_TIMESTAMP)
    past = b.fresh_reading(ts_ms=b.now_ms - 30 * day)
    b.add("far-past-timestamp", past, reasons.STALE_TIMESTAMP)
    b.add("timestamp-int64-min", b.fresh_reading(ts_ms=-(2**63)), reasons.STALE_TIMESTAMP)
    b.add("temperature-900", b.fresh_reading(value=900.0), reasons.OUT_OF_RANGE)
    b.add("humidity-140", b.kind(b"RelativeHumidity", b"P1", 140.0), reasons.OUT_OF_RANGE)
    b.add("unknown-unit", b.kind(b"farm:Radiation", b"ZZZ"), reasons.UNKNOWN_UNIT)


def _topic_cases(b: _Builder) -> None:
    """Topics the gateway's subscriptions match but that name no valid farm or device."""
    good, anchor_id = b.fresh_reading(), b.anchor.device_id
    b.add("topic-farm-with-space", good, reasons.BAD_TOPIC, f"farm/bad farm/{anchor_id}/reading")
    b.add("topic-empty-farm", good, reasons.BAD_TOPIC, f"farm//{anchor_id}/reading")
    b.add("topic-bad-device", good, reasons.BAD_TOPIC, f"farm/{b.farm}/d\u00e9vice/reading")


def _drop_floor_cases(b: _Builder) -> None:
    """Drop floors (``farmtrace.wire.dropfloor``) that no registered key vouches for."""
    mal, where = reasons.malformed, topics.dropped_topic(b.farm, b.anchor.device_id)
    b.add("drop-floor-junk", b"-1; DROP TABLE entries", mal("bad-magic"), where)
    b.add("drop-floor-unsigned-ascii", b"1000", mal("bad-magic"), where)
    b.add("drop-floor-reading-payload", b.fresh_reading(), mal("bad-magic"), where)
    b.add("drop-floor-truncated", b.floor("anchor", 1001)[:-1], mal("truncated"), where)
    b.add("drop-floor-forged", _flip(b.floor("anchor", 1002), -1), reasons.BAD_SIGNATURE, where)
    huge = _flip(b.floor("anchor", 2**64 - 1), -1)
    b.add("drop-floor-forged-2^64-1", huge, reasons.BAD_SIGNATURE, where)
    other_key = b.floor("anchor", 1003, key_role="jumper")
    b.add("drop-floor-another-devices-key", other_key, reasons.BAD_SIGNATURE, where)
    b.add("drop-floor-other-device", b.floor("jumper", 1004), reasons.TOPIC_MISMATCH, where)
    stranger = topics.dropped_topic(b.farm, b.devs["stranger"].device_id)
    b.add("drop-floor-unknown-device", b.floor("stranger", 1), reasons.UNKNOWN_DEVICE, stranger)
    revoked = topics.dropped_topic(b.farm, b.devs["revoked"].device_id)
    b.add("drop-floor-revoked-device", b.floor("revoked", 1), reasons.REVOKED, revoked)
    b.add("drop-floor-above-2^63-1", b.floor("anchor", 2**63), reasons.SEQ_OUT_OF_RANGE, where)


def _json_payload(device_id: str, now_ms: int) -> bytes:
    return json.dumps(
        {"device_id": device_id, "seq": "1", "timestamp_ms": now_ms, "value": "NaN"}
    ).encode()


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
