"""The gateway SIGKILLed at every moment of a batch commit, then reconciled end to end.

Each kill is placed by a crash failpoint (``farmtrace/failpoints.py``): the gateway is started
with ``FARMTRACE_FAILPOINT=<point>:<n>`` and kills itself the n-th time it reaches the point,
so the crash lands *inside* the commit, not at a random wall-clock moment. The schedule of
(point, n) covers every point at least once (but ``quarantine.stored``, see ``UNREACHED``)
and is drawn from a seeded generator: the seed is
printed and written to ``schedule.json``; ``FARMTRACE_CRASH_SEED=<seed>`` replays it.

Traffic: 8 simulated devices in ``--until-committed`` mode (32 readings/s), plus an intruder
publishing readings of an unregistered device so that batches have something to quarantine.
At the end: every (device, seq) the devices took is stored exactly once, the quarantine holds
the intruder's messages and nothing else, and ``farmtrace audit`` is clean.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from crash_support import Fleet, Intruder, audit_clean, reconcile
from support.ingest import GATEWAY_BROKER_SETTINGS, GatewayProcess, StoredView, wait_for
from support.mosquitto import Mosquitto

from farmtrace import failpoints
from farmtrace.gateway.ingest import reasons

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = {"sqlite": 20, "postgresql": 10}
"""Kills per backend: 20 on SQLite (the issue's count), every reached point once on PostgreSQL."""
MAX_HIT = 4
SEED_ENV = "FARMTRACE_CRASH_SEED"
DEFAULT_SEED = 20261121


UNREACHED = frozenset({failpoints.QUARANTINE_STORED})
"""Points this traffic does not reach: ``quarantine.stored`` fires only for a batch of nothing
but rejections (a batch with accepted readings stores its quarantine rows in its block's
transaction, so a kill at ``append.before-commit`` covers them), and the intruder's messages
always share a batch with the fleet's readings. ``tests/faults/test_signed_rejections.py``
kills a gateway at it."""


def schedule(rng: random.Random, kills: int) -> list[failpoints.Failpoint]:
    """Every point this traffic reaches once (while ``kills`` allows), the rest drawn at
    random, shuffled."""
    points = [p for p in failpoints.POINTS if p not in UNREACHED]
    rng.shuffle(points)
    chosen = points[:kills] + [rng.choice(points) for _ in range(kills - len(points))]
    rng.shuffle(chosen)
    return [failpoints.Failpoint(p, rng.randint(1, MAX_HIT)) for p in chosen]


def backend(db_url: str) -> str:
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"


def crash_at(gateway: GatewayProcess, failpoint: failpoints.Failpoint) -> None:
    """Start the gateway armed with ``failpoint``; return once it has killed itself there."""
    gateway.start()
    process = gateway.process
    assert process is not None
    try:
        code = process.wait(60)
    except subprocess.TimeoutExpired:
        gateway.kill()
        raise AssertionError(
            f"{failpoint.spec} was not reached in 60 s:\n{gateway.log()[-3000:]}"
        ) from None
    gateway.process = None
    run_log = gateway.log().split(f"--- run {gateway.runs}:")[-1]
    assert code == -9, f"exit {code}, not SIGKILL, at {failpoint.spec}:\n{run_log[-3000:]}"
    assert f"failpoint {failpoint.spec} reached: SIGKILL" in run_log, run_log[-3000:]


def test_gateway_killed_at_every_commit_point(
    db_url: str,
    mosquitto_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = int(os.environ.get(SEED_ENV, DEFAULT_SEED))
    plan = schedule(random.Random(seed), KILLS[backend(db_url)])
    (tmp_path / "schedule.json").write_text(
        json.dumps({"seed": seed, "kills": [f.spec for f in plan]}, indent=1)
    )
    print(f"crash schedule ({SEED_ENV}={seed}): {', '.join(f.spec for f in plan)}")

    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    stored = StoredView(db_url)
    fleet = Fleet(tmp_path, 8, db_url)
    state = tmp_path / "gateway"
    gateway = GatewayProcess(broker.url, db_url, state, extra=["--batch-age", "0.2"])
    # A first clean run creates the chain and the persistent session before traffic starts.
    gateway.start().wait_connected()
    assert gateway.stop() == 0, gateway.log()[-3000:]
    intruder = Intruder(broker.host, broker.port)
    fired: Counter[str] = Counter()
    try:
        fleet.start(broker.url, wall_seconds=240.0)
        intruder.start()
        for failpoint in plan:
            monkeypatch.setenv(failpoints.ENV, failpoint.spec)
            crash_at(gateway, failpoint)
            fired[failpoint.point] += 1
        monkeypatch.delenv(failpoints.ENV)
        gateway.start().wait_connected()
        fleet.stop()
        intruder.stop()
        report = fleet.drain(broker.url)
        wait_for(
            lambda: stored.quarantine_count() >= len(intruder.sent),
            60,
            "the intruder's messages in the quarantine",
        )
        assert gateway.stop() == 0, gateway.log()[-3000:]
    finally:
        fleet.kill()
        intruder.stop()
        gateway.kill()

    found = reconcile(stored, report["last_seq"])
    quarantine = stored.quarantine()
    stored.close()
    assert {reason for reason, _, _, _ in quarantine} == {reasons.UNKNOWN_DEVICE}
    assert {topic for _, _, topic, _ in quarantine} == {intruder.topic}
    assert {payload for _, _, _, payload in quarantine} == set(intruder.sent)
    audit_clean(db_url, state)
    assert sum(fired.values()) == len(plan)
    repeats = len(quarantine) - len(set(intruder.sent))
    print(
        f"{backend(db_url)}: {len(plan)} kills {dict(sorted(fired.items()))}; {found}; "
        f"intruder messages {len(intruder.sent)}, quarantined again after a crash {repeats}"
    )
