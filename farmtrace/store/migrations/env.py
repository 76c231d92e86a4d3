"""Alembic environment: runs on the connection handed in by ``farmtrace.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from farmtrace.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "farmtrace migrations run programmatically: use farmtrace.store.migrate.upgrade(engine)"
    )
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
