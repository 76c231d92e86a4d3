"""What the quarantine refused to keep past its bounds, counted: ``quarantine_refused``.

The gateway bounds the quarantine (docs/gateway.md, "Quarantine bounds"): a rejected message
past its device's or the overall budget is acknowledged and counted, not stored. One row per
``(chain_id, device_id, reason)`` holds the count and the payload bytes refused, and when the
first and the last of them arrived. ``device_id`` is the registered device the topic names, or
``''`` for every other topic (unregistered names, no device): the table stays as small as the
registry times the reason codes, whatever an attacker sends. The count is bookkeeping, not
evidence: its rows are updated in place (each batch adds to them in the transaction that stores
the batch's quarantine rows), so this table has no append-only triggers.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

TABLE = "quarantine_refused"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("refused_bytes", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name="fk_quarantine_refused_chain_id_chains"
        ),
        sa.PrimaryKeyConstraint("chain_id", "device_id", "reason", name="pk_quarantine_refused"),
    )


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
