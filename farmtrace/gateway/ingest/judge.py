"""Deciding each message of a batch: accepted, duplicate, or quarantined with a reason.

The judge runs on the committer thread after the batch's signatures were checked in bulk. It
does not change any device state (the batch might still fail to commit); it fills in each
item's outcome and returns a :class:`Plan` of what to write. The order of checks for a reading
that decoded and names a registered device is:

1. signature (``bad-signature``, or ``altered`` when the signature is the device's signature of
   the reading stored, or accepted earlier in the batch, under the same seq);
2. the sequence rule of :mod:`farmtrace.gateway.ingest.sequencing` (duplicate, ``replay``,
   ``seq-conflict``, ``stale-seq``, or a copy of a signed rejection rejected again), so a copy
   of a stored reading stays a duplicate whatever changed since it was stored;
3. ``revoked``; 4. the timestamp window (``future-timestamp``, ``stale-timestamp``);
5. physical ranges (``out-of-range``, ``unknown-unit``).

A rejection at step 3, 4 or 5 (or of a copy of one) is a **signed rejection**: the device's
registered key signed the reading, so its ``(device, seq)`` is decided. Its quarantine row says
so (``signed_rejection``) and the committer counts the seq for the commit watermark. Nothing
else is: a message whose signature did not verify with the registered key of the device its
topic names never settles any seq, so no one without the device's key can make the device
forget a reading.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.batch import MAX_SEQ, Batch, Item
from farmtrace.gateway.ingest.config import IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.quarantine_bounds import (
    DEFAULT_KEEP_BYTES,
    ROW_OVERHEAD,
    QuarantineBounds,
)
from farmtrace.gateway.ingest.ranges import RangeViolation, check_measurements
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.gateway.ingest.sequencing import (
    DUPLICATE,
    GAP_FILL,
    NEW,
    REJECTED_AGAIN,
    judge_sequence,
)
from farmtrace.store.records import PendingReading, QuarantineItem
from farmtrace.store.refused import RefusedCount
from farmtrace.wire.protocol import SIGNATURE_BYTES, SignedReading

__all__ = [
    "ACCEPTED",
    "CONTROL",
    "DUPLICATE_OUTCOME",
    "QUARANTINED",
    "Judge",
    "Plan",
    "quarantine_item",
    "row_cost",
]

ACCEPTED = "accepted"
DUPLICATE_OUTCOME = "duplicate"
QUARANTINED = "quarantined"
CONTROL = "control"


@dataclass(eq=False)
class Plan:
    """What a batch writes: readings to append (with their items), rejected messages to store,
    and the counts of those refused past the quarantine's bounds (by device and reason)."""

    accepted: list[tuple[Item, PendingReading]] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    # (device, reason) -> [messages, payload bytes, first at, last at], summed as they come.
    _refused: dict[tuple[str, str], list[float]] = field(default_factory=dict, repr=False)

    @property
    def refused(self) -> dict[tuple[str, str], RefusedCount]:
        """The counts of the messages :meth:`refuse` counted, by device and reason."""
        return {
            key: RefusedCount(key[0], key[1], int(n), int(size), first, last)
            for key, (n, size, first, last) in self._refused.items()
        }

    def refuse(self, item: Item, device: str) -> None:
        """Count ``item``, rejected and past the bounds, instead of storing it, under
        ``device`` (the registered device its topic names, or ``''``)."""
        assert item.reason is not None
        at, size = item.delivery.received_at, len(item.delivery.payload)
        seen = self._refused.get((device, item.reason))
        if seen is None:
            self._refused[(device, item.reason)] = [1, size, at, at]
            return
        seen[0] += 1
        seen[1] += size
        if at < seen[2]:
            seen[2] = at
        if at > seen[3]:
            seen[3] = at


QUARANTINE_MAX_BYTES = DEFAULT_KEEP_BYTES
"""Raw bytes kept of a quarantined message by default (``--quarantine-keep-bytes``; the rest of
a longer payload is summarised by its size and SHA-256, so junk cannot fill the database)."""


