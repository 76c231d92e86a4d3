"""The committer thread: verify, judge, store durably, then acknowledge, then tell devices.

For each batch, in order:

1. make sure every signature of the batch was checked (the batcher does it in bulk, through
   ``rust_core.verify_ed25519_batch``, as the batch fills);
2. look up the stored bytes of readings that may be copies, and judge every item
   (:mod:`farmtrace.gateway.ingest.judge`);
3. append the accepted readings as one block together with the drop floors it will believe
   and the quarantined messages (``Ledger.append_batch``: one transaction, durable when it
   returns; a batch under attack pays one commit, not three). A batch with no accepted
   reading stores its floors and its quarantine alone (a transaction each). A
   ``DatabaseError`` is retried with backoff, for as long as it takes, and nothing is
   acknowledged meanwhile; any other storage error stops the gateway;
4. acknowledge every message of the batch to the broker, in arrival order, duplicates and
   quarantined ones included (each is now durably stored, or was already);
5. advance the devices' settled seqs (stored, and signed rejections: readings the device's own
   key signed and the judge rejected on content) and publish each changed commit watermark
   (retained; a device's at most every ``WATERMARK_INTERVAL_S``, the latest value; every
   watermark due in one pass is signed in one call, :meth:`Link.publish_watermarks`). This runs
   only after step 3 returned, so a watermark never covers a rejection or a drop floor that
   is not durable.

**Entries signed elsewhere** (lot events, waiting in ``pending_entries``) join every block of
step 3; when no append happened for ``batch_age`` (no readings flow, or none was new) the
committer seals them alone, between batches (:mod:`farmtrace.gateway.ingest.sweep`).

**Acknowledgement rule**: a message is acknowledged only after the transaction holding it (its
block, or its quarantine row) has committed, or when it is a copy of a reading that was already
committed; and only on the connection it arrived on (:class:`farmtrace.gateway.ingest.link.BrokerLink`).
A crash anywhere before step 4 leaves the batch unacknowledged: the broker redelivers it and the
sequence rule recognises what was already stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from farmtrace import failpoints
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.batch import Batch, Item
from farmtrace.gateway.ingest.config import IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.errors import IngestError
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.judge import (
    ACCEPTED,
    CONTROL,
    DUPLICATE_OUTCOME,
    QUARANTINED,
    Judge,
    Plan,
    quarantine_item,
)
from farmtrace.gateway.ingest.metrics import GatewayMetrics, RunTotals
from farmtrace.gateway.ingest.sweep import PendingSweep
from farmtrace.store.errors import DatabaseError
from farmtrace.store.interface import LedgerInterface
from farmtrace.store.records import BatchResult, StoredFloor

__all__ = ["Committer", "Link"]

log = logging.getLogger("farmtrace.gateway")

_T = TypeVar("_T")
_RETRY_MIN_S, _RETRY_MAX_S = 0.5, 10.0
_PUBLICATIONS_LIMIT = 200_000
WATERMARK_INTERVAL_S = 0.5
"""A device's watermark is published at most this often (each costs a QoS 1 round trip)."""


class Link(Protocol):
    """What the committer needs from the broker connection."""

    def ack_all(self, deliveries: Sequence[Delivery]) -> int: ...
    def publish_watermarks(self, due: Sequence[tuple[str, str, int]]) -> list[int | None]: ...
    def confirmed(self) -> list[tuple[int, float]]: ...
    def flush(self) -> bool: ...
    @property
    def connects(self) -> int: ...


