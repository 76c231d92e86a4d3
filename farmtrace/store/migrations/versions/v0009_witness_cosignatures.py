"""Witness cosignatures of a chain's checkpoints: ``witness_cosignatures``.

One row per checkpoint size a witness cosigned (c2sp.org/tlog-cosignature): ``witness_key`` is
the witness's verifier key (``<name>+<key ID>+<base64(0x04 || key)>``), ``line`` the signature
line exactly as the witness returned it (newline included), ``cosigned_at`` its timestamp
(POSIX seconds, from the signed line) and ``received_at`` when the gateway stored it. The API
appends a size's lines to the stored checkpoint note (a cosigned checkpoint). Append-only on
SQLite and PostgreSQL, with the same triggers as the chain tables.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

TABLE = "witness_cosignatures"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness_key", sa.String(512), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name="fk_witness_cosignatures_chain_id_chains"
        ),
        sa.PrimaryKeyConstraint("chain_id", "size", "witness_key", name="pk_witness_cosignatures"),
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
