"""Lots, their signed events, API keys, and the queue of entries waiting for a block.

* ``pending_entries``: entries that other components (the API's lot events) have signed and
  stored durably for the chain; a gateway's next block integrates those not yet in
  ``entries`` ("sequence, then integrate"). Keyed by ``(device_id, seq)`` like readings, so an
  entry is integrated once across every gateway sharing the database. Append-only.
* ``api_keys``, ``lots``, ``lot_stages``, ``lot_events``: the provenance API's tables
  (declared in ``farmtrace/store/models.py``); ``lot_events`` is append-only.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("pending_entries", "lot_events")


def upgrade() -> None:
    op.create_table(
        "pending_entries",
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq", name="pk_pending_entries"),
    )
    # Early builds of the API created its tables itself: adopt them when present.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "api_keys" not in existing:
        _api_tables()
    else:
        # ... and queue their events, which had no queue then.
        op.execute(
            "INSERT INTO pending_entries (device_id, seq, timestamp_ms, payload, created_at) "
            "SELECT signer, seq, time_ms, payload, created_at FROM lot_events"
        )
    _triggers()


def _api_tables() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("token_hash", name="uq_api_keys_token_hash"),
    )
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("lot", sa.String(20), nullable=False),
        sa.Column("product_name", sa.String(128), nullable=False),
        sa.Column("product_class", sa.String(64), nullable=False),
        sa.Column("farm", sa.String(128), nullable=False),
        sa.Column("origin_region", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lots"),
        sa.UniqueConstraint("gtin", "lot", name="uq_lots_gtin_lot"),
    )
    op.create_table(
        "lot_stages",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("device_ids", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lot_stages"),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name="fk_lot_stages_lot_id_lots"),
    )
    op.create_index("ix_lot_stages_lot_id", "lot_stages", ["lot_id"])
    op.create_table(
        "lot_events",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lot_events"),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name="fk_lot_events_lot_id_lots"),
        sa.UniqueConstraint("signer", "seq", name="uq_lot_events_signer_seq"),
    )
    op.create_index("ix_lot_events_lot_id", "lot_events", ["lot_id"])


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_reject_change()"
            )
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'farmtrace: table {table} is append-only: "
                    f"{action} rejected'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
