"""Entries queued in ``pending_entries`` are integrated by the next append, once."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from support.readings import devices

from farmtrace.api.services.lots.event_entry import sign_event
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.pending import (
    FULL_LOOK_EVERY_S,
    LOOKBACK_S,
    RECENT_S,
    PendingFloor,
    queue_entry,
)
from farmtrace.store.records import PendingReading

ENTRIES = Base.metadata.tables["entries"]


def _queue(ledger: Ledger, seq: int, created_at: float) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    entry = sign_event(seq, 1_700_000_000_000 + seq, {"kind": "harvest"}, key)
    with ledger.engine.begin() as conn:
        queue_entry(
            conn, PendingReading(entry.signer, seq, entry.time_ms, entry.payload, created_at)
        )


def test_pending_entries_join_the_next_block_once(db_url: str, tmp_path: Path) -> None:
    devs = devices(2)
    with Ledger.open(db_url, tmp_path / "gw", "farmtrace.example/pending") as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        _queue(ledger, 1, time.time() - 10 * LOOKBACK_S)  # old: found by the first, full look
        result = ledger.append_batch([devs[0].reading(1), devs[1].reading(1)])
        assert result.block is not None and result.block.size == 3
        assert ledger.append_batch([]).block is None
        _queue(ledger, 2, time.time())
        assert ledger.append_batch([]).block is not None
        with ledger.engine.connect() as conn:
            kinds = [
                k for (k,) in conn.execute(select(ENTRIES.c.kind).order_by(ENTRIES.c.global_index))
            ]
        assert sorted(kinds) == ["event", "event", "reading", "reading"]


def test_floor_moves_only_after_a_complete_look() -> None:
    floor = PendingFloor()
    floor.looked(found=1000, limit=1000, at=5000.0)
    assert floor.since == float("-inf")
    floor.looked(found=3, limit=1000, at=5000.0)
    assert floor.since == 5000.0 - LOOKBACK_S
    floor.looked(found=0, limit=1000, at=100.0)  # a clock that went back never lowers it
    assert floor.since == 5000.0 - LOOKBACK_S


def test_most_looks_reach_back_only_the_recent_window() -> None:
    """Integrated rows stay in the table: only one look a minute walks the whole hour."""
    floor = PendingFloor()
    assert floor.start(10_000.0) == (float("-inf"), True)  # the first look scans everything
    floor.looked(found=2, limit=1000, at=10_000.0, full=True)
    assert floor.start(10_001.0) == (10_001.0 - RECENT_S, False)
    floor.looked(found=0, limit=1000, at=10_001.0, full=False)
    assert floor.start(10_000.0 + FULL_LOOK_EVERY_S) == (10_000.0 - LOOKBACK_S, True)
    floor.looked(found=1000, limit=1000, at=10_000.0 + FULL_LOOK_EVERY_S, full=True)
    # A full look that hit its limit is not complete: the next look is full again.
    assert floor.start(10_001.0 + FULL_LOOK_EVERY_S)[1]


def test_a_late_committed_entry_is_found_by_the_next_full_look(db_url: str, tmp_path: Path) -> None:
    """An entry stamped long before its transaction committed is outside the recent window;
    the periodic full look integrates it."""
    with Ledger.open(db_url, tmp_path / "gw", "farmtrace.example/pending") as ledger:
        assert ledger.append_batch([]).block is None  # the first, full look: nothing waits
        _queue(ledger, 1, time.time() - 10 * RECENT_S)
        assert ledger.append_batch([]).block is None  # a recent look does not reach it
        ledger._pending._last_full -= FULL_LOOK_EVERY_S  # a minute has passed
        result = ledger.append_batch([])
        assert result.block is not None and result.block.size == 1
