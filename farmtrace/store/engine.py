"""Database engines: SQLite (the default, one file) and PostgreSQL, set up for durable appends.

SQLite connections run in WAL mode with ``synchronous=FULL`` (a commit is on disk when it
returns), a busy timeout (``lock_timeout_s``, 30 s by default) and foreign keys on. pysqlite's
own transaction handling is turned off so that a writer can take the write lock up front with
``BEGIN IMMEDIATE`` (pass the execution option ``sqlite_immediate=True``): a deferred
transaction that reads and then writes can otherwise fail with "database is locked" when
another connection wrote in between.

Engines are made with ``hide_parameters=True``: SQLAlchemy's error messages, which commands print
and logs keep, then never quote the values bound to a statement (row contents, key hashes).
Messages name a URL only through :func:`describe_url` (password hidden).

PostgreSQL URLs are used with the psycopg 3 driver: ``postgresql://`` and ``postgres://`` are
rewritten to ``postgresql+psycopg://``. Sessions set ``lock_timeout`` to the same
``lock_timeout_s``: PostgreSQL's default is to wait for a lock forever, so a session holding a
table lock (``LOCK TABLE``, a long migration) would leave a writer stuck without a word. With
the timeout the statement fails with ``LockNotAvailable`` (SQLite: "database is locked"), which
the caller sees as a ``DatabaseError`` naming the lock, and can report and retry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from farmtrace.redact import redact_url
from farmtrace.store.errors import DatabaseError

__all__ = ["BUSY_TIMEOUT_MS", "create_db_engine", "describe_url", "is_sqlite", "normalize_url"]

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits by default for a lock held by another before failing."""


def normalize_url(url: str) -> URL:
    """Parse a database URL, choosing the psycopg 3 driver for PostgreSQL.

    A URL that does not parse is named in the error with its password hidden.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # SQLAlchemy raises ValueError for a port that is not a number; its message quotes
        # the bad component, masked too in case that is where the password went.
        raise DatabaseError(
            f"invalid database URL {redact_url(url)!r} ({redact_url(str(exc))}): "
            "want sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise DatabaseError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
        )
    return parsed


def describe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages; never raises.

    SQLAlchemy hides the user-info password; :func:`farmtrace.redact.redact_url` also masks a
    ``?password=`` query value (libpq takes one) and a URL that does not parse.
    """
    if isinstance(url, URL):
        return redact_url(url.render_as_string(hide_password=True))
    try:
        parsed = normalize_url(url)
    except DatabaseError:
        return redact_url(url)
    return redact_url(parsed.render_as_string(hide_password=True))


def is_sqlite(engine: Engine | Connection) -> bool:
    """Whether the engine or connection talks to SQLite."""
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, lock_timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> Engine:
    """An engine for ``url`` with the settings described in the module docstring; a statement
    waits at most ``lock_timeout_s`` seconds (at least 1 ms) for a lock held by another."""
    parsed = normalize_url(url)
    timeout_ms = max(1, round(lock_timeout_s * 1000))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseError("an in-memory SQLite database cannot hold a chain: give a file")
        engine = create_engine(
            parsed,
            hide_parameters=True,
            connect_args={"timeout": timeout_ms / 1000, "check_same_thread": False},
        )

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_on_connect(dbapi_connection, timeout_ms)

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        parsed,
        hide_parameters=True,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": 10,
            "application_name": "farmtrace",
            "options": f"-c lock_timeout={timeout_ms}",
        },
    )


def _sqlite_on_connect(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    # Hand transaction control to the "begin" hook below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise DatabaseError(f"SQLite refused WAL mode (journal_mode is {mode!r})")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
