"""A message past its device's quarantine bound is counted without building its quarantine
record (``QuarantineBounds.device_exhausted`` asked first, ``Plan.refuse`` summing in place):
the judge keeps and refuses exactly what the plain path keeps and refuses (every record through
``QuarantineBounds.admit``, one ``RefusedCount`` per message), on the hostile corpus cycled
through several batches under tight bounds, and the bounds themselves decide alike on random
call sequences."""

from __future__ import annotations

import dataclasses
import random
import time
import types

import pytest
from support.judging import JudgingPath

from farmtrace.bench.hostile import build_corpus
from farmtrace.gateway.ingest.judge import Judge, Plan
from farmtrace.gateway.ingest.quarantine_bounds import QuarantineBounds, QuarantineLimits
from farmtrace.store.refused import RefusedCount

NOW = 1_767_225_600.0


def _reference_refused(
    plan_items: list[tuple[str, str, int, float]],
) -> dict[tuple[str, str], RefusedCount]:
    """The counts as the plain path built them: one RefusedCount per refused message."""
    out: dict[tuple[str, str], RefusedCount] = {}
    for device, reason, size, at in plan_items:
        seen = out.get((device, reason))
        out[(device, reason)] = (
            RefusedCount(device, reason, 1, size, at, at)
            if seen is None
            else RefusedCount(
                device,
                reason,
                seen.refused + 1,
                seen.refused_bytes + size,
                min(seen.first_at, at),
                max(seen.last_at, at),
            )
        )
    return out


def _run(monkeypatch: pytest.MonkeyPatch, plain: bool) -> list[tuple[object, ...]]:
    clock = [0.0]
    fake = types.SimpleNamespace(
        monotonic=lambda: clock[0], strftime=time.strftime, gmtime=time.gmtime
    )
    monkeypatch.setattr("farmtrace.gateway.ingest.judge.time", fake)
    if plain:
        monkeypatch.setattr(QuarantineBounds, "device_exhausted", lambda self, key, now: False)
    corpus = build_corpus("greenacre", int(NOW * 1000), "refused")
    path = JudgingPath(corpus.registered, NOW, revoked=[corpus.revoked])
    limits = QuarantineLimits(keep_bytes=200, device_rows_per_minute=6, bytes_per_hour=40_000)
    config = dataclasses.replace(path.config, quarantine=limits)
    path.judge = Judge(config, path.registry, path.states)
    plans: list[Plan] = []
    judge_batch = path.judge.judge

    def judge(*args: object) -> Plan:
        plan = judge_batch(*args)  # type: ignore[arg-type]
        plans.append(plan)
        return plan

    monkeypatch.setattr(path.judge, "judge", judge)
    rng = random.Random(18)
    out: list[tuple[object, ...]] = []
    out.append(tuple(path.run(corpus.prelude)))
    messages = [(c.topic, c.payload) for c in corpus.cases]
    for _ in range(8):
        clock[0] += rng.choice((0.2, 3.0, 30.0))
        batch = [rng.choice(messages) for _ in range(300)]
        out.append(tuple(path.run(batch)))
    for plan in plans:
        out.append(tuple(plan.quarantine))
        out.append(tuple(sorted(plan.refused.items())))
    monkeypatch.undo()
    return out


def test_judge_keeps_and_counts_what_the_plain_path_does(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run(monkeypatch, plain=False)
    plain = _run(monkeypatch, plain=True)
    assert fast == plain
    refused = [
        row
        for row in fast
        if row and isinstance(row[0], tuple) and isinstance(row[0][1], RefusedCount)
    ]
    assert sum(count.refused for row in refused for _, count in row) > 1000  # the bounds bit


def test_plan_sums_refused_messages_as_the_plain_fold_does() -> None:
    rng = random.Random(7)
    plan = Plan()
    seen = []

    class _Delivery:
        def __init__(self, payload: bytes, at: float) -> None:
            self.payload, self.received_at = payload, at

    class _Item:
        def __init__(self, reason: str, delivery: _Delivery) -> None:
            self.reason, self.delivery = reason, delivery

    for _ in range(2000):
        device, reason = rng.choice(["", "a", "b"]), rng.choice(["bad-signature", "replay"])
        at, size = rng.uniform(0, 100), rng.randrange(0, 70_000)
        plan.refuse(_Item(reason, _Delivery(bytes(size), at)), device)  # type: ignore[arg-type]
        seen.append((device, reason, size, at))
    assert plan.refused == _reference_refused(seen)


def test_device_exhausted_then_admit_decides_as_admit_alone() -> None:
    rng = random.Random(3)
    for rows, budget in [(0, 10**6), (1, 10**6), (5, 5000), (60, 16 * 2**20)]:
        limits = QuarantineLimits(1024, rows, budget)
        fast, plain = QuarantineBounds(limits), QuarantineBounds(limits)
        now = 0.0
        for _ in range(3000):
            now += rng.choice((0.0, 0.0, 0.01, 0.5, 2.0, 90.0))
            key, cost = rng.choice(["", "a", "b", "c"]), rng.randrange(1, 3000)
            decided = not fast.device_exhausted(key, now) and fast.admit(key, cost, now)
            assert decided == plain.admit(key, cost, now)
            assert fast.remaining_bytes(now) == plain.remaining_bytes(now)
            assert fast._devices == plain._devices
