"""The schema on both backends: migrations match the models, and the database itself refuses
to change or remove chain rows (append-only triggers), whatever client asks."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from support.api import GTIN, LOT, lot_body
from support.commerce import DAY, address
from support.community_api import ADDR, KEYS, barbershop
from support.readings import batch, devices

from farmtrace.api.schemas.lots import LotCreate
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.commerce.community.entries import sign_transfer
from farmtrace.commerce.entries import sign_statement
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.store.dropfloors import StoredFloor, record_floors
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.migrate import current_revision, head_revision, upgrade
from farmtrace.store.models import APPEND_ONLY_TABLES, Base
from farmtrace.store.records import QuarantineItem
from farmtrace.store.witness_cosignatures import StoredCosignature, WitnessCosignatures

ORIGIN = "farmtrace.example/gw-1"


@pytest.fixture
def filled(db_url: str, tmp_path: Path) -> str:
    """A database with one chain of two blocks, a device, a quarantined message, a drop
    floor, a witness cosignature, a campaign with a coupon that was transferred once, and a
    value community with one member transfer."""
    devs = devices(3)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        ledger.append_batch(batch(devs, range(2)))
        ledger.append_batch(batch(devs, range(2, 3)))
        ledger.quarantine([QuarantineItem(1.0, "bad-signature", "forged", "farm/x", b"\x00")])
        floor = StoredFloor(devs[0].device_id, 9, devs[0].drop_floor(9), 1.0)
        assert record_floors(ledger.engine, [floor]) == 1
        line = "\u2014 witness.example/w1 AAAAAQ==\n"
        cosignature = StoredCosignature(2, "witness.example/w1+00000001+BAAA", line, 1, 1.0)
        assert WitnessCosignatures(ledger.reader).record(cosignature)
        # A chain log tile is stored only once 256 blocks fill it: one row for the triggers.
        with ledger.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO log_tiles VALUES (:c, 0, 0, :h)"),
                {"c": ledger.reader.chain_id, "h": bytes(8192)},
            )
    add_campaign_with_a_transfer(db_url, tmp_path / "api")
    return db_url


def add_campaign_with_a_transfer(db_url: str, state_dir: Path) -> None:
    """Through the API's campaign service: a campaign (entries 1-2: open, issue) and one
    holder-signed transfer of its coupon 1, so campaign_entries and coupon_moves hold rows."""
    gcn = "950600013435" + check_digit("950600013435")
    now = int(time.time() * 1000)
    terms = {
        "campaign": gcn,
        "farm": "greenacre",
        "gtin": GTIN,
        "lot": LOT,
        "per_coupon": {"quantity": 5, "unit": "KGM"},
        "price": {"amount": 4500, "currency": "CNY"},
        "target": 1,
        "cap": 2,
        "opens_ms": now - DAY,
        "deadline_ms": now + 10 * DAY,
        "delivery": {"from_ms": now + 20 * DAY, "until_ms": now + 30 * DAY},
        "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
    }
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    state = AppState.open(Settings(db_url=db_url, state_dir=state_dir))
    try:
        assert state.lots.create(LotCreate.model_validate(lot_body(["dev-0000"])), GTIN)
        service = state.campaigns
        service.create(terms)
        service.confirm(gcn, service.pledge(gcn, address(alice), 1, None, None).id, "ref-1")
        coupon = coupon_id(gcn, 1)
        _, record = service.coupon(coupon)
        statement = sign_statement(1, now, "transfer", coupon, record.state, alice, to=address(bob))
        service.transfer(coupon, base64.b64encode(statement.payload).decode())
        add_community_with_a_transfer(state)
    finally:
        state.close()


def add_community_with_a_transfer(state: AppState) -> None:
    """Through the API's community service: the barbershop founded (its rules version and
    allocation postings) and one member's signed transfer, so every community table holds
    rows."""
    state.communities.keys.provide("barbershop", KEYS["operator"])
    state.communities.create(barbershop())
    investor = state.communities.member("barbershop", ADDR["investor"])
    sent = sign_transfer(
        1,
        int(time.time() * 1000),
        "barbershop",
        ADDR["team"],
        10,
        investor["spend_state"],
        KEYS["investor"],
    )
    state.communities.transfer("barbershop", base64.b64encode(sent.payload).decode())


def test_migration_is_idempotent_and_at_head(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision() == "0014"
    finally:
        engine.dispose()


def test_migrated_tables_match_the_models(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        upgrade(engine)
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert set(columns) == set(table.columns.keys()), table.name
            for column in table.columns:
                assert columns[column.name]["nullable"] == column.nullable, (table, column)
            pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name
        uniques = inspector.get_unique_constraints("entries")
        assert [u["column_names"] for u in uniques] == [["device_id", "seq"]]
    finally:
        engine.dispose()


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_append_only_tables_reject_update_and_delete(
    filled: str, table: str, statement: str
) -> None:
    engine = create_db_engine(filled)
    column = next(iter(Base.metadata.tables[table].columns)).name
    try:
        with engine.connect() as conn:
            count = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
            assert count, f"fixture left {table} empty"
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement.format(t=table, c=column)))
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == count
    finally:
        engine.dispose()


def test_truncate_is_rejected_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with Ledger.open(pg_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batch(batch(devices(1), range(1)))
    engine = create_db_engine(pg_url)
    try:
        for table in (*APPEND_ONLY_TABLES, "devices"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        engine.dispose()


def test_devices_allow_only_a_single_revocation(filled: str) -> None:
    engine = create_db_engine(filled)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE devices SET revoked_at = 5 WHERE device_id = 'dev-0000'"))
        for statement in (
            "UPDATE devices SET revoked_at = NULL WHERE device_id = 'dev-0000'",
            "UPDATE devices SET revoked_at = 6 WHERE device_id = 'dev-0000'",
            "UPDATE devices SET public_key = public_key || public_key WHERE device_id = 'dev-0001'",
            "UPDATE devices SET registered_at = 0 WHERE device_id = 'dev-0001'",
            "DELETE FROM devices WHERE device_id = 'dev-0001'",
        ):
            refused = pytest.raises(DBAPIError, match=r"revoke|revoked_at|append-only")
            with refused, engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_sqlite_connections_are_durable_wal(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_revision_0005_adds_signed_rejections_and_keeps_quarantine_append_only(
    db_url: str,
) -> None:
    from alembic import command

    from farmtrace.store.migrate import alembic_config

    engine = create_db_engine(db_url)
    try:
        config = alembic_config()
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO chains (origin, created_at) VALUES ('o', 1)"))
            conn.execute(
                text(
                    "INSERT INTO quarantine (chain_id, received_at, reason, detail, device_id, "
                    "topic, payload) VALUES (1, 1, 'out-of-range', 'old', 'd', 't', :p)"
                ),
                {"p": b"\x01"},
            )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        quarantine = Base.metadata.tables["quarantine"]
        with engine.begin() as conn:
            conn.execute(
                quarantine.insert().values(
                    chain_id=1,
                    received_at=2,
                    reason="out-of-range",
                    detail="new",
                    device_id="d",
                    topic="t",
                    payload=b"\x02",
                    seq=7,
                    signed_rejection=True,
                )
            )
            rows = conn.execute(
                quarantine.select().with_only_columns(
                    quarantine.c.detail, quarantine.c.seq, quarantine.c.signed_rejection
                )
            ).all()
        # Rows from before the revision settle nothing.
        assert sorted(rows) == [("new", 7, True), ("old", None, False)]
        for statement in (
            "UPDATE quarantine SET signed_rejection = NOT signed_rejection",
            "UPDATE quarantine SET seq = 1",
            "DELETE FROM quarantine WHERE seq IS NULL",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("quarantine")}
        assert indexes["ix_quarantine_device_id_seq"] == ["device_id", "seq"]
    finally:
        engine.dispose()