class Committer:
    """Run :meth:`run` on its own thread; it ends after the batcher's final ``None``."""

    def __init__(
        self,
        ledger: LedgerInterface,
        config: IngestConfig,
        link: Link,
        judge: Judge,
        states: dict[str, DeviceState],
        health: HealthMonitor,
        metrics: GatewayMetrics,
        totals: RunTotals,
        batches: queue.Queue[Batch | None],
        stop: threading.Event,
    ) -> None:
        self._ledger = ledger
        self._config = config
        self._link = link
        self._judge = judge
        self._states = states
        self._health = health
        self._metrics = metrics
        self._totals = totals
        self._batches = batches
        self._stop = stop
        self._publications: dict[int, tuple[str, int]] = {}
        self._connects_seen = 0
        self._deferred: dict[str, DeviceState] = {}
        # The arrival time of the newest message judged: any copy still to be judged arrived no
        # earlier (batches keep arrival order), so what it was told is kept for it.
        self._judged_mono = float("-inf")
        self.current: Batch | None = None
        self.failure: BaseException | None = None
        self.thread_cpu = 0.0
        self.on_tick: Callable[[], None] | None = None
        self.sweep = PendingSweep(ledger, config.batch_age)

    def run(self) -> None:
        """Process batches until the batcher's final ``None``. Every batch taken is marked done
        (``task_done``), also after a failure, so the batcher never waits forever."""
        try:
            while True:
                try:
                    batch = self._batches.get(timeout=self.sweep.wait(1.0))
                except queue.Empty:
                    self._sweep()
                    self._tick()
                    continue
                try:
                    if batch is None:
                        break
                    self.current = batch
                    self.process(batch)
                    self.current = None
                finally:
                    self._batches.task_done()
                self._sweep()
                self._tick()
            self._tick()
            self.thread_cpu = time.thread_time()
        except BaseException as exc:
            self.failure = exc
            self._stop.set()
            # Let the batcher finish: it may be waiting to hand over a batch.
            while True:
                leftover = self._batches.get()
                self._batches.task_done()
                if leftover is None:
                    break

    # -- one batch ------------------------------------------------------------------------------

    def process(self, batch: Batch) -> None:
        """Steps 1-5 of the module docstring for one batch."""
        t0 = time.monotonic()
        self._verify(batch)
        t1 = time.monotonic()
        plan = self._retry("look up and judge", lambda: self._plan(batch))
        self._judged_mono = max(self._judged_mono, batch.items[-1].delivery.received_mono)
        t2 = time.monotonic()
        result = self._retry("commit", lambda: self._write(batch, plan))
        if result is not None and result.duplicates:
            self._settle_races(batch, plan, result)
        t3 = time.monotonic()
        self._metrics.commit_seconds.observe(t3 - t2)
        committed_at = time.time()
        self._acknowledge(batch)
        t4 = time.monotonic()
        for (_, reason), count in plan.refused.items():
            self._metrics.quarantine_refused.labels(reason).inc(count.refused)
            self._totals.quarantine_refused[reason] += count.refused
        self._metrics.quarantine_budget.set(self._judge.bounds.remaining_bytes(time.monotonic()))
        self._apply(batch, result, committed_at)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch %d: %d messages, waited %.3f s; verify %.3f, judge %.3f, commit %.3f, "
                "ack %.3f, apply %.3f s",
                batch.number,
                len(batch),
                t0 - batch.first_mono,
                t1 - t0,
                t2 - t1,
                t3 - t2,
                t4 - t3,
                time.monotonic() - t4,
            )

    def _verify(self, batch: Batch) -> None:
        # The batcher checks signatures as batches fill; this only catches what is left.
        batch.verify_pending(self._config.signature_threads)

    def _plan(self, batch: Batch) -> Plan:
        judge, ledger = self._judge, self._ledger
        keys = judge.possibly_stored(batch)
        found = ledger.stored_payloads(keys) if keys else {}
        settled_by_rejection = judge.possibly_rejected(keys)
        rejected = ledger.rejected_readings(settled_by_rejection) if settled_by_rejection else {}
        return judge.judge(batch, found, rejected)

    def _write(self, batch: Batch, plan: Plan) -> BatchResult | None:
        """Store the batch's floors, rejected messages and block: with accepted readings, all
        in the block's one transaction; without, the floors and the quarantine alone. The
        ``*_stored`` flags keep a retry after a ``DatabaseError`` from storing a part twice
        (the combined transaction sets both at once: it committed all or nothing)."""
        floors = [] if batch.floors_stored else self._new_floors(batch)
        rejected = bool(plan.quarantine or plan.refused) and not batch.quarantine_stored
        if not plan.accepted:
            if floors:
                self._ledger.record_floors(floors)
            batch.floors_stored = True
            if rejected:
                self._ledger.quarantine(plan.quarantine, plan.refused.values())
                batch.quarantine_stored = True
                failpoints.hit(failpoints.QUARANTINE_STORED)
            return None
        readings = [pending for _, pending in plan.accepted]
        if floors or rejected:
            result = self._ledger.append_batch(
                readings,
                floors=floors,
                quarantine=plan.quarantine if rejected else (),
                refused=plan.refused.values() if rejected else (),
            )
        else:
            result = self._ledger.append_batch(readings)
        batch.floors_stored = batch.quarantine_stored = True
        self.sweep.appended()  # the block took the pending entries too
        return result

    def _new_floors(self, batch: Batch) -> list[StoredFloor]:
        """The batch's believed floors above their device's current one (``_drop_floor``
        moves the watermark over them only after they are stored)."""
        floors = []
        for item in batch.items:
            if item.outcome != CONTROL:
                continue
            assert item.floor is not None and item.device_id is not None
            state = self._states.get(item.device_id)
            if item.floor > (state.drop_floor if state is not None else 0):
                delivery = item.delivery
                floor = StoredFloor(
                    item.device_id, item.floor, delivery.payload, delivery.received_at
                )
                floors.append(floor)
        return floors

    def _settle_races(self, batch: Batch, plan: Plan, result: BatchResult) -> None:
        """Readings the ledger found stored meanwhile (another gateway sharing the database):
        identical ones are duplicates, different ones are quarantined as seq conflicts."""
        raced = set(result.duplicates)
        found = self._retry(
            "look up raced readings",
            lambda: self._ledger.stored_payloads(raced),
        )
        conflicts = []
        for item, pending in plan.accepted:
            key = (pending.device_id, pending.seq)
            if key not in raced:
                continue
            if found.get(key) == pending.payload:
                item.outcome = DUPLICATE_OUTCOME
            else:
                item.reject(
                    reasons.SEQ_CONFLICT, f"seq {pending.seq} was stored meanwhile with other bytes"
                )
                item.outcome = QUARANTINED
                conflicts.append(quarantine_item(item))
        if conflicts:
            self._retry("quarantine seq conflicts", lambda: self._ledger.quarantine(conflicts))

    def _retry(self, what: str, call: Callable[[], _T]) -> _T:
        """Run ``call``, retrying a DatabaseError with backoff until it works or we stop."""
        delay = _RETRY_MIN_S
        failed = False
        while True:
            try:
                result = call()
            except DatabaseError as exc:
                failed = True
                self._metrics.commit_failures.inc()
                if self._stop.is_set():
                    raise IngestError(
                        f"stopping while the database fails ({what}: {exc}); the batch was not "
                        "acknowledged and the broker will deliver it again"
                    ) from None
                log.error(
                    "database error (%s): %s; not acknowledging, retrying in %.1f s",
                    what,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            if failed:
                # Nothing was taken from the broker meanwhile: devices were not silent.
                self._health.deaf_until(time.monotonic())
            return result

    def _acknowledge(self, batch: Batch) -> None:
        deliveries = [item.delivery for item in batch.items if item.delivery.qos > 0]
        failpoints.hit(failpoints.ACK_BEFORE)
        if len(deliveries) > 1 and failpoints.armed(failpoints.ACK_BETWEEN):
            # Only for that crash test: two writes, so that a kill can fall between them.
            half = len(deliveries) // 2
            acked = self._link.ack_all(deliveries[:half])
            failpoints.hit(failpoints.ACK_BETWEEN, self._link.flush)
            acked += self._link.ack_all(deliveries[half:])
        else:
            acked = self._link.ack_all(deliveries)
        self._totals.acked += acked
        self._totals.stale_acks += len(deliveries) - acked
        failpoints.hit(failpoints.ACK_AFTER, self._link.flush)

    # -- after the commit -------------------------------------------------------------------------

    def _apply(self, batch: Batch, result: BatchResult | None, committed_at: float) -> None:
        states, health, totals, metrics = self._states, self._health, self._totals, self._metrics
        touched: dict[str, DeviceState] = {}
        latencies: list[float] = []
        rejected: dict[str, int] = {}
        accepted = duplicates = 0
        for item in batch.items:
            outcome = item.outcome
            if outcome == ACCEPTED:
                reading, delivery = item.reading, item.delivery
                assert reading is not None
                state = states[reading.device_id]
                previous = state.committed.high
                state.committed.add(reading.seq)
                health.accepted(
                    state,
                    reading.seq,
                    previous,
                    reading.timestamp_ms,
                    delivery.received_mono,
                    delivery.received_at,
                )
                latencies.append(committed_at - delivery.received_at)
                accepted += 1
                self._touch(touched, state, item)
            elif outcome == DUPLICATE_OUTCOME:
                assert item.reading is not None
                state = self._judge.state(item.reading.device_id)
                # Stored, perhaps by another gateway sharing the database: it counts for the
                # watermark like our own commits.
                state.committed.add(item.reading.seq)
                state.duplicates += 1
                duplicates += 1
                self._touch(touched, state, item)
            elif outcome == CONTROL:
                self._drop_floor(item, touched)
            elif outcome == QUARANTINED:
                assert item.reason is not None
                rejected[item.reason] = rejected.get(item.reason, 0) + 1
                if item.device is not None:
                    state = self._judge.state(item.device.device_id)
                    state.rejected += 1
                    if item.signed_rejection:
                        self._settle_rejected(state, item, touched)
        self._publish(touched)
        failpoints.hit(failpoints.WATERMARK_AFTER, self._link.flush)
        totals.batches += 1
        totals.received += len(batch.items)
        totals.accepted += accepted
        totals.duplicates += duplicates
        totals.rejected.update(rejected)
        totals.latency.extend(latencies)
        if totals.first_received_at is None:
            totals.first_received_at = batch.items[0].delivery.received_at
        totals.last_commit_at = committed_at
        metrics.received.inc(len(batch.items))
        metrics.batch_size.observe(len(batch.items))
        if accepted:
            metrics.accepted.inc(accepted)
        if duplicates:
            metrics.duplicates.inc(duplicates)
        for reason, count in rejected.items():
            metrics.rejected.labels(reason).inc(count)
        metrics.latency.observe_many(latencies)
        if result is not None and result.block is not None:
            totals.blocks += 1
            metrics.blocks.set(result.block.height + 1)
            metrics.checkpoint_size.set(result.block.height + 1)
            metrics.entries.set(result.block.next_index)

    def _settle_rejected(
        self, state: DeviceState, item: Item, touched: dict[str, DeviceState]
    ) -> None:
        """A signed rejection, durable in the quarantine: its seq is decided, so it counts for
        the watermark and the device may forget the reading."""
        reading = item.reading
        assert reading is not None and reading.device_id == state.device_id
        state.committed.add(reading.seq)
        state.rejected_high = max(state.rejected_high, reading.seq)
        self._touch(touched, state, item)

    @staticmethod
    def _touch(touched: dict[str, DeviceState], state: DeviceState, item: Item) -> None:
        if item.farm is not None:
            state.farm = item.farm
        touched[state.device_id] = state

    def _drop_floor(self, item: Item, touched: dict[str, DeviceState]) -> None:
        """A device declared the seqs up to ``item.floor`` dropped: move the watermark past."""
        assert item.floor is not None and item.device_id is not None
        if not self._judge.registered(item.device_id):
            log.warning("drop floor from unregistered device %s ignored", item.device_id)
            return
        state = self._judge.state(item.device_id)
        if item.floor <= state.drop_floor:
            return
        state.drop_floor = item.floor
        lost = state.committed.drop_through(item.floor)
        if lost:
            state.lost += lost
            self._metrics.lost.inc(lost)
            log.warning(
                "device %s dropped readings through seq %d: %d never reached the gateway",
                item.device_id,
                item.floor,
                lost,
            )
        self._touch(touched, state, item)

    def _publish(self, touched: dict[str, DeviceState]) -> None:
        """Publish changed watermarks, each device at most once per WATERMARK_INTERVAL_S; the
        others wait in ``_deferred`` for a later tick. Every watermark due is handed to the link
        in one call, which signs them all at once."""
        publications, deferred = self._publications, self._deferred
        now = time.monotonic()
        due: list[tuple[DeviceState, int]] = []
        wanted: list[tuple[str, str, int]] = []
        for state in touched.values():
            watermark = state.committed.watermark
            if state.farm is None or watermark == state.announced:
                continue
            if now < state.next_publish_mono:
                deferred[state.device_id] = state
                continue
            due.append((state, watermark))
            wanted.append((state.farm, state.device_id, watermark))
        if not due:
            return
        mids = self._link.publish_watermarks(wanted)
        for (state, watermark), mid in zip(due, mids, strict=True):
            if mid is None:
                deferred[state.device_id] = state
                continue
            deferred.pop(state.device_id, None)
            state.announced = watermark
            state.next_publish_mono = now + WATERMARK_INTERVAL_S
            if len(publications) >= _PUBLICATIONS_LIMIT:
                del publications[next(iter(publications))]
            publications[mid] = (state.device_id, watermark)
            self._metrics.watermarks.inc()

    # -- periodic work ----------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Seal the pending entries alone if no append took them for a batch age."""
        result = self.sweep.run_if_due()
        if result is not None and result.block is not None:
            self._totals.blocks += 1
            self._metrics.blocks.set(result.block.height + 1)
            self._metrics.checkpoint_size.set(result.block.height + 1)
            self._metrics.entries.set(result.block.next_index)

    def _tick(self) -> None:
        connects = self._link.connects
        if connects != self._connects_seen:
            # A broker that crashed may have lost retained watermarks: publish them all again.
            self._connects_seen = connects
            for state in self._states.values():
                state.announced = -1
                state.next_publish_mono = 0.0
            self._publish({s.device_id: s for s in self._states.values() if s.farm is not None})
        if self._deferred:
            self._publish(dict(self._deferred))
        grace, judged = self._config.replay_grace, self._judged_mono
        for mid, at in self._link.confirmed():
            entry = self._publications.pop(mid, None)
            known = self._states.get(entry[0]) if entry is not None else None
            if entry is not None and known is not None:
                known.record_published(entry[1], at, grace, judged)
        if self.on_tick is not None:
            self.on_tick()
