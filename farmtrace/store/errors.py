"""Errors of the storage layer (``farmtrace.store``).

::

    StoreError(Exception)           anything the ledger cannot do; the message says what and why
    ├── DatabaseError               the database cannot be opened, migrated or written
    ├── ChainMismatchError          the stored chain does not match its last signed checkpoint
    ├── InconsistentCheckpointError a new checkpoint would not be consistent with the last one
    ├── KeyFileError                the checkpoint key in the state directory is unusable
    ├── DeviceRegistryError         a device registration or revocation that cannot be done
    ├── InvalidEntryError           an entry handed to the ledger that it must not store
    └── NotFoundError               an entry, block or checkpoint that is not stored

The ingest treats ``DatabaseError`` as transient (stop acknowledging, retry later) and every other
``StoreError`` as fatal for the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "ChainMismatchError",
    "DatabaseError",
    "DeviceRegistryError",
    "InconsistentCheckpointError",
    "InvalidEntryError",
    "KeyFileError",
    "NotFoundError",
    "StoreError",
    "database_call",
]


class StoreError(Exception):
    """Base of every error raised by ``farmtrace.store``."""


class DatabaseError(StoreError):
    """The database could not be opened, migrated, read or written (often transient)."""


class ChainMismatchError(StoreError):
    """The chain in the database does not match the last checkpoint the gateway signed."""


class InconsistentCheckpointError(StoreError):
    """Signing the next checkpoint would contradict the previous one; nothing was signed."""


class KeyFileError(StoreError):
    """The gateway's checkpoint key file is missing, malformed or has unsafe permissions."""


class DeviceRegistryError(StoreError):
    """A device cannot be registered or revoked as asked (unknown device, conflicting key)."""


class InvalidEntryError(StoreError):
    """The caller handed the ledger an entry it must not store (wrong type, prefix or range)."""


class NotFoundError(StoreError):
    """The requested entry, block or checkpoint is not stored."""


_T = TypeVar("_T")


def database_call(what: str, call: Callable[[], _T]) -> _T:
    """Run ``call``; a SQLAlchemy error becomes :class:`DatabaseError` ``"<what>: <driver
    error type>: <message>"`` (the bound parameters SQLAlchemy would print are left out)."""
    try:
        return call()
    except SQLAlchemyError as exc:
        origin = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"{what}: {type(origin).__name__}: {origin}") from None


class StateConflictError(StoreError):
    """A write that names a state which is no longer current (a coupon state already spent, a
    pledge already confirmed, a campaign entry another writer appended first); nothing was
    written. ``current`` is the state that is current now, when there is one."""

    def __init__(self, message: str, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current
