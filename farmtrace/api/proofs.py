"""Proofs for the API, with caches for what never changes.

Everything a proof is built from is append-only, so caching is safe: a block's batch tree is
fixed once the block exists (LRU by height; a tree that does not match its sealed header is
served but never cached), the chain log's tree is extended, never changed, and a tlog-proof is
fixed by ``(height, checkpoint size)``. The only moving part is which checkpoint is the latest;
it is re-read at most every ``checkpoint_ttl`` seconds, so a proof may be relative to a
checkpoint up to that old (still a valid, signed one).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from farmtrace.chain.block import BlockHeader
from farmtrace.rust_core import MerkleTree
from farmtrace.store.errors import DatabaseError, NotFoundError
from farmtrace.store.reader import ChainReader, batch_tree, log_inclusion
from farmtrace.store.records import ReadingProof, StoredCheckpoint, StoredEntry
from farmtrace.tlog.proof import build_tlog_proof

__all__ = ["LRU", "ProofService"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class LRU(Generic[_K, _V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[_K, _V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)


class ProofService:
    """Reading proofs of one chain, relative to its (recent) latest checkpoint."""

    def __init__(
        self, reader: ChainReader, *, batch_trees: int = 2048, checkpoint_ttl: float = 1.0
    ) -> None:
        self.reader = reader
        self._trees: LRU[int, MerkleTree] = LRU(batch_trees)
        self._headers: LRU[int, tuple[BlockHeader, bytes]] = LRU(batch_trees * 4)
        self._tlog: LRU[tuple[int, int], str] = LRU(batch_trees * 4)
        self._ttl = checkpoint_ttl
        self._latest: tuple[float, StoredCheckpoint | None] = (-1e18, None)
        self._building: dict[int, threading.Lock] = {}
        self._building_lock = threading.Lock()
        # Driver-level SQL for the hot paths: no statement building per request.
        mark = "?" if reader.engine.dialect.paramstyle == "qmark" else "%s"
        self._entry_sql = (
            "SELECT block_height, index_in_block, kind, device_id, seq, timestamp_ms, "
            f"received_at, payload FROM entries WHERE chain_id = {mark} AND global_index = {mark}"
        )
        self._payloads_sql = (
            f"SELECT payload FROM entries WHERE chain_id = {mark} "
            f"AND global_index BETWEEN {mark} AND {mark} ORDER BY global_index"
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, re-read from the database at most every ``checkpoint_ttl``."""
        at, latest = self._latest
        now = time.monotonic()
        if latest is None or now - at > self._ttl:
            latest = self.reader.latest_checkpoint()
            self._latest = (now, latest)
        return latest

    def block(self, height: int) -> tuple[BlockHeader, bytes]:
        found = self._headers.get(height)
        if found is None:
            found = self.reader.block(height)
            self._headers.put(height, found)
        return found

    def entry(self, global_index: int) -> StoredEntry:
        """The stored entry at ``global_index``; ``NotFoundError`` if there is none.

        The API's hot path: a pooled driver connection and one prepared query, with none of
        SQLAlchemy's per-statement work.
        """
        try:
            conn = self.reader.engine.raw_connection()
        except Exception as exc:
            raise DatabaseError(f"cannot read entry {global_index}: {type(exc).__name__}") from None
        try:
            cursor = conn.cursor()
            cursor.execute(self._entry_sql, (self.reader.chain_id, global_index))
            row = cursor.fetchone()
            cursor.close()
        except Exception as exc:
            conn.invalidate()
            raise DatabaseError(f"cannot read entry {global_index}: {type(exc).__name__}") from None
        finally:
            conn.close()  # back to the pool, which ends the read's transaction
        if row is None:
            raise NotFoundError(f"no entry {global_index} in chain {self.reader.origin}")
        height, position, kind, device, seq, ts, received, payload = row
        return StoredEntry(
            origin=self.reader.origin,
            global_index=global_index,
            block_height=int(height),
            index_in_block=int(position),
            kind=str(kind),
            device_id=device,
            seq=seq,
            timestamp_ms=ts,
            received_at=float(received),
            payload=bytes(payload),
        )

    def cached_proof(self, global_index: int) -> ReadingProof | None:
        """The proof when all but the entry is cached (cheap enough for the event loop), else
        ``None``; ``NotFoundError`` if the entry is not stored."""
        entry = self.entry(global_index)
        at, checkpoint = self._latest
        if checkpoint is None or time.monotonic() - at > self._ttl:
            return None
        if entry.block_height >= checkpoint.size:
            return None
        header = self._headers.get(entry.block_height)
        tree = self._trees.get(entry.block_height)
        tlog = self._tlog.get((entry.block_height, checkpoint.size))
        if header is None or tree is None or tlog is None:
            return None
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(tree.inclusion_proof(entry.index_in_block)),
            block=header[0],
            block_bytes=header[1],
            tlog_proof=tlog,
        )

    def reading_proof(self, global_index: int, at: StoredCheckpoint | None = None) -> ReadingProof:
        """The entry at ``global_index`` with its full proof relative to ``at`` (default: the
        latest checkpoint); ``NotFoundError`` if not stored or not yet covered."""
        entry = self.entry(global_index)
        checkpoint = at or self.latest_checkpoint()
        if at is None and (checkpoint is None or entry.block_height >= checkpoint.size):
            checkpoint = self.reader.latest_checkpoint()
            self._latest = (time.monotonic(), checkpoint)
        if checkpoint is None or entry.block_height >= checkpoint.size:
            raise NotFoundError(f"entry {global_index} is not yet covered by a checkpoint")
        header, header_bytes = self.block(entry.block_height)
        tree = self._batch_tree(header)
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(tree.inclusion_proof(entry.index_in_block)),
            block=header,
            block_bytes=header_bytes,
            tlog_proof=self.tlog_proof(header.height, checkpoint),
        )

    def _batch_tree(self, header: BlockHeader) -> MerkleTree:
        tree = self._trees.get(header.height)
        if tree is not None:
            return tree
        # One builder per block: concurrent requests for a cold block wait for the first.
        with self._building_lock:
            lock = self._building.setdefault(header.height, threading.Lock())
        with lock:
            tree = self._trees.get(header.height)
            if tree is None:
                with self.reader.engine.connect() as conn:
                    rows = conn.exec_driver_sql(
                        self._payloads_sql,
                        (self.reader.chain_id, header.first_index, header.next_index - 1),
                    ).all()
                tree = batch_tree([bytes(p) for (p,) in rows])
                if tree.size == header.size and tree.root == header.root:
                    self._trees.put(header.height, tree)
                # else: the stored entries no longer match the sealed block; serve what is
                # stored (a verifier sees the mismatch) but never cache it.
        with self._building_lock:
            self._building.pop(header.height, None)
        return tree

    def tlog_proof(self, height: int, checkpoint: StoredCheckpoint) -> str:
        """The tlog-proof of block ``height`` in the chain log at ``checkpoint``."""
        key = (height, checkpoint.size)
        text = self._tlog.get(key)
        if text is None:
            log = self.reader.log_tree(checkpoint.size)
            hashes = log_inclusion(log, height, checkpoint.size)
            text = build_tlog_proof(height, hashes, checkpoint.note)
            self._tlog.put(key, text)
        return text

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof between chain-log sizes ``old`` and ``new``."""
        log = self.reader.log_tree(new)
        if new != log.size:
            log = MerkleTree.from_leaf_hash_buffer(log.leaf_hashes()[: new * 32])
        return log.consistency_proof(old)
