"""Storage of the chain through SQLAlchemy 2 (SQLite by default, PostgreSQL by URL).

The contract the ingest and the API use is :class:`gateway.store.interface.LedgerInterface`,
implemented by ``gateway.store.ledger.Ledger``; the records it exchanges are in
:mod:`gateway.store.records` and its errors in :mod:`gateway.store.errors`.
"""

from gateway.store.errors import (
    ChainMismatchError,
    DatabaseError,
    DeviceRegistryError,
    InconsistentCheckpointError,
    InvalidEntryError,
    KeyFileError,
    NotFoundError,
    StoreError,
)
from gateway.store.interface import LedgerInterface
from gateway.store.records import (
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
