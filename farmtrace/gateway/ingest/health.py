"""Device health: sequence skips, clocks running backwards, devices gone silent.

* **Sequence skip**: a reading above the device's highest committed seq + 1 (readings lost on
  the way, or a device that skipped). Logged once per skip and counted. With a shared
  subscription every gateway sees only part of each stream, so skips are not reported as they
  arrive; the device report's ``missing`` (refreshed from the database) tells instead.
* **Clock backwards**: a new reading timestamped more than a second before the device's
  previous one (the rule of :mod:`farmtrace.chain.clock`, checked here in arrival order). The
  reading is stored as signed (it is authentic) and flagged: logged, counted.
* **Silence**: each device's usual interval is learnt from its recent arrivals (median of the
  last 16 gaps between new readings; bursts under a millisecond, such as a backlog being
  resent, are ignored). A device not heard from for ``max(silence_factor x interval,
  silence_min)`` seconds is reported silent (log line, gauge, counter) until it is heard again.
  Time the gateway itself could not hear (its broker connection down, or commits stalled by a
  database that refuses writes, when nothing is taken from the broker) does not count: silence
  is measured from the later of the device's last arrival and the gateway's :meth:`deaf_until`.

:meth:`HealthMonitor.report` gives the per-device figures, which the gateway writes to
``<state>/device-health.json``.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterable

from farmtrace.chain.clock import went_backwards
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.metrics import GatewayMetrics

__all__ = ["HealthMonitor"]

log = logging.getLogger("farmtrace.gateway")

_MIN_INTERVAL_S = 0.001
_MIN_SAMPLES = 4


class HealthMonitor:
    """Watches device streams; called by the committer thread only."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        silence_factor: float,
        silence_min: float,
        report_skips: bool = True,
    ) -> None:
        self._metrics = metrics
        self._factor = silence_factor
        self._min = silence_min
        self._report_skips = report_skips
        self._silent: set[str] = set()
        self._hearing_since = float("-inf")

    def deaf_until(self, now_mono: float) -> None:
        """The gateway could not hear devices until ``now_mono`` (it was not taking readings
        from the broker): no device counts as silent for that time."""
        self._hearing_since = max(self._hearing_since, now_mono)

    def accepted(
        self,
        state: DeviceState,
        seq: int,
        previous_high: int,
        timestamp_ms: int,
        arrival_mono: float,
        arrival_wall: float,
    ) -> None:
        """A reading of ``state``'s device was committed (``previous_high`` before it)."""
        if seq <= previous_high:
            return  # a gap being filled, not the stream moving on
        if self._report_skips and seq > previous_high + 1 and previous_high > 0:
            state.gaps += 1
            self._metrics.gaps.inc()
            log.warning(
                "device %s: sequence skipped from %d to %d (%d missing)",
                state.device_id,
                previous_high,
                seq,
                seq - previous_high - 1,
            )
        last_ts = state.last_timestamp_ms
        if last_ts is not None and went_backwards(last_ts, timestamp_ms):
            state.clock_backwards += 1
            self._metrics.clock_backwards.inc()
            log.warning(
                "device %s: clock went backwards by %.3f s at seq %d (stored and flagged)",
                state.device_id,
                (last_ts - timestamp_ms) / 1000,
                seq,
            )
        state.last_timestamp_ms = timestamp_ms
        if state.last_arrival_mono is not None:
            gap = arrival_mono - state.last_arrival_mono
            if gap >= _MIN_INTERVAL_S:
                state.intervals.append(gap)
        state.last_arrival_mono = arrival_mono
        state.last_arrival_wall = arrival_wall
        if state.silent_since_mono is not None:
            log.info(
                "device %s is back after %.1f s of silence",
                state.device_id,
                arrival_mono - state.silent_since_mono,
            )
            state.silent_since_mono = None
            self._silent.discard(state.device_id)
            self._metrics.silent.set(len(self._silent))

    def expected_interval(self, state: DeviceState) -> float | None:
        """The device's usual interval between readings, once enough were seen."""
        if len(state.intervals) < _MIN_SAMPLES:
            return None
        return statistics.median(state.intervals)

    def check_silence(self, states: Iterable[DeviceState], now_mono: float | None = None) -> int:
        """Report devices that have gone quiet for longer than their interval allows; return
        how many went silent now."""
        now = time.monotonic() if now_mono is None else now_mono
        newly = 0
        for state in states:
            last = state.last_arrival_mono
            if last is None or state.silent_since_mono is not None:
                continue
            quiet = now - max(last, self._hearing_since)
            if quiet < self._min:
                continue
            interval = self.expected_interval(state)
            if interval is None:
                continue
            allowed = max(self._factor * interval, self._min)
            if quiet > allowed:
                newly += 1
                state.silent_since_mono = last
                self._silent.add(state.device_id)
                self._metrics.silences.inc()
                self._metrics.silent.set(len(self._silent))
                log.warning(
                    "device %s silent for %.1f s (usually every %.2f s)",
                    state.device_id,
                    now - last,
                    interval,
                )
        return newly

    @property
    def silent(self) -> set[str]:
        return set(self._silent)

    def report(
        self, states: Iterable[DeviceState], now_mono: float | None = None
    ) -> list[dict[str, object]]:
        """Per-device health figures, by device ID."""
        now = time.monotonic() if now_mono is None else now_mono
        out: list[dict[str, object]] = []
        for state in sorted(states, key=lambda s: s.device_id):
            interval = self.expected_interval(state)
            silent_for = (
                now - state.silent_since_mono if state.silent_since_mono is not None else None
            )
            out.append(
                {
                    "device_id": state.device_id,
                    "farm": state.farm,
                    "watermark": state.committed.watermark,
                    "highest_seq": state.committed.high,
                    "missing": state.committed.missing,
                    "drop_floor": state.drop_floor,
                    "lost": state.lost,
                    "last_seen": state.last_arrival_wall,
                    "expected_interval_s": interval,
                    "silent": silent_for is not None,
                    "silent_for_s": silent_for,
                    "sequence_skips": state.gaps,
                    "clock_backwards": state.clock_backwards,
                    "duplicates": state.duplicates,
                    "rejected": state.rejected,
                }
            )
        return out
