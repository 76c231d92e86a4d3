"""The expensive reads pass a gate (``farmtrace.api.http.ratelimit.CostlyGate``): one at a time,
a bounded queue, 429 beyond it; a checkpoint never waits behind them. And a client's bucket is
charged by cost."""

from __future__ import annotations

import asyncio
from typing import Any

from farmtrace.api.http.ratelimit import CostlyGate, RateLimiter, cost_of

BUNDLE = "/v1/lots/09506000134352/L1/bundle"


def _scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


def test_costly_reads_run_one_at_a_time_and_cheap_ones_never_wait() -> None:
    async def scenario() -> tuple[list[str], list[int]]:
        release = asyncio.Event()
        order: list[str] = []
        statuses: list[int] = []

        async def app(scope: Any, _receive: Any, send: Any) -> None:
            order.append(f"start {scope['path']}")
            if scope["path"] == BUNDLE:
                await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            order.append(f"end {scope['path']}")

        gate = CostlyGate(app, concurrency=1, queue=1, wait_s=5)

        async def call(path: str) -> None:
            async def send(message: Any) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await gate(_scope(path), None, send)

        first = asyncio.create_task(call(BUNDLE))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(call(BUNDLE))  # waits at the gate
        await asyncio.sleep(0.01)
        await call(BUNDLE)  # the queue of 1 is full: 429 at once
        await call("/checkpoint")  # passes while a bundle runs
        assert order == [f"start {BUNDLE}", "start /checkpoint", "end /checkpoint"]
        release.set()
        await asyncio.gather(first, second)
        return order, statuses

    order, statuses = asyncio.run(scenario())
    assert statuses == [429, 200, 200, 200]
    # The waiting bundle starts only once the first has ended.
    assert order[3:] == [f"end {BUNDLE}", f"start {BUNDLE}", f"end {BUNDLE}"]


def test_a_bucket_is_charged_by_cost() -> None:
    assert cost_of("GET", BUNDLE, 25) == 25
    assert cost_of("GET", "/01/09506000134352/10/L1", 25) == 25
    assert cost_of("GET", "/checkpoint", 25) == 1
    assert cost_of("POST", "/v1/lots/09506000134352/L1/excursions/ack", 25) == 1
    limiter = RateLimiter(rate=1, burst=30)
    assert limiter.take("c", now=0.0, cost=25) == 0
    assert limiter.take("c", now=0.0, cost=25) > 0  # 5 tokens left: not enough for another
    assert limiter.take("c", now=0.0) == 0  # but a checkpoint still goes through
