"""Moving readings from the outbox onto connections, and acknowledgements back.

Per device, ``cursor`` is the highest seq handed to the current connection and ``inflight`` maps
each unacknowledged message id to its seq. A fresh reading goes straight onto the connection
when the device is ready, has nothing older waiting and has room in its window; otherwise the
device is *backlogged* and :meth:`Delivery.pump` sends stored readings above the cursor, oldest
first, as room appears. A new connection starts over from the outbox: above seq 0 after a
PUBACK (everything still stored is unacknowledged), above the commit watermark with
``until_committed``.

With ``until_committed`` a device forgets readings only on a commit watermark it can check
(:func:`farmtrace.wire.watermark.judge`): signed by a pinned gateway key, naming this device, not
below what it already acted on and not above its own last seq. Anything else is ignored, logged
and counted by reason (``Stats.watermarks_refused``, the report's ``watermarks_refused``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.sim.faults import Tally
from farmtrace.sim.outbox import Outbox
from farmtrace.sim.runtime import Device, Taken
from farmtrace.sim.status import Stats
from farmtrace.wire import dropfloor
from farmtrace.wire import watermark as watermark_wire

log = logging.getLogger("farmtrace.sim")


class Delivery:
    """Sending and acknowledging; owned and driven by the simulator's single thread."""

    def __init__(
        self,
        outbox: Outbox,
        stats: Stats,
        tally: Tally,
        *,
        window: int,
        until_committed: bool,
        resend_after: float,
        queue_limit: int,
        clock: Callable[[], float],
        gateway_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        """``clock`` gives the devices' (simulated) UTC seconds, for drop floor timestamps;
        ``gateway_keys`` are the pinned keys a commit watermark must be signed with."""
        self.outbox = outbox
        self.stats = stats
        self.tally = tally
        self.window = window
        self.until_committed = until_committed
        self.resend_after = resend_after
        self.queue_limit = queue_limit
        self.clock = clock
        self.gateway_keys = tuple(gateway_keys)
        self.backlogged: set[Device] = set()

    def dispatch(self, fresh: list[tuple[Device, Taken]]) -> None:
        """Publish readings just committed to the outbox, and their attack messages."""
        for device, taken in fresh:
            self.stats.readings += 1
            if taken.dropped is not None:
                self._note_drop(device, taken.dropped)
            if not (
                device.ready
                and not device.backlog
                and len(device.inflight) < self.window
                and self._send(device, taken.seq, taken.payload)
            ):
                self.backlog(device)
            for injection in taken.injections:
                if device.link.publish(injection.topic, injection.payload) is None:
                    self.tally.record("attack-not-sent", device.device_id, attack=injection.kind)
                    continue
                self.stats.injected += 1
                self.tally.record(
                    injection.kind,
                    injection.device_id,
                    seq=injection.seq,
                    variant=injection.variant,
                    topic=injection.topic,
                    payload_hex=injection.payload.hex(),
                )

    def _send(self, device: Device, seq: int, payload: bytes) -> bool:
        mid = device.link.publish(device.reading_topic, payload)
        if mid is None:
            return False
        device.inflight[mid] = seq
        device.cursor = seq
        return True

    def backlog(self, device: Device) -> None:
        device.backlog = True
        self.backlogged.add(device)

    def pump(self) -> None:
        """Send stored readings, oldest first, into each ready connection's free window."""
        for device in list(self.backlogged):
            room = self.window - len(device.inflight)
            if device.resend_budget is not None:
                # Spent: stay backlogged, so sending goes on once the watermark moves (which
                # lifts the budget) or the next resend sets a new one.
                room = min(room, device.resend_budget)
            if not device.ready or room <= 0:
                continue
            rows = self.outbox.pending(device.record, device.cursor, room)
            for seq, payload in rows:
                if not self._send(device, seq, payload):
                    break
                if device.resend_budget is not None:
                    device.resend_budget -= 1
            else:
                if len(rows) < room:
                    device.backlog = False
                    self.backlogged.discard(device)

    def make_ready(self, device: Device, now: float) -> None:
        """The connection may carry readings: restart from the outbox."""
        device.ready = True
        device.ready_at = None
        device.cursor = device.record.committed if self.until_committed else 0
        device.last_progress = now
        if device.record.queued > 0:
            self.backlog(device)
        self.publish_floor(device)

    def publish_floor(self, device: Device) -> None:
        """Tell the gateway (retained) through which seq this device gave readings up, as a
        statement signed with the device's key (the gateway ignores an unsigned floor). Once
        per connection for an unchanged floor, and again when it rises."""
        floor = device.record.dropped_through
        if device.ready and floor > device.published_floor:
            statement = dropfloor.DropFloor(device.device_id, floor, int(self.clock() * 1000))
            payload = dropfloor.sign(statement, device.key)
            if device.link.publish(device.dropped_topic, payload, retain=True) is not None:
                device.published_floor = floor

    def connection_lost(self, device: Device) -> None:
        device.ready = False
        # Publish the floor again on the next connection: the broker may have lost its
        # retained copy (a crash before its autosave, a new broker), and the gateway may too.
        device.published_floor = 0
        device.ready_at = None
        device.inflight.clear()
        device.cursor = 0
        if device.record.queued > 0:
            self.backlog(device)

    def check(self, device: Device, now: float) -> None:
        """Periodic: readiness after the watermark grace, resends when it stalls, drop floor."""
        if not self.until_committed:
            self.publish_floor(device)
            return
        if not device.ready and device.ready_at is not None and now >= device.ready_at:
            self.make_ready(device, now)
        if (
            device.ready
            and device.cursor > device.record.committed
            and now - device.last_progress > self.resend_after
        ):
            # Acknowledged by the broker long ago but still not committed: the broker may have
            # lost them (a PUBACK is not durability). Send everything above the watermark again.
            # Every other resend that follows one without progress sends only the oldest: a
            # shared subscription hands messages to its members in turn, and a member that died
            # with a persistent session keeps receiving its turns (MQTT.md), so resending the
            # same even-sized run each time can hand the same readings to the dead member for
            # ever; changing the count shifts them onto the living one.
            device.stalled_resends += 1
            device.resend_budget = 1 if device.stalled_resends % 2 == 0 else None
            above = device.cursor - device.record.committed
            self.stats.resent += above if device.resend_budget is None else min(above, 1)
            device.cursor = device.record.committed
            device.last_progress = now
            self.backlog(device)
        self.publish_floor(device)

    def puback(self, device: Device, mid: int, failure: str | None) -> None:
        seq = device.inflight.pop(mid, None)
        if seq is None:
            return  # a status, drop-floor or attack message
        if failure is not None:
            self.stats.failed += 1
            log.warning("broker rejected %s seq %d: %s", device.device_id, seq, failure)
        else:
            self.stats.acked += 1
        if not self.until_committed:
            self.outbox.acknowledge(device.record, seq)

    def watermark(self, device: Device, payload: bytes, now: float) -> None:
        """A retained or fresh message on the device's ``committed`` topic: act on it only if
        :func:`watermark_wire.judge` accepts it, otherwise log and count it and change nothing."""
        record = device.record
        statement, refused = watermark_wire.judge(
            payload, device.device_id, self.gateway_keys, record.committed, record.last_seq
        )
        if refused is not None or statement is None:
            self._refuse(device, refused or "unsigned", statement)
            return
        value = statement.seq
        self.stats.watermarks += 1
        if value > record.committed:
            device.stalled_resends = 0
            device.resend_budget = None
        if value > record.committed or record.queued:
            self.outbox.prune(record, value)
            device.last_progress = now
        device.cursor = max(device.cursor, value)
        if not device.ready and device.ready_at is not None:
            self.make_ready(device, now)

    def _refuse(
        self, device: Device, reason: str, statement: watermark_wire.SignedWatermark | None
    ) -> None:
        refused = self.stats.watermarks_refused
        refused[reason] = count = refused.get(reason, 0) + 1
        if count <= 10 or count & (count - 1) == 0:  # a flood cannot flood the log
            record = device.record
            told = f"seq {statement.seq} from {statement.origin}" if statement else "not signed"
            log.warning(
                "ignoring commit watermark for %s: %s (%s; committed %d, last seq %d;"
                " %d refused for this reason so far)",
                device.device_id, reason, told, record.committed, record.last_seq, count,
            )  # fmt: skip

    def _note_drop(self, device: Device, seq: int) -> None:
        self.stats.dropped += 1
        if device.record.dropped == 1:
            log.warning(
                "outbox of %s is full (%d readings): dropping the oldest, starting with seq %d",
                device.device_id, self.queue_limit, seq,
            )  # fmt: skip
