"""Believed drop floors in the database (revision 0006), on SQLite and PostgreSQL: only a floor
higher than its device's stored one is appended, with the device's exact signed statement."""

from __future__ import annotations

from pathlib import Path

from support.readings import devices

from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.housekeeping import Housekeeping
from farmtrace.gateway.ingest.metrics import GatewayMetrics
from farmtrace.gateway.ingest.seqruns import SeqRuns
from farmtrace.store.dropfloors import StoredFloor, highest_floors, record_floors, stored_floors
from farmtrace.store.ledger import Ledger

ORIGIN = "farmtrace.example/gw-1"


def test_only_higher_floors_are_appended_with_their_statement(db_url: str, tmp_path: Path) -> None:
    a, b = devices(2)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        engine = ledger.engine
        assert highest_floors(engine) == {}
        assert record_floors(engine, []) == 0
        first = [
            StoredFloor(a.device_id, 5, a.drop_floor(5), 10.0),
            StoredFloor(a.device_id, 3, a.drop_floor(3), 11.0),  # lower than the one before
            StoredFloor(b.device_id, 2**63 - 1, b.drop_floor(2**63 - 1), 12.0),
        ]
        assert record_floors(engine, first) == 2
        # The same floor again (a retained copy, another gateway) and a lower one: nothing.
        again = [first[0], StoredFloor(a.device_id, 4, a.drop_floor(4), 13.0)]
        assert record_floors(engine, again) == 0
        assert record_floors(engine, [StoredFloor(a.device_id, 8, a.drop_floor(8), 14.0)]) == 1
        assert highest_floors(engine) == {a.device_id: 8, b.device_id: 2**63 - 1}
        with engine.connect() as conn:
            rows = stored_floors(conn)
    assert [(r.device_id, r.floor, r.received_at) for r in rows] == [
        (a.device_id, 5, 10.0),
        (a.device_id, 8, 14.0),
        (b.device_id, 2**63 - 1, 12.0),
    ]
    assert [r.payload for r in rows] == [a.drop_floor(5), a.drop_floor(8), b.drop_floor(2**63 - 1)]


def test_shared_gateways_learn_the_floors_others_stored(db_url: str, tmp_path: Path) -> None:
    """With a shared subscription (no retained messages) the gap refresh picks floors up."""
    a, b = devices(2)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        states = {a.device_id: DeviceState(a.device_id, SeqRuns(2, [(6, 7)]))}
        health = HealthMonitor(GatewayMetrics(), 3.0, 10.0)
        housekeeping = Housekeeping(
            ledger, states, health, None, shared=True, connected=lambda: True
        )
        housekeeping.refresh_floors()
        assert states[a.device_id].committed.watermark == 2
        # Another gateway believed a's floor 5 and b's (a device this one has not seen).
        stored = [
            StoredFloor(a.device_id, 5, a.drop_floor(5), 1.0),
            StoredFloor(b.device_id, 9, b.drop_floor(9), 1.0),
        ]
        record_floors(ledger.engine, stored)
        housekeeping.refresh_floors()
    state = states[a.device_id]
    assert (state.drop_floor, state.committed.watermark, state.committed.missing) == (5, 7, 0)
    assert set(states) == {a.device_id}
