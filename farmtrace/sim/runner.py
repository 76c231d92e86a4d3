"""The simulator: one thread, one selector, every device.

Each turn of the loop waits on the selector until a socket is ready, a reading falls due or
housekeeping is due; lets paho handle the ready sockets; takes the readings that fell due,
storing each in the outbox; commits the outbox; and only then publishes, so nothing is ever on
the wire that is not on disk. Housekeeping (four times a second) connects devices with
exponential back-off and jitter, keeps connections alive, and applies link faults.

Per device at most ``max_inflight`` readings are unacknowledged on the connection; the rest wait
in the outbox and are sent oldest first as acknowledgements arrive.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import resource
import selectors
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from farmtrace.sim.clock import SimClock
from farmtrace.sim.delivery import Delivery
from farmtrace.sim.errors import BrokerError
from farmtrace.sim.faults import Tally
from farmtrace.sim.identity import Keystore
from farmtrace.sim.link import Link
from farmtrace.sim.options import RunOptions, raise_file_limit, state_lock
from farmtrace.sim.outbox import Outbox
from farmtrace.sim.runtime import Device, Taken
from farmtrace.sim.specs import ATTACK_KEYS
from farmtrace.sim.status import Stats, StatusLine
from farmtrace.sim.world import build_devices
from farmtrace.wire import topics

log = logging.getLogger("farmtrace.sim")

TICK = 0.05  # wall seconds between batches of readings
HOUSEKEEPING = 0.25  # wall seconds between housekeeping passes
READY_GRACE = 0.3  # wait after SUBACK for the retained watermark before resending
MAX_READINGS_PER_TURN = 5000


class Simulator:
    """Runs a scenario until its duration passes or it is asked to stop (SIGINT/SIGTERM)."""

    def __init__(self, options: RunOptions, status: StatusLine | None = None) -> None:
        self.options = options
        self.status = status or StatusLine()
        self.stats = Stats()
        self.tally = Tally()
        self.selector = selectors.DefaultSelector()
        self.clock = SimClock(
            options.start if options.start is not None else time.time(), options.speed
        )
        self._rng = random.Random(f"{options.seed}:network")
        self._stop = False
        self._fatal: BaseException | None = None
        self._ever_connected = False
        self._gate_failures = 0
        self._gate_until = 0.0
        self._closing = False
        self._drops_reported = 0
        self._next_drop_report = 0.0
        self._last_second = 0.0
        self.turns = 0
        self._offline: set[Device] = set()  # devices whose link is not up
        self.loop_cpu = 0.0
        self.loop_wall = 0.0
        self.devices: list[Device] = []
        self.outbox: Outbox | None = None
        self.delivery: Delivery | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run to the end and return the report (also on a stop request)."""
        options = self.options
        raise_file_limit(len(options.scenario.devices) + 64)
        with state_lock(options.state_dir), self._signals():
            self.outbox = Outbox(options.state_dir / "outbox.sqlite3", options.queue_limit)
            self.delivery = Delivery(
                self.outbox,
                self.stats,
                self.tally,
                window=options.broker.max_inflight,
                until_committed=options.until_committed,
                resend_after=options.resend_after,
                queue_limit=options.queue_limit,
                clock=self.clock.now,
                gateway_keys=options.gateway_keys,
            )
            try:
                self.devices = build_devices(
                    options.scenario,
                    seed=options.seed,
                    keystore=Keystore(options.state_dir),
                    outbox=self.outbox,
                    broker=options.broker,
                    selector=self.selector,
                    events=self,
                    until_committed=options.until_committed,
                    faults=options.faults,
                    attacks=options.attacks,
                    tally=self.tally,
                    start=self.clock.start,
                )
                self._offline.update(self.devices)
                self.clock.restart()  # key generation on a first run is not simulated time
                self._loop()
                self._drain()
            finally:
                self._shutdown()
                self.status.clear()
        return self.report()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        def request_stop(signum: int, frame: Any) -> None:
            self._stop = True

        try:
            previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: the caller stops us through stop()
            yield
            return
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self) -> None:
        self._stop = True

    def _loop(self) -> None:
        cpu0, wall0 = time.process_time(), time.monotonic()
        try:
            self._turns()
        finally:
            self.loop_cpu = time.process_time() - cpu0
            self.loop_wall = time.monotonic() - wall0

    def _turns(self) -> None:
        clock = self.clock
        options = self.options
        end = clock.start + options.duration if options.duration is not None else float("inf")
        heap = [(d.next_due, i) for i, d in enumerate(self.devices)]
        heapq.heapify(heap)
        delivery = self._delivery()
        next_tick = next_house = 0.0
        while not self._stop:
            now = time.monotonic()
            if clock.at(now) >= end:
                break
            due = max(next_tick, clock.mono_for(heap[0][0]))
            self._poll(max(0.0, min(due, next_house, clock.mono_for(end)) - now))
            self._check_fatal()
            now = time.monotonic()
            if now >= due:
                # Readings are taken in batches a tick apart: one transaction per batch keeps
                # SQLite's cost per reading low, and nothing is published before its commit.
                fresh = self._take_due(heap, min(clock.at(now), end))
                self._outbox().flush()
                delivery.dispatch(fresh)
                next_tick = now + TICK
            if delivery.backlogged:
                delivery.pump()
            if now >= next_house:
                self._housekeeping(now)
                next_house = now + HOUSEKEEPING

    def _drain(self) -> None:
        """After the last reading: keep sending until the outbox is empty or time runs out."""
        deadline = time.monotonic() + self.options.drain_timeout
        delivery = self._delivery()
        while not self._stop and time.monotonic() < deadline and self._queued() > 0:
            self._poll(0.05)
            self._check_fatal()
            delivery.pump()
            self._housekeeping(time.monotonic())

    def _shutdown(self) -> None:
        """Say offline, disconnect cleanly, commit and close the outbox."""
        self._closing = True
        for device in self.devices:
            link = device.link
            if link.state == "up":
                link.publish(link.status_topic, topics.STATUS_OFFLINE, retain=True)
                link.close()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(d.link.client for d in self.devices):
            self._poll(0.05)
        for device in self.devices:
            if device.link.client is not None:
                device.link.abort("shutdown")
        if self.outbox is not None:
            self.outbox.close()
        self.selector.close()

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _poll(self, timeout: float) -> None:
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        self.turns += 1
        for key, mask in self.selector.select(timeout):
            key.data.service(bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE))

    def _take_due(self, heap: list[tuple[float, int]], until: float) -> list[tuple[Device, Taken]]:
        outbox = self._outbox()
        start = self.clock.start
        fresh: list[tuple[Device, Taken]] = []
        while heap and heap[0][0] <= until and len(fresh) < MAX_READINGS_PER_TURN:
            due, index = heapq.heappop(heap)
            device = self.devices[index]
            taken = device.take_reading(due, due - start, outbox, self.tally)
            heapq.heappush(heap, (due + device.spec.interval, index))
            if taken is not None:
                fresh.append((device, taken))
        return fresh

    # -- connections -----------------------------------------------------------------------

    def _housekeeping(self, now: float) -> None:
        """Commit acknowledgements; connect devices that are down (every pass); once a second,
        keep connections alive, apply link faults and watermark checks, update the status."""
        self._outbox().flush()
        connects = 0
        for device in list(self._offline):
            link = device.link
            if link.state == "connecting":
                if now - link.started > self.options.broker.connect_timeout:
                    link.abort("no CONNACK within the connect timeout")
            elif (
                now >= link.next_attempt
                and now >= self._gate_until
                and connects < self.options.max_connects_per_turn
                and self._wanted(device)
            ):
                connects += 1
                self._connect(device, now)
        if now - self._last_second < 1.0:
            return
        self._last_second = now
        delivery = self._delivery()
        for device in self.devices:
            link = device.link
            if link.state != "up":
                continue
            if not self._wanted(device):
                link.abort("link-down fault or flat battery")
                continue
            link.misc()
            delivery.check(device, now)
        self._report_drops(now)
        self.status.update(
            self.stats,
            len(self.devices) - len(self._offline),
            len(self.devices),
            self._queued(),
            datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )

    def _wanted(self, device: Device) -> bool:
        """Should the device be connected (not browned out, not in a link-down fault)?"""
        if device.sensor.battery.browned_out:
            return False
        return not device.faults.specs or not device.faults.link_down(self.clock.elapsed())

    def _connect(self, device: Device, now: float) -> None:
        try:
            device.link.open()
        except OSError as err:
            self.stats.connect_failures += 1
            if not self._ever_connected and not self.options.offline_start:
                raise BrokerError(
                    f"cannot connect to {self.options.broker.url}: {err}"
                    " (is the broker running? --offline-start keeps measuring meanwhile)"
                ) from err
            # The broker is down for everyone: let one device probe while the rest wait.
            self._gate_failures += 1
            self._gate_until = now + self._backoff(self._gate_failures)
            device.link.next_attempt = self._gate_until
            log.info("broker unreachable (%s); next attempt in %.1fs", err, self._gate_until - now)

    def _backoff(self, failures: int) -> float:
        """Exponential back-off with "equal jitter": half fixed, half random."""
        delay: float = min(
            self.options.backoff_max, self.options.backoff_min * 2.0 ** max(0, failures - 1)
        )
        return delay / 2 + self._rng.uniform(0.0, delay / 2)

    def _report_drops(self, now: float) -> None:
        if self.stats.dropped > self._drops_reported and now >= self._next_drop_report:
            self.status.clear()
            log.warning(
                "%d readings dropped so far (oldest first; queue limit %d per device)",
                self.stats.dropped, self.options.queue_limit,
            )  # fmt: skip
            self._drops_reported = self.stats.dropped
            self._next_drop_report = now + 10.0

    # -- link events (called from paho callbacks inside _poll) ------------------------------

    def link_up(self, link: Link) -> None:
        device: Device = link.owner
        self._offline.discard(device)
        self.stats.connects += 1
        self._ever_connected = True
        self._gate_failures = 0
        self._gate_until = 0.0
        device.ready = False
        device.ready_at = None
        if not self.options.until_committed:
            self._delivery().make_ready(device, time.monotonic())

    def subscribed(self, link: Link) -> None:
        device: Device = link.owner
        if not device.ready:
            device.ready_at = time.monotonic() + READY_GRACE

    def link_refused(self, link: Link, reason: str) -> None:
        self.stats.connect_failures += 1
        if not self._ever_connected and not self.options.offline_start:
            self._fatal = BrokerError(
                f"{self.options.broker.url} refused the connection of {link.device_id}: {reason}"
            )
        else:
            log.warning("broker refused %s: %s", link.device_id, reason)

    def link_down(self, link: Link, reason: str) -> None:
        self._offline.add(link.owner)
        self._delivery().connection_lost(link.owner)
        link.failures += 1
        link.next_attempt = time.monotonic() + self._backoff(link.failures)
        if not self._closing:
            log.info("%s disconnected: %s", link.device_id, reason)

    def puback(self, link: Link, mid: int, failure: str | None) -> None:
        self._delivery().puback(link.owner, mid, failure)

    def watermark(self, link: Link, payload: bytes) -> None:
        self._delivery().watermark(link.owner, payload, time.monotonic())

    # -- reporting -------------------------------------------------------------------------

    def _delivery(self) -> Delivery:
        assert self.delivery is not None, "delivery starts with the run"
        return self.delivery

    def _outbox(self) -> Outbox:
        assert self.outbox is not None, "the outbox opens when the run starts"
        return self.outbox

    def _queued(self) -> int:
        return sum(d.record.queued for d in self.devices)

    def report(self) -> dict[str, Any]:
        """Counts, fault and attack tallies, and each device's last seq."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats = self.stats
        counts = dict(self.tally.counts)
        return {
            "scenario": self.options.scenario.name,
            "farm": self.options.scenario.farm,
            "devices": len(self.devices),
            "speed": self.options.speed,
            "simulated_seconds": round(self.clock.elapsed(), 3),
            "wall_seconds": round(time.monotonic() - stats.started, 3),
            "readings": stats.readings,
            "acked": stats.acked,
            "failed": stats.failed,
            "dropped": stats.dropped,
            "resent": stats.resent,
            "watermarks": stats.watermarks,
            "watermarks_refused": dict(stats.watermarks_refused),
            "queued": self._queued(),
            "connects": stats.connects,
            "connect_failures": stats.connect_failures,
            "attacks": {k: v for k, v in counts.items() if k in ATTACK_KEYS},
            "faults": {k: v for k, v in counts.items() if k not in ATTACK_KEYS},
            "events": self.tally.events,
            "last_seq": {d.device_id: d.record.last_seq for d in self.devices},
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "loop_cpu_seconds": round(self.loop_cpu, 3),
            "loop_wall_seconds": round(self.loop_wall, 3),
            "loop_turns": self.turns,
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
