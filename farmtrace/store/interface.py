"""The storage contract the ingest and the API code against.

:class:`farmtrace.store.ledger.Ledger` implements :class:`LedgerInterface`; open one with
``Ledger.open(db_url, state_dir, origin)``. The contract in short:

* One ``Ledger`` per gateway process and origin: it holds the gateway's checkpoint key (from
  ``state_dir``) and the head of its chain in memory, and is the only writer of that chain (a
  state-directory lock, and on PostgreSQL an advisory lock, keep a second one out).
  ``append_batch`` calls are serialised internally; the other methods may be called from any
  thread.
* Several gateways (each its own origin and state directory) may share one PostgreSQL database.
  Deduplication of readings by ``(device_id, seq)`` holds across all of them.
* Every method that writes returns only after its transaction has committed durably (SQLite
  ``synchronous=FULL`` in WAL mode; PostgreSQL's default ``synchronous_commit``).
* Every error raised for a database, chain or key problem derives from
  :class:`farmtrace.store.errors.StoreError` and says what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from farmtrace.store.records import (
    BatchResult,
    Device,
    PendingReading,
    QuarantineItem,
    ReadingProof,
    StoredCheckpoint,
    StoredFloor,
)
from farmtrace.store.refused import RefusedCount

__all__ = ["LedgerInterface"]


class LedgerInterface(Protocol):
    """What a gateway's ledger offers (see the module docstring for the shared rules)."""

    @property
    def origin(self) -> str:
        """The chain's origin (checkpoint origin and key name), e.g. ``farmtrace.example/gw-1``."""
        ...

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key string of the gateway's current checkpoint key."""
        ...

    @property
    def size(self) -> int:
        """The number of blocks in the chain (the chain log's size)."""
        ...

    @property
    def entry_count(self) -> int:
        """The number of entries in the chain (the next entry's global index)."""
        ...

    def append_batch(
        self,
        readings: Sequence[PendingReading],
        *,
        floors: Iterable[StoredFloor] = (),
        quarantine: Iterable[QuarantineItem] = (),
        refused: Iterable[RefusedCount] = (),
    ) -> BatchResult:
        """Append one batch of verified readings as one block, in one transaction.

        In one database transaction: claim each ``(device_id, seq)`` (unique across the whole
        database, so across gateways), drop those already stored or repeated within the batch,
        build the batch's Merkle tree over the remaining payloads in the given order, insert them
        with their global indexes, insert the block header, sign the new chain-log checkpoint
        (after verifying it is consistent with the previous one) and store it, and commit.

        Returns only after the commit is durable; the caller may then acknowledge every reading
        of the batch to the broker, duplicates included. Entries signed elsewhere that wait in
        ``pending_entries`` (lot events) join the block, so ``append_batch([])`` seals a block
        of them alone; when no reading is new and no entry waits, nothing is written and
        ``BatchResult.block`` is ``None`` (for ``append_batch([])`` that costs one indexed read
        and no write lock: the gateway's idle sweep, ``farmtrace.gateway.ingest.sweep``). On
        any exception the caller must not acknowledge: usually nothing was committed, but a
        connection lost during COMMIT (or a failure to record the checkpoint in the state
        directory afterwards) can leave the batch committed; the redelivered readings are then
        found stored and reported as duplicates. The ledger re-reads and re-verifies its chain
        before the next append, so it stays usable for a retry. A batch with an invalid reading
        raises ``InvalidEntryError`` before any write.

        ``floors``, ``quarantine`` and ``refused`` are stored in the same transaction, before
        the block, exactly as :meth:`record_floors` and :meth:`quarantine` would store them
        (a batch under attack then costs one commit, not three): all of it commits with the
        block or none of it, also when no reading is new and no block is sealed; a retry after
        racing another writer redoes them with the block, never twice.
        """
        ...

    def register_devices(self, devices: Mapping[str, bytes]) -> int:
        """Register devices (ID to 32-byte Ed25519 public key); return how many were new.

        Re-registering a device with the same key is a no-op; with a different key it raises
        (a key change is a new device identity, not an update).
        """
        ...

    def revoke_device(self, device_id: str, at: float | None = None) -> None:
        """Mark a registered device revoked (at ``at``, default now); raise if it is unknown."""
        ...

    def devices(self) -> list[Device]:
        """Every registered device, ordered by device ID."""
        ...

    def quarantine(
        self, items: Iterable[QuarantineItem], refused: Iterable[RefusedCount] = ()
    ) -> int:
        """Store rejected messages durably and add the counts of those refused past the
        quarantine's bounds (one transaction); return how many were stored."""
        ...

    def last_seqs(self) -> dict[str, int]:
        """The highest stored sequence number per device, over every chain in the database."""
        ...

    def committed_runs(self) -> dict[str, list[tuple[int, int]]]:
        """Every device's settled seqs (stored, or signed and rejected) as ``(first, last)``
        inclusive runs, over every chain."""
        ...

    def committed_in(self, ranges: Iterable[tuple[str, int, int]]) -> dict[str, list[int]]:
        """The settled seqs per device within each inclusive ``(device_id, first, last)``."""
        ...

    def stored_payloads(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        """The stored payload of each ``(device_id, seq)`` in ``keys`` that is stored."""
        ...

    def rejected_readings(
        self, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[bytes, str]]:
        """``(payload, reason)`` of the signed rejection of each key in ``keys`` that has one."""
        ...

    def rejected_highs(self) -> dict[str, int]:
        """Each device's highest seq that was a signed rejection (devices without one: absent)."""
        ...

    def record_floors(self, floors: Iterable[StoredFloor]) -> int:
        """Store each drop floor higher than its device's highest stored one (one transaction,
        durable when it returns); return how many were stored."""
        ...

    def highest_floors(self) -> dict[str, int]:
        """Each device's highest stored drop floor (devices without one: absent)."""
        ...

    def record_watermark_key(self, public_key: str) -> bool:
        """Record the gateway's commit-watermark key (base64 of the raw Ed25519 public key) in
        the key history (kind ``watermark``, scope the origin), ending the validity of another
        current watermark key of this origin now; ``True`` if the key is new there."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """This chain's latest signed checkpoint, or ``None`` before the first block."""
        ...

    def reading_proof(self, global_index: int) -> ReadingProof:
        """An entry of this chain with its full proof, relative to the latest checkpoint."""
        ...

    def close(self) -> None:
        """Release the database connections and the state-directory lock."""
        ...
