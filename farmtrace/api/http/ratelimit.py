"""A token bucket per client for every operation: ``rate`` tokens per second up to ``burst``.

A client is its peer address, behind a configured proxy the address that proxy saw
(``farmtrace.api.deps.client_of``). An empty bucket answers 429 with ``Retry-After`` in whole seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

__all__ = ["RateLimiter"]

_MAX_CLIENTS = 100_000


class RateLimiter:
    """Thread-safe token buckets keyed by client; the oldest idle buckets are forgotten."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header value for a wait in seconds (at least 1)."""
        return str(max(1, math.ceil(wait)))
