"""Batches: deliveries checked on arrival, packed for one bulk signature check.

The batcher thread turns each :class:`~farmtrace.gateway.ingest.inbox.Delivery` into an :class:`Item`,
doing the checks that need no database and no signature: the topic, the wire format, the topic
naming the payload's device, the seq range and the registry. Items that pass are packed into
the batch's buffers for ``rust_core.verify_ed25519_batch`` (keys, signatures, messages and
offsets), so verification is one call per batch.

Drop floors (``farmtrace.wire.dropfloor``) are packed with the readings: a forged floor costs a
slot in the bulk check instead of a ``cryptography`` call on the batcher thread, which holds
the GIL (about 100 us a floor, and an attacker may send nothing else). Their verdict is finished
when the bulk check returns (:func:`_finish_floor`), with the same reasons, details and order of
checks as :func:`admit_floor_reference`, the plain version the tests hold it to.
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
from farmtrace.wire.dropfloor import SignedDropFloor
from farmtrace.wire.protocol import ProtocolError, SignedReading, decode

__all__ = ["MAX_SEQ", "Batch", "Item", "TopicCache", "admit_floor_reference"]

MAX_SEQ = 2**63 - 1
"""The store keeps seqs in a signed 64-bit column."""

_TOPIC_CACHE_LIMIT = 65536


@dataclass(slots=True, eq=False)
class Item:
    """One delivery and what became of it.

    ``reason``/``detail`` are set once the item is rejected (it goes to the quarantine).
    ``outcome`` is set by the committer: ``accepted``, ``duplicate`` or ``quarantined``.
    ``floor`` is set for a device's ``dropped`` message (its signed drop floor) instead of a
    reading, once its signature verified; ``statement`` holds a well-formed floor of a
    registered device while its signature waits in the batch's bulk check.
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
    statement: SignedDropFloor | None = None

    def reject(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


@dataclass(eq=False)
class Batch:
    """Items in arrival order; the signature checks still to do are packed for one call.

    ``to_verify`` lists every item whose signature is (or was) checked, readings and drop
    floors; the packed buffers hold only those not checked yet (``unverified`` of them, at the
    end of ``to_verify``). A drop floor's verdict is final once its check ran.
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
        """Check the packed signatures in one ``rust_core`` call (the GIL is released), then
        finish the verdicts of the drop floors among them."""
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
        for item in checked:
            if item.statement is not None:
                _finish_floor(item)
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
            self._admit_floor(item, registry)
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
        self._pack(item, device.public_key, reading.signature, reading.signed_bytes)
        return item

    def _pack(self, item: Item, key: bytes, signature: bytes, signed_bytes: bytes) -> None:
        self.keys += key
        self.signatures += signature
        self.messages += signed_bytes
        self.offsets.append(len(self.messages))
        self.to_verify.append(item)

    def _admit_floor(self, item: Item, registry: RegistryView) -> None:
        """The checks of :func:`admit_floor_reference` before the signature; a floor that
        passes them waits in ``item.statement`` for the bulk check (:func:`_finish_floor`)."""
        checked = _floor_before_signature(item, registry)
        if checked is None:
            return
        signed, device = checked
        item.device = device  # until the floor's verdict (_finish_floor)
        item.statement = signed
        self._pack(item, device.public_key, signed.signature, signed.signed_bytes)


def _floor_before_signature(
    item: Item, registry: RegistryView
) -> tuple[SignedDropFloor, Device] | None:
    """The checks that come before a floor's signature check, in order (the bulk and the
    one-at-a-time paths share them): the statement and its registered device, or ``None``
    with ``item`` rejected."""
    try:
        signed = dropfloor.decode(item.delivery.payload)
    except ProtocolError as exc:
        item.reject(reasons.malformed(exc.reason), f"drop floor: {exc}")
        return None
    if signed.device_id != item.device_id:
        item.reject(
            reasons.TOPIC_MISMATCH,
            f"drop floor of {signed.device_id!r} published on {item.device_id!r}'s topic",
        )
        return None
    device = registry.lookup(signed.device_id)
    if device is None:
        item.reject(reasons.UNKNOWN_DEVICE, f"drop floor: {signed.device_id} is not registered")
        return None
    return signed, device


def _floor_after_signature(
    item: Item, signed: SignedDropFloor, device: Device, signature_ok: bool
) -> None:
    """The checks that follow a floor's signature check, in order."""
    if not signature_ok:
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


def _finish_floor(item: Item) -> None:
    """A packed drop floor's verdict, now that its signature was checked in bulk (the device
    as the registry had it on admission, as the reference reads it then)."""
    signed, device = item.statement, item.device
    assert signed is not None and device is not None
    # ``device`` is a reading's: a floor's item never names one, as with the reference (the
    # committer counts a quarantined item with a device against that device's state).
    item.statement, item.device = None, None
    _floor_after_signature(item, signed, device, item.signature_ok)


def admit_floor_reference(item: Item, registry: RegistryView) -> None:
    """A device's drop floor (``farmtrace.wire.dropfloor``), checked alone with
    ``cryptography``: set ``item.floor`` only when the statement is well formed, names the
    topic's device and is signed by its registered key. The plain version of
    :meth:`Batch.admit`'s floor path (bulk check, then :func:`_finish_floor`).
    """
    checked = _floor_before_signature(item, registry)
    if checked is None:
        return
    signed, device = checked
    _floor_after_signature(item, signed, device, dropfloor.verify(signed, device.public_key))


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
