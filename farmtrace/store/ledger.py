"""The ledger: the one writer of a gateway's chain (implements ``LedgerInterface``).

Appending a batch is "sequence, then integrate" in one database transaction: claim the readings'
``(device_id, seq)`` keys, build the batch tree, seal the block, sign the next checkpoint after
checking it is consistent with the last one, insert all of it and commit. Only then is the
in-memory head advanced and the checkpoint recorded in the state directory. A batch's drop
floors, quarantined messages and refused counts may ride in the same transaction, inserted
first (the gateway under attack then pays one commit per batch, not three); they commit with
the block or not at all, and a retried transaction inserts them again, once.

Deduplication across gateways sharing a database rests on the unique ``(device_id, seq)``
constraint of ``entries``. Before inserting, the ledger looks the batch's keys up and drops
those already stored; a reading that another gateway commits between that look-up and our
insert makes the insert fail, and the whole transaction is retried (bounded). A block's rows are
inserted in ``(device_id, seq)`` order so that concurrent PostgreSQL transactions take their
index locks in one order and do not deadlock (``append_batches`` inserts its blocks one after
another, each so ordered, keeping a block's entries side by side; a deadlock across its blocks
is retried like a serialisation failure).

If anything fails during an append, nothing was committed *as far as the ledger knows*; but a
connection lost during COMMIT leaves that unknown, so the ledger reloads and re-verifies its
chain from the database before the next append.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from farmtrace import failpoints, rust_core
from farmtrace.chain.block import BlockHeader, validate_origin
from farmtrace.chain.entry import READING, kind_of
from farmtrace.chain.errors import ChainError
from farmtrace.chain.log import ChainLog
from farmtrace.store import dropfloors, key_history, registry, settled
from farmtrace.store.batching import unique_in_batch
from farmtrace.store.block_hashes import insert_run_roots
from farmtrace.store.bulk import insert_entries, stored_keys
from farmtrace.store.chain_keys import record_key
from farmtrace.store.chains import ensure_chain, lock_chain
from farmtrace.store.engine import BUSY_TIMEOUT_MS, create_db_engine, describe_url
from farmtrace.store.errors import (
    DatabaseError,
    InconsistentCheckpointError,
    StoreError,
)
from farmtrace.store.handover import pending_handover, sign_checkpoint_note
from farmtrace.store.interface import LedgerInterface
from farmtrace.store.keys import load_or_create_signer, remove_previous_signer, retired_verifiers
from farmtrace.store.log_tiles import insert_full_tiles
from farmtrace.store.migrate import upgrade
from farmtrace.store.models import Base
from farmtrace.store.opening import LoadedChain, load_chain
from farmtrace.store.pending import MAX_PENDING_PER_BLOCK, PendingFloor, pending_entries
from farmtrace.store.reader import BLOCKS, CHECKPOINTS, ChainReader, batch_tree
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
from farmtrace.store.state import StateDir
from farmtrace.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
)
from farmtrace.tlog.note import Signer, Verifier

__all__ = ["MAX_ATTEMPTS", "Ledger"]

CHAIN_KEYS = Base.metadata.tables["chain_keys"]
_T = TypeVar("_T")
logger = logging.getLogger("gateway.ledger")

MAX_ATTEMPTS = 5
"""How many times one batch is tried when concurrent gateways race for the same readings."""


@dataclass(frozen=True, slots=True)
class _SealedBlock:
    """A block sealed in memory, with its entries, its checkpoint and its batch's leaf hashes
    (for the stored run roots), waiting to be inserted."""

    header: BlockHeader
    entries: list[PendingReading]
    note: SignedCheckpoint
    leaves: bytes


@dataclass(frozen=True, slots=True)
class _Extras:
    """What a batch stores in its block's transaction besides the block (may be empty)."""

    floors: list[StoredFloor]
    quarantine: list[QuarantineItem]
    refused: list[RefusedCount]

    def __bool__(self) -> bool:
        return bool(self.floors or self.quarantine or self.refused)


