"""How much of what it rejects the gateway keeps: the quarantine's bounds.

Every rejected message used to be stored, up to 16 KiB of it, however many came: 2,000 junk
messages of 60 KiB added 32 MiB to the database in 0.7 s. Now a rejected message is stored only
within three bounds (docs/gateway.md, "Quarantine bounds"):

* **size**: at most ``keep_bytes`` of its payload (1,024 by default, the largest reading the wire
  format allows; the rest is summarised by its size and SHA-256 in the detail);
* **per device**: at most ``device_rows_per_minute`` rows for the device the topic names (or
  for all topics naming none), a token bucket of that many rows refilled at that rate;
* **overall**: at most ``bytes_per_hour`` bytes, a token bucket of that size refilled at that
  rate per hour. A row costs its kept payload, detail and topic plus :data:`ROW_OVERHEAD` for
  the row's header and index entries, so the charge covers what the row adds to the database.

A message past a bound is still rejected, acknowledged and counted (per registered device and
reason, in ``quarantine_refused``, in the same transaction as the rows that were kept), just not
stored. Signed rejections are never refused: only the device's own key can make one, each
settles a seq that the watermark counts (docs/gateway.md), so they must be durable; a copy of one
(quarantined again) is not exempt.

The buckets live in memory and start full: a restarted gateway may store one more burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BYTES_PER_HOUR",
    "DEFAULT_DEVICE_ROWS_PER_MINUTE",
    "DEFAULT_KEEP_BYTES",
    "ROW_OVERHEAD",
    "QuarantineBounds",
    "QuarantineLimits",
]

DEFAULT_KEEP_BYTES = 1024
"""A reading is at most 1,024 bytes (docs/wire-format.md): kept whole; anything longer is not a
reading, and its first KiB, size and hash say enough about it."""
DEFAULT_DEVICE_ROWS_PER_MINUTE = 60
"""One a second per device on average, in bursts of 60: more than a faulty device needs to show
what is wrong with it, and a forger of one device's topic cannot crowd out the others."""
DEFAULT_BYTES_PER_HOUR = 16 * 2**20
"""16 MiB an hour (384 MiB a day under a constant attack), against ~90 MB an hour of chain that
1,000 devices reading every 10 s add anyway; a Pi's SD card lasts months of attack."""
ROW_OVERHEAD = 256
"""Bytes charged per row beyond its payload, detail and topic: the row header, its fixed
columns and two index entries (reason; device and seq), rounded up."""
_MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class QuarantineLimits:
    """The bounds (see the module docstring); validated on creation."""

    keep_bytes: int = DEFAULT_KEEP_BYTES
    device_rows_per_minute: int = DEFAULT_DEVICE_ROWS_PER_MINUTE
    bytes_per_hour: int = DEFAULT_BYTES_PER_HOUR

    def __post_init__(self) -> None:
        for name in ("keep_bytes", "device_rows_per_minute", "bytes_per_hour"):
            if getattr(self, name) < 0:
                raise ValueError(f"quarantine {name.replace('_', ' ')} must not be negative")


class QuarantineBounds:
    """The per-device and overall token buckets. Not thread-safe: the committer's judge owns it."""

    def __init__(self, limits: QuarantineLimits) -> None:
        self.limits = limits
        self._device_rate = limits.device_rows_per_minute / 60.0
        self._byte_rate = limits.bytes_per_hour / 3600.0
        self._devices: dict[str, tuple[float, float]] = {}
        self._bytes = float(limits.bytes_per_hour)
        self._bytes_at = -math.inf

    def admit(self, device_key: str, cost: int, now: float) -> bool:
        """Whether a row of ``cost`` bytes for the topic's device ``device_key`` (``''`` for
        none) may be stored at monotonic time ``now``; if so, charge both buckets."""
        limits = self.limits
        tokens, at = self._devices.get(device_key, (float(limits.device_rows_per_minute), now))
        tokens = min(float(limits.device_rows_per_minute), tokens + (now - at) * self._device_rate)
        budget = self.remaining_bytes(now)
        if tokens < 1.0 or budget < cost:
            self._remember(device_key, tokens, now)
            return False
        self._remember(device_key, tokens - 1.0, now)
        self._bytes, self._bytes_at = budget - cost, now
        return True

    def device_exhausted(self, device_key: str, now: float) -> bool:
        """Whether :meth:`admit` would refuse any row for ``device_key`` at ``now`` because the
        device's bucket holds less than a row, whatever the row costs; if so, record the bucket
        exactly as that refusal would. The judge asks this first so that a message past its
        device's bound costs no quarantine record (``admit(key, cost, now)`` called after a
        False answer decides as it would have alone)."""
        limits = self.limits
        tokens, at = self._devices.get(device_key, (float(limits.device_rows_per_minute), now))
        tokens = min(float(limits.device_rows_per_minute), tokens + (now - at) * self._device_rate)
        if tokens < 1.0:
            self._remember(device_key, tokens, now)
            return True
        return False

    def remaining_bytes(self, now: float) -> float:
        """The overall budget left at ``now``."""
        if self._bytes_at == -math.inf:
            return self._bytes
        return min(
            float(self.limits.bytes_per_hour),
            self._bytes + (now - self._bytes_at) * self._byte_rate,
        )

    def _remember(self, device_key: str, tokens: float, now: float) -> None:
        devices = self._devices
        devices[device_key] = (tokens, now)
        if len(devices) > _MAX_BUCKETS:
            # Topics naming ever new devices: forget the buckets that refilled (as good as
            # new), then, if that is not enough, all of them; the overall bucket still holds.
            full = float(self.limits.device_rows_per_minute)
            for key, (left, at) in list(devices.items()):
                if left + (now - at) * self._device_rate >= full:
                    del devices[key]
            if len(devices) > _MAX_BUCKETS // 2:
                devices.clear()
