"""Stored hashes of the chain log: ``log_tiles``, the log's full C2SP tlog-tiles.

The chain log is the RFC 9162 tree over the block headers (leaf *h* = ``SHA-256(0x00 ||
header of block h)``). One row per *full* tile, in the c2sp.org/tlog-tiles layout: the tile at
``level`` L and ``tile_index`` i holds the 256 hashes, 32 bytes each, of the nodes at height
8·L with indices 256·i … 256·i + 255 (level 0: the leaf hashes). A full tile never changes, so
the table is append-only; partial tiles are not stored (they are at most 255 hashes a level,
computed when needed). With it a block's place in the chain log is proved from at most one row
a level plus the few hashes of the log's right edge, never from the whole log
(``farmtrace.store.log_tiles``). Derived data: every proof built from it is checked against the
signed checkpoint's root before it is served.

The upgrade fills the table for the chains already stored (the full tiles under each chain's
block count), so old databases serve stored-hash proofs at once.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels = None
depends_on = None

TABLE = "log_tiles"
_WIDTH = 256


def _root(hashes: list[bytes]) -> bytes:
    """RFC 9162 root of 256 (a power of two) node hashes."""
    while len(hashes) > 1:
        hashes = [
            hashlib.sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest()
            for i in range(0, len(hashes), 2)
        ]
    return hashes[0]


def _backfill() -> None:
    bind = op.get_bind()
    tiles = sa.table(
        TABLE,
        sa.column("chain_id", sa.Integer()),
        sa.column("level", sa.Integer()),
        sa.column("tile_index", sa.BigInteger()),
        sa.column("hashes", sa.LargeBinary()),
    )
    chains = [row[0] for row in bind.execute(sa.text("SELECT id FROM chains ORDER BY id"))]
    for chain_id in chains:
        level_hashes: list[bytes] = []
        headers = bind.execute(
            sa.text("SELECT header FROM blocks WHERE chain_id = :c ORDER BY height"),
            {"c": chain_id},
        )
        for (header,) in headers:
            level_hashes.append(hashlib.sha256(b"\x00" + bytes(header)).digest())
        level = 0
        while len(level_hashes) >= _WIDTH:
            full = len(level_hashes) // _WIDTH
            rows = [
                {
                    "chain_id": chain_id,
                    "level": level,
                    "tile_index": i,
                    "hashes": b"".join(level_hashes[i * _WIDTH : (i + 1) * _WIDTH]),
                }
                for i in range(full)
            ]
            for at in range(0, len(rows), 500):
                bind.execute(sa.insert(tiles), rows[at : at + 500])
            level_hashes = [_root(level_hashes[i * _WIDTH : (i + 1) * _WIDTH]) for i in range(full)]
            level += 1


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("tile_index", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.id"], name="fk_log_tiles_chain_id_chains"),
        sa.PrimaryKeyConstraint("chain_id", "level", "tile_index", name="pk_log_tiles"),
    )
    _backfill()
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
