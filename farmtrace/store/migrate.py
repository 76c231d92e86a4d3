"""Run the Alembic migrations programmatically (no ``alembic.ini``; scripts live in the package).

Several gateways may start at once against one PostgreSQL database: the upgrade runs inside a
transaction holding a PostgreSQL advisory lock, so exactly one of them migrates and the others
then find the schema at head. SQLite serialises the upgrade with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from farmtrace.store.engine import is_sqlite

__all__ = ["MIGRATIONS", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory inside the package."""

# An arbitrary constant naming farmtrace's migration lock among PostgreSQL advisory locks.
_MIGRATION_LOCK = 0x6661726D74726163  # "farmtrac"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations found in " + str(MIGRATIONS))
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest revision (a no-op when already there)."""
    if current_revision(engine) == head_revision():
        return
    config = alembic_config()
    migrator = engine.connect().execution_options(sqlite_immediate=True)
    with migrator as connection, connection.begin():
        if not is_sqlite(connection):
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
