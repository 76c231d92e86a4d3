"""The batcher's reading decoder: :func:`farmtrace.wire.protocol.decode` with memory.

A device sends the same device ID, site, lot and measurement kinds in every reading, and a
simulated or slowly changing sensor often the same values; the reference decoder validates each
of them again per reading (regular expressions, UTF-8 decoding, field names built for errors that
do not happen). :class:`ReadingDecoder` parses the well-formed case with bounded caches of the
validated pieces and hands everything else to the reference decoder.

Contract: ``ReadingDecoder().decode(p)`` returns a :class:`SignedReading` equal to
``protocol.decode(p)`` or raises the same :class:`ProtocolError` (it *is* the reference's
error: on anything unusual the fast path gives up and the reference decides). The fast path
only returns after checking everything the reference checks on its accepting path; the caches
hold only pieces the reference's own checks accepted. ``tests/gateway/test_ingest_decoding.py``
compares the two on valid, mutated and random payloads. Caches are cleared when full, so
hostile input costs memory only up to the bound.
"""

from __future__ import annotations

import math
import struct
from typing import TypeVar

from farmtrace.wire import protocol
from farmtrace.wire.protocol import (
    MAX_DEVICE_ID_BYTES,
    MAX_LOT_BYTES,
    MAX_MEASUREMENTS,
    MAX_PAYLOAD,
    MAX_SITE_BYTES,
    MAX_TYPE_BYTES,
    SIGNATURE_BYTES,
    Measurement,
    ProtocolError,
    SignedReading,
)

__all__ = ["ReadingDecoder"]

_HEAD = struct.Struct(">2sBQq")
_VALUE = struct.Struct(">d")
_PREFIX = protocol.MAGIC + bytes((protocol.VERSION,))
_MIN_SIZE = _HEAD.size + SIGNATURE_BYTES
_CACHE_LIMIT = 16384
_V = TypeVar("_V")