class Ledger:
    """A gateway's chain, open for appending. Use :meth:`open`; see ``LedgerInterface``.

    ``append_batch`` calls are serialised by an internal lock; the other methods may be called
    from any thread.
    """

    # The chain's tip as this ledger knows it (set by ``_adopt`` and ``_advance``).
    _head_hash: bytes
    _log: ChainLog
    _entry_count: int
    _key_recorded: bool

    def __init__(
        self,
        engine: Engine,
        reader: ChainReader,
        state: StateDir,
        signer: Signer,
        verifiers: Sequence[Verifier],
        loaded: LoadedChain,
        chain_lock: Connection | None,
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._state = state
        self._signer = signer
        self._verifiers = list(verifiers)
        self._chain_lock = chain_lock
        self._write_lock = threading.Lock()
        self._stale = False
        self._retries = 0
        self._head: BlockHeader | None = None
        self._checkpoint: SignedCheckpoint | None = None
        self._pending = PendingFloor()
        self._adopt(loaded)
        # The retired key co-signs the first checkpoint after a rotation (farmtrace.store.handover).
        self._handover = pending_handover(state.path, signer, loaded.checkpoint)

    @classmethod
    def open(
        cls,
        db_url: str,
        state_dir: Path | str,
        origin: str,
        lock_timeout_s: float = BUSY_TIMEOUT_MS / 1000,
    ) -> Ledger:
        """Open (creating if needed) the chain ``origin`` in ``db_url`` for appending.

        Locks ``state_dir``, loads or creates the checkpoint key there, migrates the database
        to the current schema, and loads the chain, refusing (``ChainMismatchError``) one that
        does not match the last checkpoint signed by this gateway. A statement that waits
        longer than ``lock_timeout_s`` for a lock another connection holds fails with a
        ``DatabaseError`` naming the lock (:func:`farmtrace.store.engine.create_db_engine`).
        """
        try:
            validate_origin(origin)
        except ChainError as exc:
            raise StoreError(str(exc)) from None
        state = StateDir.lock(Path(state_dir))
        engine: Engine | None = None
        chain_lock: Connection | None = None
        try:
            signer = load_or_create_signer(state.path, origin)
            verifiers = [signer.verifier, *retired_verifiers(state.path)]
            engine = create_db_engine(db_url, lock_timeout_s)
            upgrade(engine)
            chain_id = ensure_chain(engine, origin)
            chain_lock = lock_chain(engine, chain_id, origin)
            with engine.connect() as conn:
                loaded = load_chain(conn, chain_id, origin, verifiers, state.read_checkpoint())
            # Only a key whose chain checked out is listed as the chain's (the API serves them).
            record_key(engine, chain_id, signer.verifier.vkey, [v.vkey for v in verifiers[1:]])
            reader = ChainReader(engine, chain_id, origin)
            return cls(engine, reader, state, signer, verifiers, loaded, chain_lock)
        except SQLAlchemyError as exc:
            _close_all(state, engine, chain_lock)
            raise DatabaseError(
                f"cannot open database {_describe(db_url)}: {_reason(exc)}"
            ) from None
        except BaseException:
            _close_all(state, engine, chain_lock)
            raise

    # -- properties ------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._reader.origin

    @property
    def verifier_key(self) -> str:
        return self._signer.verifier.vkey

    @property
    def size(self) -> int:
        return self._log.size

    @property
    def entry_count(self) -> int:
        return self._entry_count

    @property
    def head(self) -> BlockHeader | None:
        """The newest block's header (``None`` for an empty chain)."""
        return self._head

    @property
    def retries(self) -> int:
        """How many append attempts were retried after racing another writer (for metrics)."""
        return self._retries

    @property
    def reader(self) -> ChainReader:
        """Read access to this chain (shares the ledger's engine)."""
        return self._reader

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- appending ---------------------------------------------------------------------------

    def append_batch(
        self,
        readings: Sequence[PendingReading],
        *,
        floors: Iterable[StoredFloor] = (),
        quarantine: Iterable[QuarantineItem] = (),
        refused: Iterable[RefusedCount] = (),
    ) -> BatchResult:
        """Append one batch as one block; see ``LedgerInterface.append_batch``."""
        candidates, repeated = unique_in_batch(readings)
        extras = _Extras(list(floors), list(quarantine), list(refused))
        with self._write_lock:
            if self._stale:
                self._reload()
            if not candidates and not extras and not self._entries_wait():
                # A sweep with nothing queued: one read, no write lock (SQLite's is database-wide).
                return BatchResult(None, None, 0, tuple(repeated))
            return self._with_retries(
                lambda raced: self._append_once(candidates, repeated, extras, look=raced)
            )

    def append_batches(self, batches: Sequence[Sequence[PendingReading]]) -> list[BatchResult]:
        """Append ``batches`` as consecutive blocks, one per batch, in one transaction: the
        same blocks, checkpoints and stored hashes (run roots, chain log tiles) as calling
        :meth:`append_batch` on each in turn at the same clock, written with one statement per
        table (the way to load many blocks: a migration, a benchmark's chain, a backlog).

        All or nothing. A reading stored already, or by an earlier batch of this call, is a
        duplicate of its batch; a batch left with nothing new makes no block (its result's
        ``block`` is ``None``). Entries waiting for a block (lot events) join the first block
        sealed, as they would join the first :meth:`append_batch`. Results are in batch order.
        """
        prepared = [unique_in_batch(batch) for batch in batches]
        if self._handover is not None and len(prepared) > 1:
            # The retired key co-signs only the first checkpoint after a rotation.
            first = self.append_batch(batches[0])
            return [first, *self.append_batches(batches[1:])]
        with self._write_lock:
            if self._stale:
                self._reload()
            return self._with_retries(lambda _raced: self._append_many_once(prepared))

    def _with_retries(self, attempt: Callable[[bool], _T]) -> _T:
        """``attempt`` (one append transaction), retried when racing another writer; it is
        told whether an earlier try failed on a unique key (``IntegrityError``)."""
        last: Exception | None = None
        raced = False
        for _attempt in range(MAX_ATTEMPTS):
            try:
                return attempt(raced)
            except IntegrityError as exc:
                raced = True
                # Someone stored one of our readings since we looked (the insert failed
                # before COMMIT, so nothing of ours was written): look again. Should our
                # own chain have moved, another writer is at work: reload, which refuses.
                if _db(self._stored_height) != (-1 if self._head is None else self._head.height):
                    self._stale = True
                    self._reload()
                self._retries += 1
                last = exc
            except DBAPIError as exc:
                self._stale = True
                if not _is_retryable(exc):
                    raise DatabaseError(f"append failed: {_reason(exc)}") from None
                self._retries += 1
                last = exc
            except SQLAlchemyError as exc:
                self._stale = True
                raise DatabaseError(f"append failed: {_reason(exc)}") from None
            except BaseException:
                self._stale = True
                raise
        raise DatabaseError(f"append failed {MAX_ATTEMPTS} times; last: {_reason(last)}")

    def _append_once(
        self,
        candidates: list[PendingReading],
        repeated: list[tuple[str, int]],
        extras: _Extras,
        *,
        look: bool,
    ) -> BatchResult:
        """One try at :meth:`append_batch`. ``look``: find the candidates already stored before
        inserting. Without it they are taken to be new (the gateway's committer passes only
        readings it found unstored): the unique index on ``(device_id, seq)`` still refuses
        any stored meanwhile, and the retry that follows looks. That saves probing the index
        once more per reading, about a tenth of an append's CPU."""
        writer = self._engine.connect().execution_options(sqlite_immediate=True)
        with writer as conn, conn.begin():
            # The batch's drop floors and rejected messages, in the order the separate
            # transactions stored them; a retry rolls them back with the block and redoes them.
            if extras.floors:
                dropfloors.insert_floors(conn, extras.floors)
            if extras.quarantine or extras.refused:
                registry.insert_quarantine(
                    conn, self._reader.chain_id, extras.quarantine, extras.refused
                )
            stored: set[tuple[str, int]] = set()
            fresh = list(candidates)
            if look:
                stored = stored_keys(conn, [(r.device_id, r.seq) for r in candidates])
                fresh = [r for r in candidates if (r.device_id, r.seq) not in stored]
            duplicates = tuple(repeated + sorted(stored))
            # Integrate entries signed elsewhere (lot events) that wait for a block.
            looked_at = time.time()
            since, full = self._pending.start(looked_at)
            waiting = pending_entries(conn, MAX_PENDING_PER_BLOCK, since)
            if waiting:
                taken = {(r.device_id, r.seq) for r in fresh}
                fresh += [p for p in waiting if (p.device_id, p.seq) not in taken]
            if not fresh:
                self._pending.looked(len(waiting), MAX_PENDING_PER_BLOCK, looked_at, full)
                return BatchResult(None, None, 0, duplicates)
            header, log, note, leaves = self._seal(fresh)
            self._insert(conn, header, fresh, note, leaves)
        failpoints.hit(failpoints.APPEND_AFTER_COMMIT)
        self._pending.looked(len(waiting), MAX_PENDING_PER_BLOCK, looked_at, full)
        self._advance(header, log, note)
        self._state.write_checkpoint(note.text)
        if self._handover is not None:
            self._end_handover()
        return BatchResult(header, note.text, len(fresh), duplicates)

    def _append_many_once(
        self, prepared: list[tuple[list[PendingReading], list[tuple[str, int]]]]
    ) -> list[BatchResult]:
        """One transaction sealing a block per batch with something new (see
        :meth:`append_batches`). The head advances block by block while sealing, since each
        checkpoint extends the previous one, and goes back to where it was if anything fails."""
        before = (
            self._head,
            self._head_hash,
            self._log,
            self._checkpoint,
            self._entry_count,
            self._key_recorded,
        )
        results: list[BatchResult] = []
        sealed: list[_SealedBlock] = []
        writer = self._engine.connect().execution_options(sqlite_immediate=True)
        try:
            with writer as conn, conn.begin():
                every = [(r.device_id, r.seq) for candidates, _ in prepared for r in candidates]
                taken = stored_keys(conn, every)
                looked_at = time.time()
                since, full = self._pending.start(looked_at)
                waiting = pending_entries(conn, MAX_PENDING_PER_BLOCK, since)
                waited = len(waiting)
                for candidates, repeated in prepared:
                    fresh = [r for r in candidates if (r.device_id, r.seq) not in taken]
                    seen = sorted(k for r in candidates if (k := (r.device_id, r.seq)) in taken)
                    duplicates = tuple(repeated + seen)
                    taken.update((r.device_id, r.seq) for r in fresh)
                    if waiting:
                        fresh += [p for p in waiting if (p.device_id, p.seq) not in taken]
                        taken.update((p.device_id, p.seq) for p in waiting)
                    if not fresh:
                        results.append(BatchResult(None, None, 0, duplicates))
                        continue
                    waiting = []  # they joined this block
                    header, log, note, leaves = self._seal(fresh)
                    sealed.append(_SealedBlock(header, fresh, note, leaves))
                    self._advance(header, log, note)
                    results.append(BatchResult(header, note.text, len(fresh), duplicates))
                if sealed:
                    self._insert_blocks(conn, sealed)
        except BaseException:
            (
                self._head,
                self._head_hash,
                self._log,
                self._checkpoint,
                self._entry_count,
                self._key_recorded,
            ) = before
            raise
        self._pending.looked(waited, MAX_PENDING_PER_BLOCK, looked_at, full)
        if sealed:
            self._state.write_checkpoint(sealed[-1].note.text)
        return results

    def _entries_wait(self) -> bool:
        """Whether any pending entry waits for a block: one read through the ``created_at``
        index from the :class:`PendingFloor`, outside any write transaction."""
        looked_at = time.time()
        since, full = self._pending.start(looked_at)
        try:
            with self._engine.connect() as conn:
                waiting = pending_entries(conn, 1, since)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot look at the pending entries: {_reason(exc)}") from None
        self._pending.looked(len(waiting), 1, looked_at, full)
        return bool(waiting)

    def _end_handover(self) -> None:
        """The hand-over checkpoint is committed: the retired private key is no longer needed."""
        self._handover = None
        try:
            remove_previous_signer(self._state.path)
        except StoreError as exc:
            # Not an integrity problem; the next start deletes it or refuses, saying why.
            logger.error("%s", exc)

    def _seal(
        self, fresh: list[PendingReading]
    ) -> tuple[BlockHeader, ChainLog, SignedCheckpoint, bytes]:
        """Build the block and its checkpoint; sign only a checkpoint consistent with the last.
        Also the batch's leaf hashes, back to back (for the block's stored run roots)."""
        tree = batch_tree([r.payload for r in fresh])
        root = tree.root
        failpoints.hit(failpoints.APPEND_TREE_BUILT)
        head = self._head
        now_ms = int(time.time() * 1000)
        header = BlockHeader(
            origin=self.origin,
            height=0 if head is None else head.height + 1,
            previous=self._head_hash,
            time_ms=now_ms if head is None else max(now_ms, head.time_ms),
            first_index=self._entry_count,
            size=len(fresh),
            root=root,
        )
        log, proof = self._log.extend([header.hash()])
        previous = self._checkpoint
        if previous is not None:
            old = previous.checkpoint
            if log.size != old.size + 1 or not rust_core.verify_consistency(
                old.size, log.size, proof, old.root, log.root
            ):
                raise InconsistentCheckpointError(
                    f"chain {self.origin}: the log of size {log.size} is not consistent with "
                    f"the signed checkpoint of size {old.size}; refusing to sign"
                )
        body = Checkpoint(self.origin, log.size, log.root)
        note = open_checkpoint(
            sign_checkpoint_note(body, self._signer, self._handover),
            [self._signer.verifier],
            origin=self.origin,
        )
        failpoints.hit(failpoints.APPEND_CHECKPOINT_SIGNED)
        return header, log, note, tree.leaf_hashes()

    def _insert(
        self,
        conn: Connection,
        header: BlockHeader,
        fresh: list[PendingReading],
        note: SignedCheckpoint,
        leaves: bytes,
    ) -> None:
        self._insert_blocks(conn, [_SealedBlock(header, fresh, note, leaves)])

    def _insert_blocks(self, conn: Connection, sealed: Sequence[_SealedBlock]) -> None:
        """Insert consecutive sealed blocks (entries, headers, run roots, the chain log tiles
        they fill, checkpoints) in the caller's transaction, one statement per table."""
        chain_id = self._reader.chain_id
        rows = [
            (
                chain_id,
                block.header.first_index + i,
                block.header.height,
                i,
                kind_of(r.payload) or READING,
                r.device_id,
                r.seq,
                r.timestamp_ms,
                r.received_at,
                r.payload,
            )
            for block in sealed
            for i, r in enumerate(block.entries)
        ]
        # Each block's rows in (device_id, seq) order: concurrent PostgreSQL writers take their
        # index locks in one order within a block (a deadlock across blocks is retried). Not
        # one sort over all the blocks: a block's rows would then lie far apart in the table,
        # and a proof, which reads a run of neighbours, would read many pages instead of one.
        rows.sort(key=lambda row: (row[2], row[5], row[6]))
        insert_entries(conn, rows)
        failpoints.hit(failpoints.APPEND_ENTRIES_INSERTED)
        conn.execute(
            insert(BLOCKS),
            [
                {
                    "chain_id": chain_id,
                    "height": block.header.height,
                    "header": block.header.encode(),
                    "first_index": block.header.first_index,
                    "size": block.header.size,
                    "time_ms": block.header.time_ms,
                }
                for block in sealed
            ],
        )
        # The roots of the block's runs of 8: a reading's proof then reads its run, not the block.
        insert_run_roots(conn, chain_id, [(b.header.height, b.leaves) for b in sealed])
        # The chain log's tiles these blocks fill: a block's place in the log is then proved
        # from stored hashes, not from a tree of every header.
        for block in sealed:
            insert_full_tiles(conn, chain_id, block.header.height + 1)
        failpoints.hit(failpoints.APPEND_BLOCK_WRITTEN)
        signed_at = time.time()
        conn.execute(
            insert(CHECKPOINTS),
            [
                {
                    "chain_id": chain_id,
                    "size": block.header.height + 1,
                    "note": block.note.text,
                    "signed_at": signed_at,
                }
                for block in sealed
            ],
        )
        if not self._key_recorded:
            conn.execute(
                insert(CHAIN_KEYS),
                {"chain_id": chain_id, "vkey": self.verifier_key, "added_at": time.time()},
            )
        failpoints.hit(failpoints.APPEND_BEFORE_COMMIT)

    def _advance(self, header: BlockHeader, log: ChainLog, note: SignedCheckpoint) -> None:
        self._head, self._head_hash = header, header.hash()
        self._log, self._checkpoint = log, note
        self._entry_count = header.next_index
        self._key_recorded = True

    def _adopt(self, loaded: LoadedChain) -> None:
        self._head = loaded.head
        self._head_hash = loaded.head_hash
        self._log = loaded.log
        self._checkpoint = loaded.checkpoint
        self._entry_count = loaded.entry_count
        with self._engine.connect() as conn:
            self._key_recorded = (
                conn.execute(
                    select(CHAIN_KEYS.c.vkey).where(
                        CHAIN_KEYS.c.chain_id == self._reader.chain_id,
                        CHAIN_KEYS.c.vkey == self.verifier_key,
                    )
                ).first()
                is not None
            )

    def _stored_height(self) -> int:
        """The newest block height of this chain in the database (-1 when it has none)."""
        with self._engine.connect() as conn:
            top = conn.execute(
                select(func.max(BLOCKS.c.height)).where(BLOCKS.c.chain_id == self._reader.chain_id)
            ).scalar()
        return -1 if top is None else int(top)

    def _reload(self) -> None:
        """Re-read and re-verify the chain from the database (after an uncertain failure)."""
        try:
            with self._engine.connect() as conn:
                loaded = load_chain(
                    conn,
                    self._reader.chain_id,
                    self.origin,
                    self._verifiers,
                    self._state.read_checkpoint(),
                )
            self._adopt(loaded)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot reload chain {self.origin}: {_reason(exc)}") from None
        self._stale = False

    # -- registry, quarantine, reads ---------------------------------------------------------

    def register_devices(self, devices: Mapping[str, bytes]) -> int:
        return _db(lambda: registry.register_devices(self._engine, devices))

    def revoke_device(self, device_id: str, at: float | None = None) -> None:
        _db(lambda: registry.revoke_device(self._engine, device_id, at))

    def devices(self) -> list[Device]:
        return _db(lambda: registry.devices(self._engine))

    def quarantine(
        self, items: Iterable[QuarantineItem], refused: Iterable[RefusedCount] = ()
    ) -> int:
        return _db(lambda: registry.quarantine(self._engine, self._reader.chain_id, items, refused))

    def last_seqs(self) -> dict[str, int]:
        return _db(lambda: registry.last_seqs(self._engine))

    # The settled-seq and drop-floor functions raise DatabaseError themselves.

    def committed_runs(self) -> dict[str, list[tuple[int, int]]]:
        return settled.committed_runs(self._engine)

    def committed_in(self, ranges: Iterable[tuple[str, int, int]]) -> dict[str, list[int]]:
        return settled.committed_in(self._engine, ranges)

    def stored_payloads(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        return settled.stored_payloads(self._engine, keys)

    def rejected_readings(
        self, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[bytes, str]]:
        return settled.rejected_readings(self._engine, keys)

    def rejected_highs(self) -> dict[str, int]:
        return settled.rejected_highs(self._engine)

    def record_floors(self, floors: Iterable[StoredFloor]) -> int:
        return dropfloors.record_floors(self._engine, floors)

    def record_watermark_key(self, public_key: str) -> bool:
        current = key_history.current_keys(self._engine, key_history.KIND_WATERMARK, self.origin)
        return key_history.record_key(
            self._engine,
            key_history.KIND_WATERMARK,
            public_key,
            scope=self.origin,
            retire=[k.public_key for k in current],
        )

    def highest_floors(self) -> dict[str, int]:
        return dropfloors.highest_floors(self._engine)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return _db(self._reader.latest_checkpoint)

    def reading_proof(self, global_index: int) -> ReadingProof:
        return _db(lambda: self._reader.reading_proof(global_index))

    def close(self) -> None:
        _close_all(self._state, self._engine, self._chain_lock)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _is_retryable(exc: DBAPIError) -> bool:
    """Deadlocks and serialisation failures between concurrent PostgreSQL writers."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in ("40P01", "40001")


def _db(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except SQLAlchemyError as exc:
        raise DatabaseError(_reason(exc)) from None


def _reason(exc: BaseException | None) -> str:
    """The driver's error class and message on one line (PostgreSQL adds CONTEXT lines, which
    would split a log line and hide what follows the message)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return " ".join(f"{type(exc.orig).__name__}: {exc.orig}".split())
    return " ".join(str(exc).split())


def _describe(url: str) -> str:
    try:
        return describe_url(url)
    except StoreError:
        return repr(url)


def _close_all(state: StateDir, engine: Engine | None, lock: Connection | None) -> None:
    if lock is not None:
        lock.close()
    if engine is not None:
        engine.dispose()
    state.close()


if TYPE_CHECKING:
    # mypy checks here that Ledger keeps the contract the ingest is typed against.
    _KEEPS_THE_CONTRACT: type[LedgerInterface] = Ledger
