"""Lots get a ``details`` column: the farm's grower, method, certifications, location and time
zone as JSON (shown on the consumer's page).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("lots")}
    if "details" not in columns:  # early API builds made their tables from the current models
        op.add_column("lots", sa.Column("details", sa.Text(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
