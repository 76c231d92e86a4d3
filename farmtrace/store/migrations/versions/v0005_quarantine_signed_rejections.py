"""Quarantine rows say which rejected readings their device really signed.

* ``seq``: the seq of a rejected message that decoded as a reading (``NULL`` otherwise, and for
  rows written before this revision).
* ``signed_rejection``: true when the reading's signature verified with its device's registered
  key and the gateway rejected it on its content (revoked, timestamp window, physical range).
  Such a ``(device_id, seq)`` is decided: it counts for the device's commit watermark like a
  stored seq, so a device that keeps its readings until they are committed forgets it. Rows
  written before this revision are ``false`` (their seqs stay unsettled, as they were).

``ALTER TABLE ... ADD COLUMN`` keeps the table, so its append-only triggers (revision 0001)
stay in force on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("quarantine", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column(
        "quarantine",
        sa.Column("signed_rejection", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_quarantine_device_id_seq", "quarantine", ["device_id", "seq"])


def downgrade() -> None:
    raise NotImplementedError("the chain is append-only: its schema is never downgraded")
