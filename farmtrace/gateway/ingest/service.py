"""The running gateway: the ledger, the broker link and the two pipeline threads, wired up.

Threads: paho's network thread (``on_message`` fills the inbox), the batcher (decode and
check, close batches), the committer (verify, judge, store, acknowledge, publish watermarks)
and the caller's thread, which waits for a stop and draws the status line.

Stopping (``stop`` set, by a signal or ``duration``): the batcher closes a last batch with what
has arrived, the committer commits and acknowledges it, then the connection is closed cleanly,
so acknowledgements go out before the DISCONNECT. Messages that arrive after that are not
acknowledged; the persistent session keeps them for the next run.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import queue
import resource
import threading
import time
from pathlib import Path

from farmtrace import rust_core
from farmtrace.gateway.ingest.batch import Batch
from farmtrace.gateway.ingest.batcher import Batcher
from farmtrace.gateway.ingest.committer import Committer
from farmtrace.gateway.ingest.config import IngestConfig
from farmtrace.gateway.ingest.cpu import RUST_CORE_THREADS, threads_cpu_seconds
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.errors import BrokerError, IngestError
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.housekeeping import HEALTH_FILE, Housekeeping
from farmtrace.gateway.ingest.inbox import Inbox
from farmtrace.gateway.ingest.judge import Judge
from farmtrace.gateway.ingest.link import BrokerLink
from farmtrace.gateway.ingest.metrics import GatewayMetrics, MetricsServer, RunTotals
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.gateway.ingest.seqruns import SeqRuns
from farmtrace.gateway.ingest.status import StatusLine
from farmtrace.store.interface import LedgerInterface
from farmtrace.store.watermark_key import load_or_create_watermark_key

__all__ = ["Gateway"]

log = logging.getLogger("farmtrace.gateway")

# The broker should never have more than the receive window out to us, but Mosquitto 2.0.11
# was measured overshooting it by over half once acknowledgements flow; the inbox bound is the
# real limit. When it is reached paho's network thread waits (TCP pushes back on the broker).
# Kept at a fifth of a batch so that, under overload, readings wait in the broker rather than
# here (receive-to-commit latency counts from arrival in on_message).
_INBOX_MIN = 1000


class Gateway:
    """One gateway process's ingest. ``run(stop)`` returns the exit code."""

    def __init__(
        self,
        ledger: LedgerInterface,
        config: IngestConfig,
        state_dir: Path,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        report_path: Path | None = None,
        status: StatusLine | None = None,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.metrics = GatewayMetrics()
        self.totals = RunTotals()
        self.inbox = Inbox(max(_INBOX_MIN, config.batch_size // 5))
        self.registry = RegistryView(ledger.devices, config.registry_refresh)
        self.states: dict[str, DeviceState] = {
            device_id: DeviceState(device_id, SeqRuns(0, runs))
            for device_id, runs in ledger.committed_runs().items()
        }
        for device_id, seq in ledger.rejected_highs().items():
            # Another gateway may have rejected it since committed_runs read: add it here too.
            state = self.states.setdefault(device_id, DeviceState(device_id))
            state.committed.add(seq)
            state.rejected_high = seq
        for device_id, floor in ledger.highest_floors().items():
            # Believed before and stored: the seqs it gave up stay settled even when the broker
            # lost its retained floor. The health report's ``lost`` is the device's total (the
            # same figure as the audit's lost_by_floor); the metric counts only what this
            # process believed, so it is not incremented here.
            state = self.states.setdefault(device_id, DeviceState(device_id))
            state.drop_floor = floor
            state.lost = state.committed.drop_through(floor)
        self.health = HealthMonitor(
            self.metrics,
            config.silence_factor,
            config.silence_min,
            report_skips=config.share_group is None,
        )
        watermark_key = load_or_create_watermark_key(state_dir)
        # In the key history, so that the devices' pins can be checked against what signed.
        ledger.record_watermark_key(
            base64.b64encode(watermark_key.public_key().public_bytes_raw()).decode("ascii")
        )
        self.link = BrokerLink(config, self.inbox, watermark_key, ledger.origin)
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._batcher = Batcher(
            self.inbox,
            self.registry,
            self._batches,
            config.batch_size,
            config.batch_age,
            self._stop,
            verify_threads=config.signature_threads,
        )
        self.committer = Committer(
            ledger,
            config,
            self.link,
            Judge(config, self.registry, self.states),
            self.states,
            self.health,
            self.metrics,
            self.totals,
            self._batches,
            self._stop,
        )
        self.housekeeping = Housekeeping(
            ledger,
            self.states,
            self.health,
            state_dir / HEALTH_FILE,
            config.share_group is not None,
            lambda: self.link.connected,
        )
        self.committer.on_tick = self.housekeeping.tick
        self._report_path = report_path
        self._status = status
        self._gc_clock = GcClock()
        self._metrics_server: MetricsServer | None = None
        self._startup_cpu: float | None = None
        if metrics_port is not None:
            self._metrics_server = MetricsServer(self.metrics, metrics_port, metrics_host)
            log.info("metrics on http://%s:%d/metrics", metrics_host, self._metrics_server.port)
        self.metrics.track_lag(self.queued, self.oldest_unacknowledged)
        self.metrics.blocks.set(ledger.size)
        self.metrics.checkpoint_size.set(ledger.size)
        self.metrics.entries.set(ledger.entry_count)

    @property
    def metrics_port(self) -> int | None:
        return self._metrics_server.port if self._metrics_server else None

    # -- lag ------------------------------------------------------------------------------------

    def _open_batches(self) -> list[Batch]:
        found = [b for b in list(self._batches.queue) if b is not None]
        current = self.committer.current
        if current is not None:
            found.append(current)
        return found

    def queued(self) -> float:
        """Messages received and not yet acknowledged (approximate, read across threads)."""
        return float(
            len(self.inbox) + self._batcher.open_size + sum(map(len, self._open_batches()))
        )

    def oldest_unacknowledged(self) -> float:
        """Age in seconds of the oldest message received and not yet acknowledged."""
        now = time.monotonic()
        firsts = [b.first_mono for b in self._open_batches() if b.items]
        opened = self._batcher.open_first_mono
        if opened is not None:
            firsts.append(opened)
        oldest = now - min(firsts) if firsts else 0.0
        return max(oldest, self.inbox.oldest_age(now))

    # -- running --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, duration: float | None = None) -> int:
        """Ingest until ``stop`` is set (or ``duration`` s passed); return the exit code."""
        config = self.config
        log.info(
            "gateway %s: chain of %d blocks, %d entries; %d devices registered",
            self.ledger.origin,
            self.ledger.size,
            self.ledger.entry_count,
            len(self.registry.devices),
        )
        self._gc_clock.start()
        threads = [
            threading.Thread(target=self._batcher.run, name="batcher", daemon=True),
            threading.Thread(target=self.committer.run, name="committer", daemon=True),
        ]
        for thread in threads:
            thread.start()
        code = 0
        deadline = None if duration is None else time.monotonic() + duration
        try:
            if not self.link.connect(stop):
                log.info("stopped before the broker %s was reached", config.broker.url)
            else:
                # What the process spent before ingesting (imports, the registry, the chain's
                # state): the run report gives it so CPU per reading can leave it out.
                self._startup_cpu = _cpu_seconds()
                log.info(
                    "subscribed to %s at %s; batches of %d or %.2f s",
                    config.reading_filter,
                    config.broker.url,
                    config.batch_size,
                    config.batch_age,
                )
                code = self._wait(stop, deadline)
        except BrokerError as exc:
            log.error("%s", exc)
            code = 2
        finally:
            self._shutdown(threads)
        for failure in (self._batcher.failure, self.committer.failure):
            if failure is not None:
                log.error("ingest stopped: %s: %s", type(failure).__name__, failure)
                code = code or 1
        self._write_report()
        return code

    def _wait(self, stop: threading.Event, deadline: float | None) -> int:
        connects = 0
        while not stop.wait(0.5):
            self.metrics.connected.set(1 if self.link.connected else 0)
            if self.link.connects != connects:
                self.metrics.reconnects.inc(self.link.connects - connects)
                connects = self.link.connects
            if self._status is not None:
                self._status.update(
                    self.totals,
                    self.link.connected,
                    int(self.queued()),
                    self.oldest_unacknowledged(),
                )
            if self.link.fatal is not None:
                log.error("%s", self.link.fatal)
                return 2
            if self._stop.is_set():  # the committer failed
                return 1
            if deadline is not None and time.monotonic() >= deadline:
                log.info("duration reached")
                break
        return 0

    def _shutdown(self, threads: list[threading.Thread]) -> None:
        log.info("stopping: committing and acknowledging what has arrived")
        self._stop.set()
        for thread in threads:
            thread.join()
        # Nobody takes from the inbox now; without this a network thread blocked on the full
        # inbox (the broker still sending its receive window) would never let the link close.
        self.inbox.close()
        self.link.close()
        self._gc_clock.stop()
        self.housekeeping.write_report()
        if self._metrics_server is not None:
            self._metrics_server.close()
        if self._status is not None:
            self._status.clear()
        totals = self.totals
        log.info(
            "stopped: %d received, %d accepted, %d duplicates, %d rejected, %d blocks",
            totals.received,
            totals.accepted,
            totals.duplicates,
            sum(totals.rejected.values()),
            totals.blocks,
        )

    def _write_report(self) -> None:
        if self._report_path is None:
            return
        report = {
            "origin": self.ledger.origin,
            "chain_blocks": self.ledger.size,
            "chain_entries": self.ledger.entry_count,
            "batch_size": self.config.batch_size,
            "batch_age_s": self.config.batch_age,
            "receive_window": self.config.window,
            "inbox_high_water": self.inbox.high_water,
            "inbox_full_waits": self.inbox.full_waits,
            "inbox_turned_away": self.inbox.turned_away,
            "cpu_seconds": round(_cpu_seconds(), 3),
            "startup_cpu_seconds": (
                None if self._startup_cpu is None else round(self._startup_cpu, 3)
            ),
            "gc_seconds": round(self._gc_clock.seconds, 3),
            "thread_cpu_seconds": {
                "network": round(self.link.thread_cpu, 3),
                "batcher": round(self._batcher.thread_cpu, 3),
                "committer": round(self.committer.thread_cpu, 3),
                "rust_core_workers": _rounded(threads_cpu_seconds(RUST_CORE_THREADS)),
            },
            "ed25519_arithmetic": rust_core.ed25519_arithmetic(),
            **self.totals.as_dict(),
        }
        try:
            self._report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise IngestError(f"cannot write the report {self._report_path}: {exc}") from None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


class GcClock:
    """CPU time the cyclic garbage collector takes (for the run report)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started
            self.collections += 1

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
