"""The database, through SQLAlchemy 2 (SQLite by default, PostgreSQL by URL): the only package
that imports SQLAlchemy, Alembic or psycopg (docs/architecture.md; ``make lint`` enforces it).

What the others call, each returning records (:mod:`farmtrace.store.records`) and raising only
:mod:`farmtrace.store.errors` types:

* the gateway's chain writer: :class:`farmtrace.store.ledger.Ledger`, typed against
  :class:`farmtrace.store.interface.LedgerInterface` (the ingest sees only the Protocol);
* the read side of the chain, with the one proof path and its cache:
  :class:`farmtrace.store.reader.ChainReader`;
* the API's lots, events and keys: :mod:`farmtrace.store.lots`, :mod:`farmtrace.store.api_keys`,
  :mod:`farmtrace.store.pending` (both sides of the queue of entries waiting for a block);
* the audit's reads: :mod:`farmtrace.store.audit_reads`; the commands': :mod:`.device_registry`,
  :mod:`.counts`;
* opening a database: :func:`farmtrace.store.database.open_database`, which brings the schema up
  to date (the migrations in ``migrations/`` run from :mod:`farmtrace.store.migrate` only).
"""

from farmtrace.store.errors import (
    ChainMismatchError,
    DatabaseError,
    DeviceRegistryError,
    InconsistentCheckpointError,
    InvalidEntryError,
    KeyFileError,
    NotFoundError,
    StoreError,
)
from farmtrace.store.interface import LedgerInterface
from farmtrace.store.records import (
    BatchResult,
    Device,
    PendingReading,
    QuarantineItem,
    ReadingProof,
    StoredCheckpoint,
    StoredEntry,
)

__all__ = [
    "BatchResult",
    "ChainMismatchError",
    "DatabaseError",
    "Device",
    "DeviceRegistryError",
    "InconsistentCheckpointError",
    "InvalidEntryError",
    "KeyFileError",
    "LedgerInterface",
    "NotFoundError",
    "PendingReading",
    "QuarantineItem",
    "ReadingProof",
    "StoreError",
    "StoredCheckpoint",
    "StoredEntry",
]