def row_cost(record: QuarantineItem) -> int:
    """What storing ``record`` costs against the overall quarantine budget, in bytes."""
    return (
        len(record.payload)
        + len(record.detail.encode("utf-8", "replace"))
        + len(record.topic.encode("utf-8", "replace"))
        + ROW_OVERHEAD
    )


def quarantine_item(item: Item, keep_bytes: int = QUARANTINE_MAX_BYTES) -> QuarantineItem:
    """The quarantine record of a rejected item: reason, detail, raw bytes (the first
    ``keep_bytes``), topic, device, and for a reading of the topic's device its seq and whether
    it is a signed rejection."""
    assert item.reason is not None
    reading = item.reading
    seq = None
    if reading is not None and reading.device_id == item.device_id and 1 <= reading.seq <= MAX_SEQ:
        seq = reading.seq
    assert seq is not None or not item.signed_rejection
    delivery = item.delivery
    payload, detail = delivery.payload, item.detail
    if len(payload) > keep_bytes:
        digest = hashlib.sha256(payload).hexdigest()
        detail += (
            f" [payload of {len(payload)} bytes, sha256 {digest}; its first {keep_bytes} kept]"
        )
        payload = payload[:keep_bytes]
    return QuarantineItem(
        received_at=delivery.received_at,
        reason=item.reason,
        detail=detail,
        topic=delivery.topic[:1024],
        payload=payload,
        device_id=item.device_id,
        seq=seq,
        signed_rejection=item.signed_rejection,
    )


