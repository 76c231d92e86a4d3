"""Rate limits by cost: a token bucket per client, and a gate for the expensive reads.

A client is its peer address, behind a configured proxy the address that proxy saw
(``farmtrace.api.deps.client_of``). Each client has a bucket of ``rate`` tokens per second up
to ``burst``; an operation takes tokens by its cost (:func:`cost_of`): 1 for the cheap ones
(checkpoints, proofs, a reading, a lot's record, writes), ``costly`` for those that rebuild a
lot's whole story from its readings (its bundle, EPCIS document, excursions and consumer
page: tens of milliseconds each, against about one for a checkpoint). An empty bucket answers
429 with ``Retry-After`` in whole seconds.

Buckets alone cannot protect the cheap reads: many clients, each within its budget, can still
keep every core busy with bundles. So the expensive reads also pass :class:`CostlyGate`: at
most ``concurrency`` of them run at once in the process, the next ``queue`` wait (in the event
loop, holding no thread) up to ``wait_s`` seconds, and any beyond answer 429 at once. A
checkpoint or proof never waits at the gate.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COSTLY_PATHS", "CostlyGate", "RateLimiter", "cost_of", "is_costly"]

_MAX_CLIENTS = 100_000

COSTLY_PATHS = re.compile(
    r"^/v1/lots/[^/]+/[^/]+/(bundle|epcis|excursions)/?$"  # a lot's whole story
    r"|^/v1/(campaigns|coupons)/[^/]+/bundle/?$"  # a campaign's entries and transfers, proven
    r"|^/v1/communities/[^/]+/members/[^/]+/statement/?$"  # a community's every entry, proven
    r"|^/01/[^/]+/10/[^/]+/?$"  # its Digital Link: the consumer page or the linkset
)
"""The expensive reads: each reads and judges every reading of a lot."""


def is_costly(method: str, path: str) -> bool:
    """Whether ``method path`` is one of the expensive reads (:data:`COSTLY_PATHS`)."""
    return method in ("GET", "HEAD") and COSTLY_PATHS.match(path) is not None


def cost_of(method: str, path: str, costly: float) -> float:
    """The tokens ``method path`` takes: ``costly`` for the expensive reads, else 1."""
    return costly if is_costly(method, path) else 1.0


class RateLimiter:
    """Thread-safe token buckets keyed by client; the oldest idle buckets are forgotten."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None, cost: float = 1.0) -> float:
        """Take ``cost`` tokens (at most ``burst``); return 0 if allowed, else the seconds until
        that many are available (nothing is taken then)."""
        now = time.monotonic() if now is None else now
        cost = min(cost, self.burst)
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header value for a wait in seconds (at least 1)."""
        return str(max(1, math.ceil(wait)))


class CostlyGate:
    """ASGI middleware: at most ``concurrency`` expensive reads at once (see the module
    docstring); ``queue`` more wait up to ``wait_s`` seconds, the rest answer 429."""

    def __init__(
        self, app: ASGIApp, concurrency: int = 1, queue: int = 64, wait_s: float = 5.0
    ) -> None:
        if concurrency < 1 or queue < 0 or wait_s < 0:
            raise ValueError("concurrency must be at least 1, queue and wait_s not negative")
        self.app = app
        self.concurrency = concurrency
        self.queue = queue
        self.wait_s = wait_s
        self._running = 0
        self._waiting = 0
        self._freed: asyncio.Condition | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_costly(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._freed is None:
            self._freed = asyncio.Condition()  # made on the server's loop, at first use
        freed = self._freed
        refused: str | None = None
        async with freed:
            if self._running >= self.concurrency:
                if self._waiting >= self.queue:
                    refused = "too many expensive reads are waiting"
                else:
                    self._waiting += 1
                    try:
                        await asyncio.wait_for(
                            freed.wait_for(lambda: self._running < self.concurrency), self.wait_s
                        )
                    except TimeoutError:
                        refused = f"no expensive read finished within {self.wait_s:g} s"
                    finally:
                        self._waiting -= 1
            if refused is None:
                self._running += 1
        if refused is not None:
            await _busy(send, refused)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            async with freed:
                self._running -= 1
                freed.notify(1)


async def _busy(send: Send, why: str) -> None:
    body = json.dumps(
        {"error": "rate-limited", "detail": f"the server is busy: {why}; retry in 1 s"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
