"""Harvest campaigns and product coupons (issue 15; ``farmtrace.store.campaigns``).

``campaigns`` (one per GCN, with the head of its entry chain and a CHECK that coupons issued
never exceed the cap), ``campaign_entries`` (each signed ``FC`` entry by ``(campaign_id, cseq)``:
the primary key forbids a fork; append-only), ``pledges`` (holder key, count, amount; the payment
reference only as SHA-256), ``backer_contacts`` (personal details, off the chain, deletable),
``coupons`` (each coupon's holder, head state, moves and status) and ``coupon_moves`` (each spend
of a state; unique ``(campaign_id, serial, prev)``: a state is spent once; append-only).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY = ("campaign_entries", "coupon_moves")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gcn", sa.String(13), nullable=False),
        sa.Column("farm", sa.String(64), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("lot", sa.String(20), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("cseq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("redeemed", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.BigInteger(), nullable=False),
        sa.Column("harvested", sa.BigInteger(), nullable=True),
        sa.Column("shortfall", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint("issued <= cap", name="campaigns_issued_within_cap"),
        sa.CheckConstraint(
            "redeemed + voided <= issued", name="campaigns_redeemed_voided_within_issued"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("gcn", name="uq_campaigns_gcn"),
    )
    op.create_table(
        "campaign_entries",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("cseq", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_entries_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "cseq", name="pk_campaign_entries"),
    )
    op.create_table(
        "pledges",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_sha256", sa.String(64), nullable=True),
        sa.Column("first_serial", sa.BigInteger(), nullable=True),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_pledges_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pledges"),
    )
    op.create_index("ix_pledges_campaign_id", "pledges", ["campaign_id"])
    op.create_table(
        "backer_contacts",
        sa.Column("pledge_id", sa.String(32), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("delivery", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.id"], name="fk_backer_contacts_pledge_id_pledges"
        ),
        sa.PrimaryKeyConstraint("pledge_id", name="pk_backer_contacts"),
    )
    op.create_table(
        "coupons",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("moves", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pledge_id", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_coupons_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "serial", name="pk_coupons"),
    )
    op.create_index("ix_coupons_holder", "coupons", ["holder"])
    op.create_table(
        "coupon_moves",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("move", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("price_amount", sa.BigInteger(), nullable=True),
        sa.Column("price_currency", sa.String(3), nullable=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_coupon_moves_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "serial", "move", name="pk_coupon_moves"),
        sa.UniqueConstraint(
            "campaign_id", "serial", "prev", name="uq_coupon_moves_campaign_id_serial_prev"
        ),
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
    raise NotImplementedError("campaign entries are append-only: the schema is never downgraded")