class Judge:
    """Applies the checks in the module docstring to every item of a batch."""

    def __init__(
        self, config: IngestConfig, registry: RegistryView, states: dict[str, DeviceState]
    ) -> None:
        self._config = config
        self._registry = registry
        self._states = states
        self.bounds = QuarantineBounds(config.quarantine)

    def state(self, device_id: str) -> DeviceState:
        """The device's state, created empty for a registered device seen for the first time."""
        found = self._states.get(device_id)
        if found is None:
            found = self._states[device_id] = DeviceState(device_id)
        return found

    def registered(self, device_id: str) -> bool:
        """Whether the device is in the registry (revoked or not)."""
        return self._registry.get(device_id) is not None

    def possibly_stored(self, batch: Batch) -> list[tuple[str, int]]:
        """Keys of the batch's readings that may already be stored (at or below a device's
        highest committed seq): only these need a database look-up."""
        keys = []
        for item in batch.to_verify:
            reading = item.reading
            if reading is None:
                continue  # a drop floor
            state = self._states.get(reading.device_id)
            if state is not None and reading.seq <= state.committed.high:
                keys.append((reading.device_id, reading.seq))
        return keys

    def possibly_rejected(self, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Those of ``keys`` (from :meth:`possibly_stored`) at or below their device's highest
        signed rejection: only these need a look-up in the quarantine."""
        states = self._states
        return [(d, s) for d, s in keys if s <= states[d].rejected_high]

    def judge(
        self,
        batch: Batch,
        stored: Mapping[tuple[str, int], bytes],
        rejected: Mapping[tuple[str, int], tuple[bytes, str]] | None = None,
    ) -> Plan:
        """Set every item's outcome; return the plan (pure with respect to device state).

        ``stored`` holds the stored payloads and ``rejected`` the signed rejections (payload,
        reason) of the keys :meth:`possibly_stored` and :meth:`possibly_rejected` named.
        """
        plan = Plan()
        pending: dict[tuple[str, int], bytes] = {}
        refused: dict[tuple[str, int], tuple[bytes, str]] = dict(rejected or {})
        keep, bounds, now = self._config.quarantine.keep_bytes, self.bounds, time.monotonic()
        for item in batch.items:
            if item.reason is None and item.floor is not None:
                item.outcome = CONTROL
                continue
            decided = False
            if item.reason is None:
                decided = self._judge_reading(item, stored, pending, refused, plan)
            if item.reason is not None:
                item.outcome = QUARANTINED
                device_key = item.device_id or ""
                # A first signed rejection settles its seq: always kept (module docstring of
                # quarantine_bounds); everything else only within the bounds. Past its device's
                # bound (the usual fate of a flood) a message is counted without building the
                # record that admit would have refused anyway.
                if decided or not bounds.device_exhausted(device_key, now):
                    record = quarantine_item(item, keep)
                    if decided or bounds.admit(device_key, row_cost(record), now):
                        plan.quarantine.append(record)
                        continue
                topic_device = item.device_id
                registered = topic_device is not None and self.registered(topic_device)
                plan.refuse(item, topic_device if registered and topic_device else "")
        return plan

    def _judge_reading(
        self,
        item: Item,
        stored: Mapping[tuple[str, int], bytes],
        pending: dict[tuple[str, int], bytes],
        refused: dict[tuple[str, int], tuple[bytes, str]],
        plan: Plan,
    ) -> bool:
        """``pending``: payloads accepted earlier in the batch; ``refused``: signed rejections
        (looked up, and earlier in the batch), which this adds to. True for a new signed
        rejection (not a copy of one)."""
        reading = item.reading
        assert reading is not None
        key = (reading.device_id, reading.seq)
        earlier = pending.get(key)
        known = stored.get(key)
        rejected = refused.get(key)
        if not item.signature_ok:
            same_seq = earlier if earlier is not None else known
            if same_seq is None and rejected is not None:
                same_seq = rejected[0]
            item.reject(*_signature_failure(reading, same_seq))
            return False
        delivery = item.delivery
        state = self.state(reading.device_id)
        if (
            earlier is None
            and known is None
            and rejected is None
            and reading.seq > state.committed.high
        ):
            outcome, detail = NEW, ""  # the usual case, rule 6, without the call
        else:
            outcome, detail = judge_sequence(
                state,
                reading.seq,
                reading.payload,
                earlier,
                known,
                delivery.dup,
                delivery.received_mono,
                self._config.replay_grace,
                rejected,
            )
        if outcome == DUPLICATE:
            item.outcome = DUPLICATE_OUTCOME
            return False
        if outcome == REJECTED_AGAIN:
            assert rejected is not None
            item.reject(rejected[1], detail)
            item.signed_rejection = True
            return False
        if outcome not in (NEW, GAP_FILL):
            item.reject(outcome, detail)
            return False
        problem = self._content_problem(reading, delivery.received_at)
        if problem is not None:
            item.reject(*problem)
            item.signed_rejection = True
            refused[key] = (reading.payload, problem[0])
            return True
        item.outcome = ACCEPTED
        pending[key] = reading.payload
        plan.accepted.append(
            (
                item,
                PendingReading(
                    reading.device_id,
                    reading.seq,
                    reading.timestamp_ms,
                    delivery.payload,
                    delivery.received_at,
                ),
            )
        )
        return False

    def _content_problem(
        self, reading: SignedReading, received_at: float
    ) -> tuple[str, str] | None:
        device = self._registry.get(reading.device_id)
        if device is not None and device.revoked:
            revoked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(device.revoked_at))
            return reasons.REVOKED, f"{reading.device_id} was revoked at {revoked}"
        config = self._config
        ahead = reading.timestamp_ms / 1000 - received_at
        if ahead > config.max_future:
            return reasons.FUTURE_TIMESTAMP, (
                f"timestamp is {ahead:.3f} s ahead of the gateway clock "
                f"(--max-future {config.max_future:g} s)"
            )
        if -ahead > config.max_age:
            return reasons.STALE_TIMESTAMP, (
                f"timestamp is {-ahead:.3f} s old (--max-age {config.max_age:g} s)"
            )
        try:
            check_measurements(reading.measurements)
        except RangeViolation as exc:
            return exc.reason, exc.detail
        return None


def _signature_failure(reading: SignedReading, same_seq: bytes | None) -> tuple[str, str]:
    if (
        same_seq is not None
        and same_seq[-SIGNATURE_BYTES:] == reading.signature
        and same_seq[:-SIGNATURE_BYTES] != reading.signed_bytes
    ):
        return reasons.ALTERED, (
            f"the signature is the device's signature of the reading with seq {reading.seq}, "
            "whose signed bytes differ: changed after signing"
        )
    return reasons.BAD_SIGNATURE, "the signature does not verify with the registered key"
