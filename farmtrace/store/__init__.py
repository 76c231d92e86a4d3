"""Storage of the chain through SQLAlchemy 2 (SQLite by default, PostgreSQL by URL).

The contract the ingest and the API use is :class:`farmtrace.store.interface.LedgerInterface`,
implemented by ``farmtrace.store.ledger.Ledger``; the records it exchanges are in
:mod:`farmtrace.store.records` and its errors in :mod:`farmtrace.store.errors`.
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
