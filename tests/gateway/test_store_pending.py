"""Entries queued in ``pending_entries`` are integrated by the next append, once."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from support.readings import devices

from farmtrace.api.services.lots.event_entry import sign_event
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.pending import LOOKBACK_S, PendingFloor, queue_entry
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