class ReadingDecoder:
    """Decodes reading payloads as :func:`protocol.decode` does (see the module docstring).

    Not thread-safe: one per thread (the batcher owns one).
    """

    def __init__(self, cache_limit: int = _CACHE_LIMIT) -> None:
        self._limit = cache_limit
        self._device_ids: dict[bytes, str] = {}
        self._tags: dict[bytes, tuple[str, str, str]] = {}
        self._texts: dict[bytes, str] = {}
        self._kinds: dict[bytes, tuple[str, str]] = {}
        self._measurements: dict[bytes, Measurement] = {}
        self.fast = 0
        """Payloads the fast path decoded (the rest went to the reference)."""

    def decode(self, payload: bytes) -> SignedReading:
        """``protocol.decode(payload)``: the same reading, or the same ``ProtocolError``."""
        try:
            found = self._fast(payload)
        except (IndexError, struct.error):  # cannot happen after the bounds checks; be safe
            found = None
        if found is None:
            return protocol.decode(payload)
        self.fast += 1
        return found

    def _remember(self, cache: dict[bytes, _V], key: bytes, value: _V) -> None:
        if len(cache) >= self._limit:
            cache.clear()
        cache[key] = value

    def _fast(self, payload: bytes) -> SignedReading | None:
        """The reading, or None for anything the reference should judge."""
        if type(payload) is not bytes:
            return None
        size = len(payload)
        if size > MAX_PAYLOAD or size < _MIN_SIZE or payload[:3] != _PREFIX:
            return None
        end = size - SIGNATURE_BYTES
        body = payload[:end]
        _, _, seq, timestamp_ms = _HEAD.unpack_from(body)
        # The tags (device ID, site, lot, each after its length byte) are the same bytes in
        # every reading of a device: framed by their three length bytes, then looked up whole.
        pos = _HEAD.size
        site_at = pos + 1 + body[pos]
        if site_at >= end:
            return None
        lot_at = site_at + 1 + body[site_at]
        if lot_at >= end:
            return None
        pos = lot_at + 1 + body[lot_at]
        if pos >= end:
            return None
        raw_tags = body[_HEAD.size : pos]
        tags = self._tags.get(raw_tags)
        if tags is None:
            tags = self._parse_tags(body, site_at, lot_at, pos)
            if tags is None:
                return None
            self._remember(self._tags, raw_tags, tags)
        count = body[pos]
        pos += 1
        if not 1 <= count <= MAX_MEASUREMENTS:
            return None
        measurements = []
        known = self._measurements
        for _ in range(count):
            # type (1..40), unit (1..3), finite big-endian double; the whole measurement's
            # bytes are looked up first (a sensor repeats its values).
            if pos >= end:
                return None
            at_uom = pos + 1 + body[pos]
            if at_uom >= end:
                return None
            stop = at_uom + 9 + body[at_uom]
            if stop > end:
                return None
            whole = body[pos:stop]
            measurement = known.get(whole)
            if measurement is None:
                measurement = self._measurement(body, pos, at_uom, stop)
                if measurement is None:
                    return None
                self._remember(known, whole, measurement)
            measurements.append(measurement)
            pos = stop
        if pos != end:
            return None
        if count > 1 and len({m.type for m in measurements}) != count:
            return None
        return SignedReading(
            tags[0],
            seq,
            timestamp_ms,
            tags[1],
            tags[2],
            tuple(measurements),
            body,
            payload[end:],
            payload,
        )

    def _parse_tags(
        self, body: bytes, site_at: int, lot_at: int, end: int
    ) -> tuple[str, str, str] | None:
        """The device ID (1..128 bytes of the device ID alphabet), site (1..64) and lot
        (0..64; UTF-8 text without control characters) whose length bytes are at ``_HEAD.size``,
        ``site_at`` and ``lot_at``, the lot ending at ``end``."""
        pos = _HEAD.size
        if not 1 <= body[pos] <= MAX_DEVICE_ID_BYTES:
            return None
        raw = body[pos + 1 : site_at]
        device_id = self._device_ids.get(raw)
        if device_id is None:
            try:
                protocol._check_device_id(raw)  # the reference's own checks: rules cannot drift
            except ProtocolError:
                return None
            device_id = raw.decode("ascii")  # the device ID alphabet is ASCII
            self._remember(self._device_ids, raw, device_id)
        site = self._text(body, site_at, end, 1, MAX_SITE_BYTES)
        lot = self._text(body, lot_at, end, 0, MAX_LOT_BYTES)
        if site is None or lot is None:
            return None
        return device_id, site, lot

    def _text(self, body: bytes, pos: int, end: int, lowest: int, highest: int) -> str | None:
        if pos >= end:
            return None
        length = body[pos]
        stop = pos + 1 + length
        if not lowest <= length <= highest or stop > end:
            return None
        raw = body[pos + 1 : stop]
        text = self._texts.get(raw)
        if text is None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if protocol._CONTROL.search(text):  # the reference's rule for site and lot
                return None
            self._remember(self._texts, raw, text)
        return text

    def _measurement(self, body: bytes, pos: int, at_uom: int, stop: int) -> Measurement | None:
        """The measurement framed at ``pos`` (type length byte), ``at_uom`` (unit length byte)
        and ending at ``stop`` (after its 8-byte value), when its lengths, type, unit and value
        are what the reference accepts."""
        type_length, uom_length = body[pos], body[at_uom]
        if not 1 <= type_length <= MAX_TYPE_BYTES or not 1 <= uom_length <= 3:
            return None
        at_value = stop - 8
        kind_raw = body[pos:at_value]
        kind = self._kinds.get(kind_raw)
        if kind is None:
            type_raw, uom_raw = body[pos + 1 : at_uom], body[at_uom + 1 : at_value]
            try:
                protocol._check_kind(type_raw, uom_raw, 0)
            except ProtocolError:
                return None
            kind = (type_raw.decode("ascii"), uom_raw.decode("ascii"))
            self._remember(self._kinds, kind_raw, kind)
        (value,) = _VALUE.unpack_from(body, at_value)
        if not math.isfinite(value):
            return None
        return Measurement(kind[0], value, kind[1])
