"""Batches: deliveries checked on arrival, packed for one bulk signature check.

The batcher thread turns each :class:`~farmtrace.gateway.ingest.inbox.Delivery` into an :class:`Item`,
doing the checks that need no database and no signature: the topic, the wire format, the topic
naming the payload's device, the seq range and the registry. Items that pass are packed into
the batch's buffers for ``rust_core.verify_ed25519_batch`` (keys, signatures, messages and
offsets), so verification is one call per batch.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

from farmtrace import rust_core
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.decoding import ReadingDecoder
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.store.records import Device
from farmtrace.wire import dropfloor, topics
from farmtrace.wire.protocol import ProtocolError, SignedReading, decode

__all__ = ["MAX_SEQ", "Batch", "Item", "TopicCache"]

MAX_SEQ = 2**63 - 1
"""The store keeps seqs in a signed 64-bit column."""

_TOPIC_CACHE_LIMIT = 65536


@dataclass(slots=True, eq=False)
class Item:
    """One delivery and what became of it.

    ``reason``/``detail`` are set once the item is rejected (it goes to the quarantine).
    ``outcome`` is set by the committer: ``accepted``, ``duplicate`` or ``quarantined``.
    ``floor`` is set for a device's ``dropped`` message (its signed drop floor, verified on
    admission) instead of a reading.
    ``signed_rejection`` is set by the judge for a rejected reading its device's registered key
    signed (:data:`farmtrace.gateway.ingest.reasons.CONTENT`): its seq is settled.
    """

    delivery: Delivery
    farm: str | None = None
    device_id: str | None = None
    reading: SignedReading | None = None
    device: Device | None = None
    signature_ok: bool = False
    reason: str | None = None
    detail: str = ""
    outcome: str | None = None
    floor: int | None = None
    signed_rejection: bool = False

    def reject(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


@dataclass(eq=False)
class Batch:
    """Items in arrival order; the signature checks still to do are packed for one call.

    ``to_verify`` lists every item whose signature is (or was) checked; the packed buffers
    hold only those not checked yet (``unverified`` of them, at the end of ``to_verify``).
    """

    number: int
    items: list[Item] = field(default_factory=list)
    to_verify: list[Item] = field(default_factory=list)
    keys: bytearray = field(default_factory=bytearray)
    signatures: bytearray = field(default_factory=bytearray)
    messages: bytearray = field(default_factory=bytearray)
    offsets: array[int] = field(default_factory=lambda: array("Q", [0]))
    quarantine_stored: bool = False
    floors_stored: bool = False
    opened_mono: float = 0.0  # when the batcher took its first message (its age counts from here)

    @property
    def unverified(self) -> int:
        return len(self.offsets) - 1

    def verify_pending(self, threads: int | None) -> None:
        """Check the packed signatures in one ``rust_core`` call (the GIL is released)."""
        count = self.unverified
        if not count:
            return
        failed = rust_core.verify_ed25519_batch(
            bytes(self.keys),
            bytes(self.signatures),
            bytes(self.messages),
            self.offsets,
            threads=threads,
        )
        checked = self.to_verify[len(self.to_verify) - count :]
        for item in checked:
            item.signature_ok = True
        for index in failed:
            checked[index].signature_ok = False
        self.keys, self.signatures, self.messages = bytearray(), bytearray(), bytearray()
        self.offsets = array("Q", [0])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def first_mono(self) -> float:
        return self.items[0].delivery.received_mono

    def admit(
        self,
        delivery: Delivery,
        topic_cache: TopicCache,
        registry: RegistryView,
        decoder: ReadingDecoder | None = None,
    ) -> Item:
        """Check ``delivery`` as far as possible without a database or a signature check.

        ``decoder`` (the batcher's) decodes as :func:`farmtrace.wire.protocol.decode` does, with
        caches; without one the reference decoder is used."""
        item = Item(delivery)
        if not self.items:
            self.opened_mono = time.monotonic()
        self.items.append(item)
        parsed = topic_cache.parse(delivery.topic)
        if isinstance(parsed, ProtocolError):
            item.reject(reasons.BAD_TOPIC, str(parsed))
            return item
        item.farm, item.device_id, kind = parsed
        if kind == "dropped":
            _admit_floor(item, registry)
            return item
        if kind != "reading":
            item.reject(reasons.BAD_TOPIC, f"{delivery.topic!r} is not a reading topic")
            return item
        try:
            payload = delivery.payload
            reading = decode(payload) if decoder is None else decoder.decode(payload)
        except ProtocolError as exc:
            item.reject(reasons.malformed(exc.reason), str(exc))
            return item
        item.reading = reading
        if reading.device_id != item.device_id:
            item.reject(
                reasons.TOPIC_MISMATCH,
                f"payload device {reading.device_id!r} published on {item.device_id!r}'s topic",
            )
            return item
        if not 1 <= reading.seq <= MAX_SEQ:
            item.reject(reasons.SEQ_OUT_OF_RANGE, f"seq {reading.seq} is outside 1..2^63-1")
            return item
        device = registry.lookup(reading.device_id)
        if device is None:
            item.reject(reasons.UNKNOWN_DEVICE, f"{reading.device_id} is not registered")
            return item
        item.device = device
        self.keys += device.public_key
        self.signatures += reading.signature
        self.messages += reading.signed_bytes
        self.offsets.append(len(self.messages))
        self.to_verify.append(item)
        return item


def _admit_floor(item: Item, registry: RegistryView) -> None:
    """A device's drop floor (``farmtrace.wire.dropfloor``): set ``item.floor`` only when the
    statement is well formed, names the topic's device and is signed by its registered key.

    Floors are rare (one per device after an outbox overflow), so the signature is checked here
    rather than packed with the batch's readings.
    """
    try:
        signed = dropfloor.decode(item.delivery.payload)
    except ProtocolError as exc:
        item.reject(reasons.malformed(exc.reason), f"drop floor: {exc}")
        return
    if signed.device_id != item.device_id:
        item.reject(
            reasons.TOPIC_MISMATCH,
            f"drop floor of {signed.device_id!r} published on {item.device_id!r}'s topic",
        )
        return
    device = registry.lookup(signed.device_id)
    if device is None:
        item.reject(reasons.UNKNOWN_DEVICE, f"drop floor: {signed.device_id} is not registered")
        return
    if not dropfloor.verify(signed, device.public_key):
        item.reject(
            reasons.BAD_SIGNATURE,
            f"drop floor {signed.floor}: the signature does not verify with "
            f"{signed.device_id}'s registered key",
        )
        return
    if device.revoked:
        item.reject(reasons.REVOKED, f"drop floor {signed.floor}: {signed.device_id} is revoked")
        return
    if signed.floor > MAX_SEQ:
        item.reject(reasons.SEQ_OUT_OF_RANGE, f"drop floor {signed.floor} is outside 0..2^63-1")
        return
    item.floor = signed.floor


class TopicCache:
    """``parse_topic`` results by topic string (devices publish on the same few topics)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, str, str] | ProtocolError] = {}

    def parse(self, topic: str) -> tuple[str, str, str] | ProtocolError:
        found = self._cache.get(topic)
        if found is None:
            try:
                found = topics.parse_topic(topic)
            except ProtocolError as exc:
                found = exc
            if len(self._cache) >= _TOPIC_CACHE_LIMIT:
                self._cache.clear()
            self._cache[topic] = found
        return found
