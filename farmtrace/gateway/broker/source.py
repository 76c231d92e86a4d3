"""The device registry read for the broker's files, without changing the database.

Unlike ``farmtrace devices``, nothing here creates or migrates a database: a mistyped SQLite
path must be an error, not a new empty registry that would lock every device out.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.store import registry
from farmtrace.store.engine import create_db_engine, describe_url, normalize_url
from farmtrace.store.errors import StoreError
from farmtrace.store.migrate import current_revision
from farmtrace.store.records import Device

__all__ = ["read_registry"]


def read_registry(db_url: str) -> list[Device]:
    """Every registered device (revoked ones included), by ID; raise naming the database."""
    where = describe_url(db_url)
    try:
        url = normalize_url(db_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database)
            if not path.is_file():
                raise BrokerFilesError(f"no device registry at {where}: {path} is not a file")
        engine = create_db_engine(db_url)
    except StoreError as exc:
        raise BrokerFilesError(f"cannot open the device registry: {exc}") from None
    try:
        if current_revision(engine) is None:
            raise BrokerFilesError(
                f"{where} holds no farmtrace schema; register devices first "
                "(farmtrace devices import --db URL KEYS.json)"
            )
        return registry.devices(engine)
    except (StoreError, SQLAlchemyError) as exc:
        raise BrokerFilesError(f"cannot read the device registry at {where}: {exc}") from None
    finally:
        engine.dispose()
