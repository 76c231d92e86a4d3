"""Prometheus metrics of the ingest, and the plain run totals behind the status line and report.

Metric names start with ``farmtrace_gateway_``; ``docs/gateway.md`` lists them. Each gateway
instance has its own registry, so several can run in one process (tests). Counters are added
per batch, not per message, to keep the hot path light.
"""

from __future__ import annotations

import math
import random
import threading
from array import array
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = [
    "LATENCY_SAMPLES",
    "BatchHistogram",
    "GatewayMetrics",
    "LatencySample",
    "MetricsServer",
    "RunTotals",
]

LATENCY_SAMPLES = 1_000_000
"""At most this many receive-to-commit latencies are kept for the run's quantiles."""

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 3000, 4000, 5000, 7500, 10000, 20000)


class LatencySample:
    """A uniform sample (reservoir) of at most ``limit`` latencies; exact below the limit."""

    def __init__(self, limit: int = LATENCY_SAMPLES, seed: int = 0) -> None:
        self._values = array("d")
        self._limit = limit
        self._seen = 0
        self._rng = random.Random(seed)

    def extend(self, values: list[float]) -> None:
        room = self._limit - len(self._values)
        if room > 0:
            # Below the limit every value is kept: one copy instead of a step each.
            kept = values[:room]
            self._values.extend(kept)
            self._seen += len(kept)
            values = values[room:]
        for value in values:
            self._seen += 1
            slot = self._rng.randrange(self._seen)
            if slot < self._limit:
                self._values[slot] = value

    def quantiles(self, *qs: float) -> list[float | None]:
        """The requested quantiles (nearest rank), ``None`` when nothing was observed."""
        if not self._values:
            return [None for _ in qs]
        ordered = sorted(self._values)
        n = len(ordered)
        return [ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs]

    def __len__(self) -> int:
        return self._seen


@dataclass
class RunTotals:
    """What this process did, in plain numbers (read by the status line and the report)."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Tally[str] = field(default_factory=Tally)
    quarantine_refused: Tally[str] = field(default_factory=Tally)
    batches: int = 0
    blocks: int = 0
    acked: int = 0
    stale_acks: int = 0
    first_received_at: float | None = None
    last_commit_at: float | None = None
    latency: LatencySample = field(default_factory=LatencySample)

    def as_dict(self) -> dict[str, object]:
        p50, p90, p99, top = self.latency.quantiles(0.5, 0.9, 0.99, 1.0)
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": dict(sorted(self.rejected.items())),
            "quarantine_refused": dict(sorted(self.quarantine_refused.items())),
            "batches": self.batches,
            "blocks": self.blocks,
            "acked": self.acked,
            "acks_skipped_after_reconnect": self.stale_acks,
            "first_received_at": self.first_received_at,
            "last_commit_at": self.last_commit_at,
            "receive_to_commit_s": {"p50": p50, "p90": p90, "p99": p99, "max": top},
        }


class BatchHistogram(Collector):
    """A Prometheus histogram fed a batch of observations per call.

    ``prometheus_client.Histogram.observe`` takes a lock and walks the buckets for each value,
    about 0.8 µs; the committer observes every reading's latency, thousands a batch. This one
    counts a batch's values into buckets first (``bisect``, no lock) and adds them under one
    lock, about 0.1 µs a value. It exposes what a ``Histogram`` with the same name and buckets
    fed the same values one by one exposes (``le`` buckets, ``_count``, ``_sum``), without the
    ``_created`` sample; ``tests/gateway/test_ingest_units.py`` compares the two.
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = (*(float(b) for b in buckets), math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        """Observe each of ``values`` (a value equal to a bucket's bound falls in it)."""
        bounds = self._bounds
        counts = [0] * len(bounds)
        for value in values:
            counts[bisect_left(bounds, value)] += 1
        total = math.fsum(values)
        with self._lock:
            self._counts = [a + b for a, b in zip(self._counts, counts, strict=True)]
            self._sum += total

    def observe(self, value: float) -> None:
        self.observe_many((value,))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip(self._bounds, counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=total
        )


class GatewayMetrics:
    """The gateway's Prometheus metrics in their own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "farmtrace_gateway_"
        self.received = Counter(
            p + "messages_received", "Messages received from the broker", registry=r
        )
        self.accepted = Counter(
            p + "readings_accepted", "Readings committed to the chain", registry=r
        )
        self.rejected = Counter(
            p + "messages_rejected", "Messages quarantined, by reason", ["reason"], registry=r
        )
        self.quarantine_refused = Counter(
            p + "quarantine_refused",
            "Rejected messages counted but not stored, past the quarantine's bounds, by reason",
            ["reason"],
            registry=r,
        )
        self.quarantine_budget = Gauge(
            p + "quarantine_budget_bytes",
            "Bytes the quarantine may still store now (overall bucket)",
            registry=r,
        )
        self.duplicates = Counter(
            p + "duplicates", "Copies of stored readings, dropped and acknowledged", registry=r
        )
        self.batch_size = Histogram(
            p + "batch_size", "Messages per closed batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.latency = BatchHistogram(
            p + "receive_to_commit_seconds",
            "From a reading's arrival to its durable commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            p + "commit_seconds", "Database time per batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.blocks = Gauge(p + "blocks", "Blocks in this gateway's chain", registry=r)
        self.entries = Gauge(p + "entries", "Entries in this gateway's chain", registry=r)
        self.checkpoint_size = Gauge(
            p + "checkpoint_size", "Tree size of the latest signed checkpoint", registry=r
        )
        self.queue_depth = Gauge(
            p + "queue_depth", "Messages received and not yet acknowledged", registry=r
        )
        self.oldest_uncommitted = Gauge(
            p + "oldest_uncommitted_seconds", "Age of the oldest unacknowledged message", registry=r
        )
        self.connected = Gauge(
            p + "broker_connected", "1 while connected to the broker", registry=r
        )
        self.reconnects = Counter(
            p + "broker_connects", "Successful broker connections", registry=r
        )
        self.commit_failures = Counter(
            p + "commit_failures", "Batch commits that failed and were retried", registry=r
        )
        self.gaps = Counter(
            p + "sequence_gaps", "Sequence skips seen in device streams", registry=r
        )
        self.silent = Gauge(p + "devices_silent", "Devices currently silent too long", registry=r)
        self.silences = Counter(p + "silence_alarms", "Devices that went silent", registry=r)
        self.clock_backwards = Counter(
            p + "clock_backwards", "Readings timestamped before their predecessor", registry=r
        )
        self.lost = Counter(
            p + "readings_lost", "Seqs a device declared dropped that were never stored", registry=r
        )
        self.watermarks = Counter(
            p + "watermarks_published", "Commit watermarks published to devices", registry=r
        )

    def track_lag(self, depth: Callable[[], float], oldest: Callable[[], float]) -> None:
        """Compute queue depth and oldest unacknowledged age at scrape time."""
        self.queue_depth.set_function(depth)
        self.oldest_uncommitted.set_function(oldest)


class MetricsServer:
    """The ``/metrics`` HTTP endpoint, on 127.0.0.1 unless told otherwise."""

    def __init__(self, metrics: GatewayMetrics, port: int, host: str = "127.0.0.1") -> None:
        self._server, self._thread = start_http_server(port, host, registry=metrics.registry)
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
