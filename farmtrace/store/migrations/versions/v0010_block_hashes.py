"""Stored hashes of each block's batch tree: ``block_hashes``.

One row per block sealed after this revision: ``hashes`` holds the roots of the block's
aligned runs of ``2**level`` entries (``level`` 3: one 32-byte hash per 8 entries, the last
run possibly shorter), left to right. With them a reading's inclusion proof needs only the
entries of its own run, not the whole block (``farmtrace.store.block_hashes``). Blocks sealed
before this revision have no row and are proved from their entries as before. Derived data:
every proof built from a row is checked against the block header's sealed root first.
Append-only on SQLite and PostgreSQL, with the same triggers as the chain tables.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

TABLE = "block_hashes"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name="fk_block_hashes_chain_id_chains"
        ),
        sa.PrimaryKeyConstraint("chain_id", "height", name="pk_block_hashes"),
    )
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
