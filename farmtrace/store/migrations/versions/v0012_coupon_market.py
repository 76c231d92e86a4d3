"""The coupon market (issue 16; ``farmtrace.store.listings``): off-chain, holder-signed listings.

``coupon_listings``: one row per listing of one coupon state at a price (integer minor units and
an ISO 4217 code), with the holder's signature over the listing statement; ``ended`` (sold,
moved, withdrawn, redeemed, void) is set once when the listed state stops being the coupon's head
or the holder withdraws, and the row is kept for history. A partial unique index allows at most
one open listing per coupon. ``listing_offers``: buyers' signed requests to buy, by wallet
address only (nothing personal), one per buyer and listing.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coupon_listings",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("seller", sa.String(64), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("price_currency", sa.String(3), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("ended", sa.String(16), nullable=True),
        sa.Column("ended_state", sa.String(64), nullable=True),
        sa.Column("ended_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("withdraw_signature", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_coupon_listings_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_coupon_listings"),
        sa.CheckConstraint("price_amount >= 0", name="coupon_listings_price_not_negative"),
    )
    op.create_index("ix_coupon_listings_campaign_id", "coupon_listings", ["campaign_id"])
    op.create_index(
        "uq_coupon_listings_open",
        "coupon_listings",
        ["campaign_id", "serial"],
        unique=True,
        sqlite_where=sa.text("ended IS NULL"),
        postgresql_where=sa.text("ended IS NULL"),
    )
    op.create_table(
        "listing_offers",
        sa.Column("listing_id", sa.String(32), nullable=False),
        sa.Column("buyer", sa.String(64), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["coupon_listings.id"], name="fk_listing_offers_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("listing_id", "buyer", name="pk_listing_offers"),
    )
    op.create_index("ix_listing_offers_buyer", "listing_offers", ["buyer"])


def downgrade() -> None:
    op.drop_table("listing_offers")
    op.drop_table("coupon_listings")
