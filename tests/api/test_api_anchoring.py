"""Events go onto the chain: pending until the gateway's next block, then anchored and proven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect
from support.api import GTIN, LOT, ORIGIN, Served

from farmtrace.chain.entry import EVENT, kind_of
from farmtrace.cli import main
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import API_TABLES, Base

EVENT_BODY = {
    "kind": "harvest",
    "time": "2024-06-10T14:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def test_event_is_anchored_by_the_next_block(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = {"Authorization": f"Bearer {served.key}"}
    url = f"/v1/lots/{GTIN}/{LOT}/events"
    first = served.client.post(url, json=EVENT_BODY, headers=auth).json()
    assert first["status"] == "pending-anchoring"
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        # No readings: the block holds the pending entries, the lot's declaration (queued when
        # the lot was created) and then the event.
        result = ledger.append_batch([])
        assert result.block is not None and result.block.size == 2
        again = ledger.append_batch([])
        assert again.block is None  # integrated once
    lot = served.client.get(f"/v1/lots/{GTIN}/{LOT}").json()
    event = lot["events"][0]
    assert event["status"] == "anchored" and event["global_index"] == 61
    entry = served.client.get("/v1/readings/61").json()
    assert entry["kind"] == EVENT and entry["device_id"] == first["signer"]
    # A second event stays pending until another block.
    served.client.post(url, json=EVENT_BODY | {"kind": "packing"}, headers=auth)
    bundle = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle").json()
    assert [e["status"] for e in bundle["events"]] == ["anchored", "pending-anchoring"]
    path = served.tmp / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 0
    assert "1 anchored on a chain, 1 pending anchoring" in capsys.readouterr().out
    assert kind_of(bytes.fromhex("46450100")) == EVENT
    # The gateway's audit accepts a chain holding event entries.
    assert main(["audit", "--db", served.db_url, "--state", str(served.tmp / "gw")]) == 0


def test_api_tables_match_the_migration(served: Served) -> None:
    engine = create_db_engine(served.db_url)
    try:
        inspector = inspect(engine)
        for table in (Base.metadata.tables[name] for name in API_TABLES):
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert set(columns) == set(table.columns.keys()), table.name
            for column in table.columns:
                assert columns[column.name]["nullable"] == column.nullable, (table, column)
    finally:
        engine.dispose()


def test_revision_0002_adopts_tables_of_early_api_builds(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import insert, select

    from farmtrace.store.migrate import alembic_config, current_revision, head_revision, upgrade

    api_tables = [Base.metadata.tables[name] for name in API_TABLES]
    LOTS, LOT_EVENTS = Base.metadata.tables["lots"], Base.metadata.tables["lot_events"]

    engine = create_db_engine(f"sqlite:///{tmp_path / 'early.db'}")
    try:
        config = alembic_config()
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        Base.metadata.create_all(engine, tables=api_tables)  # what early API builds did
        with engine.begin() as conn:
            conn.execute(
                insert(LOTS).values(
                    id=1,
                    gtin=GTIN,
                    lot=LOT,
                    product_name="p",
                    product_class="lettuce",
                    farm="f",
                    origin_region="o",
                    created_at=1.0,
                )
            )
            conn.execute(
                insert(LOT_EVENTS).values(
                    lot_id=1,
                    signer="farmtrace-api.00",
                    seq=1,
                    time_ms=5,
                    payload=b"FE\x01x",
                    created_at=2.0,
                )
            )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        pending = Base.metadata.tables["pending_entries"]
        with engine.connect() as conn:
            rows = conn.execute(select(pending.c.device_id, pending.c.seq)).all()
        assert rows == [("farmtrace-api.00", 1)]
    finally:
        engine.dispose()
