"""Opening a database: one function, :func:`open_database`, for every component.

It connects (:func:`farmtrace.store.engine.create_db_engine`) and brings the schema to the
newest revision (:func:`farmtrace.store.migrate.upgrade`), so that the API, the gateway and the
commands all see one schema and nothing outside the store runs a migration. The
:class:`Database` it returns is the handle the store's queries take.

Errors leave the store as :class:`DatabaseError`. Their messages name the driver's error class
only, never its message: a driver's message can quote a URL or connection parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from farmtrace.store.engine import BUSY_TIMEOUT_MS, create_db_engine, describe_url
from farmtrace.store.errors import DatabaseError
from farmtrace.store.migrate import upgrade

__all__ = ["Database", "database_errors", "driver_error", "open_database"]


class Database:
    """An open database whose schema is at the newest revision.

    ``engine`` is for the store's own modules; code outside the store passes the handle on
    without looking inside. :meth:`close` (or leaving a ``with`` block) releases its
    connections.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_database(url: str, lock_timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> Database:
    """Connect to ``url`` and bring its schema up to date (creating it in an empty database).

    A statement waits at most ``lock_timeout_s`` seconds for a lock another connection holds.
    Raises :class:`DatabaseError` ``"cannot open database <url, password hidden>: <driver
    error class>"`` when the database cannot be reached or migrated, and for a URL that is not
    a supported database.
    """
    engine = create_db_engine(url, lock_timeout_s)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(
            f"cannot open database {describe_url(url)}: {driver_error(exc)}"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return Database(engine)


def driver_error(exc: SQLAlchemyError) -> str:
    """The name of the error's class: the driver's for a driver error (``OperationalError``)."""
    return type(exc.orig).__name__ if isinstance(exc, DBAPIError) else type(exc).__name__


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """Turn a SQLAlchemy error inside into :class:`DatabaseError` ``"<what>: database error:
    <driver error class>"``."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseError(f"{what}: database error: {driver_error(exc)}") from None
