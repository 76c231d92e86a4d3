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
        pos = _HEAD.size
        # device_id: 1..128 bytes of the device ID alphabet
        length = body[pos]
        stop = pos + 1 + length
        if not 1 <= length <= MAX_DEVICE_ID_BYTES or stop > end:
            return None
        raw = body[pos + 1 : stop]
        device_id = self._device_ids.get(raw)
        if device_id is None:
            try:
                protocol._check_device_id(raw)  # the reference's own checks: rules cannot drift
            except ProtocolError:
                return None
            device_id = raw.decode("ascii")  # the device ID alphabet is ASCII
            self._remember(self._device_ids, raw, device_id)
        pos = stop
        # site (1..64) and lot (0..64): UTF-8 text without control characters
        site = self._text(body, pos, end, 1, MAX_SITE_BYTES)
        if site is None:
            return None
        pos += 1 + body[pos]
        lot = self._text(body, pos, end, 0, MAX_LOT_BYTES)
        if lot is None:
            return None
        pos += 1 + body[pos]
        if pos >= end:
            return None
        count = body[pos]
        pos += 1
        if not 1 <= count <= MAX_MEASUREMENTS:
            return None
        measurements = []
        for _ in range(count):
            found = self._measurement(body, pos, end)
            if found is None:
                return None
            measurement, pos = found
            measurements.append(measurement)
        if pos != end:
            return None
        if count > 1 and len({m.type for m in measurements}) != count:
            return None
        return SignedReading(
            device_id,
            seq,
            timestamp_ms,
            site,
            lot,
            tuple(measurements),
            body,
            payload[end:],
            payload,
        )

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

    def _measurement(self, body: bytes, pos: int, end: int) -> tuple[Measurement, int] | None:
        """One measurement at ``pos``: type (1..40), unit (1..3), finite big-endian double."""
        if pos >= end:
            return None
        type_length = body[pos]
        at_uom = pos + 1 + type_length
        if not 1 <= type_length <= MAX_TYPE_BYTES or at_uom >= end:
            return None
        uom_length = body[at_uom]
        at_value = at_uom + 1 + uom_length
        stop = at_value + 8
        if not 1 <= uom_length <= 3 or stop > end:
            return None
        whole = body[pos:stop]
        measurement = self._measurements.get(whole)
        if measurement is not None:
            return measurement, stop
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
        measurement = Measurement(kind[0], value, kind[1])
        self._remember(self._measurements, whole, measurement)
        return measurement, stop
