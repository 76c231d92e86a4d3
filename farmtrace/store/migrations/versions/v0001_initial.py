"""The initial schema: chains, keys, entries, blocks, checkpoints, quarantine, devices.

Also creates the triggers that make the chain tables append-only in the database itself, on
SQLite and PostgreSQL: any UPDATE or DELETE (and on PostgreSQL any TRUNCATE) of ``chains``,
``chain_keys``, ``entries``, ``blocks``, ``checkpoints`` or ``quarantine`` is rejected; in
``devices`` no row may be deleted and the only change allowed is setting ``revoked_at`` once.

Revision ID: 0001
Revises:
Create Date: 2025-06-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("chains", "chain_keys", "entries", "blocks", "checkpoints", "quarantine")

_PG_REJECT = """
CREATE FUNCTION farmtrace_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'farmtrace: table % is append-only: % rejected', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""

_PG_DEVICES = """
CREATE FUNCTION farmtrace_devices_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.device_id IS DISTINCT FROM OLD.device_id
       OR NEW.public_key IS DISTINCT FROM OLD.public_key
       OR NEW.registered_at IS DISTINCT FROM OLD.registered_at
       OR OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'farmtrace: devices: only setting revoked_at once is allowed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$
"""


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _create_tables() -> None:
    op.create_table(
        "chains",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chains"),
        sa.UniqueConstraint("origin", name="uq_chains_origin"),
    )
    op.create_table(
        "chain_keys",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("vkey", sa.String(512), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "vkey", name="pk_chain_keys"),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_chain_keys_chain_id_chains"),
    )
    op.create_table(
        "entries",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("global_index", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("block_height", sa.BigInteger(), nullable=False),
        sa.Column("index_in_block", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "global_index", name="pk_entries"),
        sa.UniqueConstraint("device_id", "seq", name="uq_entries_device_id_seq"),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_entries_chain_id_chains"),
    )
    op.create_index("ix_entries_device_id_timestamp_ms", "entries", ["device_id", "timestamp_ms"])
    op.create_table(
        "blocks",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("header", sa.LargeBinary(), nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "height", name="pk_blocks"),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_blocks_chain_id_chains"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "size", name="pk_checkpoints"),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_checkpoints_chain_id_chains"),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_quarantine_chain_id_chains"),
    )
    op.create_index("ix_quarantine_reason", "quarantine", ["reason"])
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name="pk_devices"),
    )


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'farmtrace: table {table} is append-only: "
                f"{action} rejected'); END"
            )
    op.execute(
        "CREATE TRIGGER devices_no_delete BEFORE DELETE ON devices "
        "BEGIN SELECT RAISE(ABORT, 'farmtrace: devices are never deleted: revoke instead'); END"
    )
    op.execute(
        "CREATE TRIGGER devices_revoke_only BEFORE UPDATE ON devices "
        "WHEN NEW.device_id IS NOT OLD.device_id OR NEW.public_key IS NOT OLD.public_key "
        "OR NEW.registered_at IS NOT OLD.registered_at OR OLD.revoked_at IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, "
        "'farmtrace: devices: only setting revoked_at once is allowed'); END"
    )


def _postgresql_triggers() -> None:
    op.execute(_PG_REJECT)
    op.execute(_PG_DEVICES)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
        )
    for table in (*APPEND_ONLY, "devices"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_reject_change()"
        )
    op.execute(
        "CREATE TRIGGER devices_no_delete BEFORE DELETE ON devices "
        "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
    )
    op.execute(
        "CREATE TRIGGER devices_revoke_only BEFORE UPDATE ON devices "
        "FOR EACH ROW EXECUTE FUNCTION farmtrace_devices_revoke_only()"
    )


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
