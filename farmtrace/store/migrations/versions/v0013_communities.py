"""Value communities (issue 17; ``farmtrace.store.communities``).

``communities`` (one per community, with the head of its entry chain, its supply and member
count), ``community_rules`` (each signed rules version and the entry from which it applies;
append-only), ``community_entries`` (each signed community entry by ``(community_id, eseq)``:
the primary key forbids a fork; append-only), ``community_members`` (each member key's
balance and the state its next transfer must spend; the CHECK keeps balances non-negative),
``community_postings`` (each change of a member's balance, by entry: the member's history;
append-only) and ``community_transfers`` (each holder-signed spend of a member state; unique
``(community_id, sender, prev)``: a state is spent once; append-only).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "community_rules",
    "community_entries",
    "community_postings",
    "community_transfers",
)


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("operator_key", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.BigInteger(), nullable=False),
        sa.Column("eseq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("supply", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint("supply >= 0", name="communities_supply_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_communities"),
        sa.UniqueConstraint("community", name="uq_communities_community"),
    )
    op.create_table(
        "community_rules",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("from_eseq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name="fk_community_rules_community_id_communities"
        ),
        sa.PrimaryKeyConstraint("community_id", "version", name="pk_community_rules"),
    )
    op.create_table(
        "community_entries",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("eseq", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name="fk_community_entries_community_id_communities",
        ),
        sa.PrimaryKeyConstraint("community_id", "eseq", name="pk_community_entries"),
    )
    op.create_table(
        "community_members",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("moves", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("balance >= 0", name="community_members_balance_not_negative"),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name="fk_community_members_community_id_communities",
        ),
        sa.PrimaryKeyConstraint("community_id", "address", name="pk_community_members"),
    )
    op.create_table(
        "community_postings",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("eseq", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name="fk_community_postings_community_id_communities",
        ),
        sa.PrimaryKeyConstraint("community_id", "eseq", "address", name="pk_community_postings"),
    )
    op.create_index(
        "ix_community_postings_address", "community_postings", ["community_id", "address"]
    )
    op.create_table(
        "community_transfers",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("eseq", sa.BigInteger(), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name="fk_community_transfers_community_id_communities",
        ),
        sa.PrimaryKeyConstraint("community_id", "sender", "prev", name="pk_community_transfers"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_reject_change()"
            )
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'farmtrace: table {table} is append-only: "
                    f"{action} rejected'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("community entries are append-only: the schema is never downgraded")
