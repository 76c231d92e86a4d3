"""Index ``pending_entries.created_at``: appends look only at recent pending entries.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_pending_entries_created_at", "pending_entries", ["created_at"])


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
