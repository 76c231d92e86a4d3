"""Every signing key with its validity period: ``signing_keys``.

One row per key that ever signed something a verifier checks: ``kind`` is ``event`` (the API's
event key, which signs lot events and excursion acknowledgements), ``checkpoint`` (a gateway's
checkpoint key) or ``watermark`` (a gateway's commit-watermark key). ``scope`` is what the key
signs for: the chain origin for ``checkpoint`` and ``watermark`` keys, ``''`` for the
database-wide event key. ``public_key`` is its text form (an event key: base64 of the 32 raw
Ed25519 bytes; a checkpoint key: its C2SP verifier key), ``key_id`` its short name (an event
key's signer ID, ``farmtrace-api.<16 hex>``; a C2SP key's ``<name>+<8 hex>``). ``valid_from`` and
``valid_until`` are seconds since the epoch; ``valid_until`` is ``NULL`` while the key is current.

Rows are never deleted, and the only change allowed is setting ``valid_until`` once (triggers on
SQLite and PostgreSQL, like ``devices``). The checkpoint keys already in ``chain_keys`` are
copied in, each valid from when it was recorded until the next key of its chain was.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

TABLE = "signing_keys"

_PG_FUNCTION = """
CREATE FUNCTION farmtrace_signing_keys_close_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.scope IS DISTINCT FROM OLD.scope
       OR NEW.public_key IS DISTINCT FROM OLD.public_key
       OR NEW.key_id IS DISTINCT FROM OLD.key_id
       OR NEW.valid_from IS DISTINCT FROM OLD.valid_from
       OR OLD.valid_until IS NOT NULL
       OR NEW.valid_until IS NULL THEN
        RAISE EXCEPTION 'farmtrace: signing_keys: only setting valid_until once is allowed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("public_key", sa.String(512), nullable=False),
        sa.Column("key_id", sa.String(255), nullable=False),
        sa.Column("valid_from", sa.Float(), nullable=False),
        sa.Column("valid_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signing_keys"),
        sa.UniqueConstraint(
            "kind", "scope", "public_key", name="uq_signing_keys_kind_scope_public_key"
        ),
    )
    op.create_index("ix_signing_keys_key_id", TABLE, ["key_id"])
    _copy_checkpoint_keys()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {TABLE}_close_only BEFORE UPDATE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION farmtrace_signing_keys_close_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION farmtrace_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_reject_change()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'farmtrace: table {TABLE} is append-only: "
            "DELETE rejected'); END"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_close_only BEFORE UPDATE ON {TABLE} "
            "WHEN NEW.id IS NOT OLD.id OR NEW.kind IS NOT OLD.kind OR NEW.scope IS NOT OLD.scope "
            "OR NEW.public_key IS NOT OLD.public_key OR NEW.key_id IS NOT OLD.key_id "
            "OR NEW.valid_from IS NOT OLD.valid_from OR OLD.valid_until IS NOT NULL "
            "OR NEW.valid_until IS NULL "
            "BEGIN SELECT RAISE(ABORT, "
            "'farmtrace: signing_keys: only setting valid_until once is allowed'); END"
        )


def _copy_checkpoint_keys() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT chains.origin, chain_keys.vkey, chain_keys.added_at FROM chain_keys "
            "JOIN chains ON chains.id = chain_keys.chain_id "
            "ORDER BY chain_keys.chain_id, chain_keys.added_at"
        )
    ).all()
    insert = sa.text(
        f"INSERT INTO {TABLE} (kind, scope, public_key, key_id, valid_from, valid_until) "
        "VALUES ('checkpoint', :scope, :vkey, :key_id, :valid_from, :valid_until)"
    )
    for i, (origin, vkey, added_at) in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        until = following[2] if following is not None and following[0] == origin else None
        name, _, rest = str(vkey).partition("+")
        key_id = name + "+" + rest.partition("+")[0]
        bind.execute(
            insert,
            {
                "scope": origin,
                "vkey": vkey,
                "key_id": key_id,
                "valid_from": added_at,
                "valid_until": until,
            },
        )


def downgrade() -> None:
    raise NotImplementedError("key history is append-only: its schema is never downgraded")
