"""The device registry as the commands that manage it see it: one database, opened by URL.

:meth:`DeviceRegistry.open` opens a database through
:func:`~farmtrace.store.database.open_database` (creating or migrating its schema), for
``farmtrace devices`` and the benchmarks that register devices.
:meth:`DeviceRegistry.open_existing` opens one without creating or migrating anything, for
``farmtrace broker files``: a mistyped SQLite path must be an error, not a new empty registry
that would lock every device out.

Database failures are raised as :class:`~farmtrace.store.errors.DatabaseError` naming the
database (password hidden); a registration or revocation that cannot be done as asked as
:class:`~farmtrace.store.errors.DeviceRegistryError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from farmtrace.store import registry
from farmtrace.store.database import Database, open_database
from farmtrace.store.engine import create_db_engine, describe_url, normalize_url
from farmtrace.store.errors import NotFoundError, database_call
from farmtrace.store.migrate import current_revision
from farmtrace.store.records import Device

__all__ = ["DeviceRegistry"]


class DeviceRegistry:
    """The device registry of one open database; close it (or leave its ``with`` block)."""

    def __init__(self, database: Database, where: str) -> None:
        self._database = database
        self.where = where
        """The database's URL with any password hidden, for messages."""

    @classmethod
    def open(cls, db_url: str) -> DeviceRegistry:
        """The registry at ``db_url``, its schema created or brought up to date."""
        return cls(open_database(db_url), describe_url(db_url))

    @classmethod
    def open_existing(cls, db_url: str) -> DeviceRegistry:
        """The registry at ``db_url`` as it is: nothing is created or migrated.

        Raises :class:`NotFoundError` when a SQLite URL names no file (connecting would create
        it) and :class:`~farmtrace.store.errors.DatabaseError` for a URL that is not a
        supported database. Whether the database holds a schema at all is
        :meth:`has_schema`'s to say.
        """
        where = describe_url(db_url)
        url = normalize_url(db_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database)
            if not path.is_file():
                raise NotFoundError(f"no device registry at {where}: {path} is not a file")
        return cls(Database(create_db_engine(db_url)), where)

    def has_schema(self) -> bool:
        """Whether the database holds a farmtrace schema (at any revision)."""
        return database_call(
            f"cannot read the device registry at {self.where}",
            lambda: current_revision(self._database.engine) is not None,
        )

    def devices(self) -> list[Device]:
        """Every registered device (revoked ones included), by ID."""
        return database_call(
            f"cannot read the device registry at {self.where}",
            lambda: registry.devices(self._database.engine),
        )

    def register(self, keys: Mapping[str, bytes]) -> int:
        """Register ``device_id -> public key``; return how many were new (see
        ``LedgerInterface.register_devices``)."""
        return database_call(
            f"cannot register devices at {self.where}",
            lambda: registry.register_devices(self._database.engine, keys),
        )

    def revoke(self, device_id: str) -> None:
        """Revoke a registered device now (a no-op when it already is); raise if unknown."""
        database_call(
            f"cannot revoke {device_id} at {self.where}",
            lambda: registry.revoke_device(self._database.engine, device_id),
        )

    def close(self) -> None:
        """Release the database connections."""
        self._database.close()

    def __enter__(self) -> DeviceRegistry:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
