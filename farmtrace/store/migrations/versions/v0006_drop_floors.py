"""Believed drop floors, kept durably with the device's signed statement.

* ``drop_floors``: one row each time a gateway believed a device's drop floor higher than the
  highest stored for it (``farmtrace.wire.dropfloor``: the device's signed statement that it gave
  up every seq ``<= floor`` it had not sent). ``payload`` is the exact ``FD`` statement, so the
  evidence for why those seqs are missing survives the broker's retained message, and the audit
  can check its signature. Keyed per device like the registry (not per chain): a floor speaks
  for the device's seqs across every chain. Append-only on SQLite and PostgreSQL, with the same
  triggers as the chain tables (revision 0001's ``farmtrace_reject_change`` on PostgreSQL).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

TABLE = "drop_floors"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("floor", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drop_floors"),
    )
    op.create_index("ix_drop_floors_device_id_floor", TABLE, ["device_id", "floor"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_reject_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'farmtrace: table {TABLE} is append-only: "
                f"{action} rejected'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
