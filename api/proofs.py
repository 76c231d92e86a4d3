"""Proofs for the API, with caches for what never changes.

Everything a proof is built from is append-only, so caching is safe: a block's batch tree is
fixed once the block exists (LRU by height), the chain log's tree is extended, never changed,
and a tlog-proof is fixed by ``(height, checkpoint size)``. The only moving part is which
checkpoint is the latest; it is re-read at most every ``checkpoint_ttl`` seconds, so a proof may
be relative to a checkpoint up to that old (still a valid, signed one).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from farmtrace.tlog.proof import build_tlog_proof
from gateway.chain.block import BlockHeader
from gateway.store.errors import NotFoundError
from gateway.store.reader import ChainReader, batch_tree, log_inclusion
from gateway.store.records import ReadingProof, StoredCheckpoint
from rust_core import MerkleTree

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

    def reading_proof(self, global_index: int, at: StoredCheckpoint | None = None) -> ReadingProof:
        """The entry at ``global_index`` with its full proof relative to ``at`` (default: the
        latest checkpoint); ``NotFoundError`` if not stored or not yet covered."""
        entry = self.reader.entry(global_index)
        checkpoint = at or self.latest_checkpoint()
        if at is None and (checkpoint is None or entry.block_height >= checkpoint.size):
            checkpoint = self.reader.latest_checkpoint()
            self._latest = (time.monotonic(), checkpoint)
        if checkpoint is None or entry.block_height >= checkpoint.size:
            raise NotFoundError(f"entry {global_index} is not yet covered by a checkpoint")
        header, header_bytes = self.block(entry.block_height)
        tree = self._trees.get(header.height)
        if tree is None:
            tree = batch_tree(self.reader.block_payloads(header))
            self._trees.put(header.height, tree)
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(tree.inclusion_proof(entry.index_in_block)),
            block=header,
            block_bytes=header_bytes,
            tlog_proof=self.tlog_proof(header.height, checkpoint),
        )

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
