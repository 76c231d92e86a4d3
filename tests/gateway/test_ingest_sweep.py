"""The committer's idle sweep (``farmtrace.gateway.ingest.sweep``): entries queued in
``pending_entries`` are sealed within a batch age without any reading, once across gateways,
and an idle sweep with nothing queued takes no write lock."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.readings import devices

from farmtrace.api.services.lots.event_entry import sign_event
from farmtrace.gateway.ingest.sweep import PendingSweep
from farmtrace.store.errors import DatabaseError
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.pending import queue_entry
from farmtrace.store.records import BatchResult, PendingReading

ENTRIES = Base.metadata.tables["entries"]
ORIGIN = "farmtrace.example/sweep"


def _queue(ledger: Ledger, seq: int) -> tuple[str, int]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    entry = sign_event(seq, 1_700_000_000_000 + seq, {"kind": "harvest"}, key)
    with ledger.engine.begin() as conn:
        queue_entry(
            conn, PendingReading(entry.signer, seq, entry.time_ms, entry.payload, time.time())
        )
    return entry.signer, seq


def _stored(ledger: Ledger, key: tuple[str, int]) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(ENTRIES)
                .where(ENTRIES.c.device_id == key[0], ENTRIES.c.seq == key[1])
            ).scalar_one()
        )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sweep_seals_pending_entries_once_per_batch_age(tmp_path: Path) -> None:
    clock = Clock()
    with Ledger.open(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "gw", ORIGIN) as ledger:
        sweep = PendingSweep(ledger, batch_age=1.0, clock=clock)
        first = _queue(ledger, 1)
        assert sweep.wait(5.0) == 0.0  # due at once: what was queued before the start waits not
        result = sweep.run_if_due()
        assert result is not None and result.block is not None and result.block.size == 1
        assert _stored(ledger, first) == 1
        second = _queue(ledger, 2)
        clock.now += 0.5
        assert sweep.run_if_due() is None  # not due: within a batch age of the last sweep
        assert sweep.wait(5.0) == pytest.approx(0.5)
        assert sweep.wait(0.2) == pytest.approx(0.2)
        clock.now += 0.5
        result = sweep.run_if_due()
        assert result is not None and result.block is not None and result.block.size == 1
        assert _stored(ledger, second) == 1
        clock.now += 1.0
        idle = sweep.run_if_due()
        assert idle is not None and idle.block is None  # nothing waits: nothing written
        # A reading batch's append took the pending entries: the sweep waits a batch age again.
        _queue(ledger, 3)
        clock.now += 0.9
        devs = devices(1)
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        with_readings = ledger.append_batch([devs[0].reading(1)])
        assert with_readings.block is not None and with_readings.block.size == 2
        sweep.appended()
        clock.now += 0.9
        assert sweep.run_if_due() is None
        assert (sweep.sweeps, sweep.blocks) == (3, 2)
        assert ledger.size == 3


def test_two_gateways_sweeping_one_database_integrate_each_entry_once(
    db_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    with (
        Ledger.open(db_url, tmp_path / "gw1", ORIGIN + "-1") as one,
        Ledger.open(db_url, tmp_path / "gw2", ORIGIN + "-2") as two,
    ):
        sweeps = [PendingSweep(one, 1.0, clock), PendingSweep(two, 1.0, clock)]
        keys = [_queue(one, seq) for seq in (1, 2, 3)]
        results = [sweep.run_if_due() for sweep in sweeps]
        sealed = [r.block.size for r in results if r is not None and r.block is not None]
        assert sealed == [3]
        assert [_stored(one, key) for key in keys] == [1, 1, 1]
        clock.now += 1.0
        keys.append(_queue(two, 4))
        results = [sweep.run_if_due() for sweep in reversed(sweeps)]
        sealed = [r.block.size for r in results if r is not None and r.block is not None]
        assert sealed == [1] and _stored(one, keys[-1]) == 1


def test_an_idle_sweep_takes_no_write_lock(tmp_path: Path) -> None:
    """With nothing queued the sweep only reads: an API transaction holding SQLite's write lock
    neither blocks it nor makes it fail."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with Ledger.open(url, tmp_path / "gw", ORIGIN, lock_timeout_s=0.2) as ledger:
        _queue(ledger, 1)
        assert ledger.append_batch([]).block is not None
        holder = ledger.engine.connect().execution_options(sqlite_immediate=True)
        with holder as conn, conn.begin():
            conn.execute(select(1))  # BEGIN IMMEDIATE: the database's write lock is held
            began = time.monotonic()
            result = PendingSweep(ledger, 1.0).run_if_due()
            waited = time.monotonic() - began
        assert result is not None and result.block is None
        assert waited < 0.2  # not the lock timeout: it never asked for the lock


class FailingLedger:
    """A ledger whose database is down for the first ``failures`` appends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[int] = []

    def append_batch(self, readings: Sequence[PendingReading]) -> BatchResult:
        self.calls.append(len(readings))
        if self.failures:
            self.failures -= 1
            raise DatabaseError("database is locked")
        return BatchResult(None, None, 0, ())


def test_a_failing_database_is_retried_a_batch_age_later_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    ledger = FailingLedger(failures=2)
    sweep = PendingSweep(ledger, 0.5, clock)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="farmtrace.gateway"):
        assert sweep.run_if_due() is None
        assert sweep.run_if_due() is None  # not again at once: the committer is not held
        clock.now += 0.5
        assert sweep.run_if_due() is None
        clock.now += 0.5
        assert sweep.run_if_due() is not None
    assert ledger.calls == [0, 0, 0]  # never a reading: only ever append_batch([])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["cannot seal the pending entries: database is locked; trying again"]
    assert "sealing pending entries works again" in caplog.text
