"""Reading a chain back: entries, blocks, checkpoints and the proofs built from them.

:class:`ChainReader` never writes and needs no key, so the API can use it on its own
(``ChainReader.open(db_url, origin)``); the ledger uses one too. It is safe to share between
threads. Trees are built with ``rust_core``; the chain log's tree and recently used batch
trees are cached (the rows they are built from are append-only, so a cache entry never goes
stale: it can only be too short, and is then rebuilt).
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from itertools import accumulate

from sqlalchemy import Engine, Row, func, select
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.chain.block import BlockHeader
from farmtrace.rust_core import MerkleTree
from farmtrace.store.engine import create_db_engine, describe_url
from farmtrace.store.errors import DatabaseError, NotFoundError
from farmtrace.store.models import Base
from farmtrace.store.records import ReadingProof, StoredCheckpoint, StoredEntry
from farmtrace.tlog.proof import build_tlog_proof

__all__ = ["ChainReader", "batch_tree", "chain_id_of", "list_chains"]

CHAINS = Base.metadata.tables["chains"]
ENTRIES = Base.metadata.tables["entries"]
BLOCKS = Base.metadata.tables["blocks"]
CHECKPOINTS = Base.metadata.tables["checkpoints"]

_BATCH_TREE_CACHE = 64


def batch_tree(payloads: list[bytes]) -> MerkleTree:
    """The RFC 9162 tree over a batch's entries, through rust_core's packed-buffer fast path."""
    offsets = array("Q", accumulate(map(len, payloads), initial=0))
    return MerkleTree.from_buffer(b"".join(payloads), offsets)


def list_chains(engine: Engine) -> list[tuple[int, str]]:
    """Every chain in the database as ``(chain_id, origin)``, by ID."""
    with engine.connect() as conn:
        rows = conn.execute(select(CHAINS.c.id, CHAINS.c.origin).order_by(CHAINS.c.id))
        return [(row.id, row.origin) for row in rows]


def chain_id_of(engine: Engine, origin: str) -> int:
    """The ID of the chain ``origin``; raise :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        found = conn.execute(select(CHAINS.c.id).where(CHAINS.c.origin == origin)).scalar()
    if found is None:
        raise NotFoundError(f"no chain with origin {origin!r} in the database")
    return int(found)


class ChainReader:
    """Read access to one chain (one origin) of the database."""

    def __init__(self, engine: Engine, chain_id: int, origin: str) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self.origin = origin
        self._lock = threading.Lock()
        self._log_hashes = b""
        self._log_tree: MerkleTree | None = None
        self._batch_trees: OrderedDict[int, MerkleTree] = OrderedDict()
        self._owns_engine = False

    @classmethod
    def open(cls, db_url: str, origin: str) -> ChainReader:
        """A reader of chain ``origin`` in the database at ``db_url`` (which must exist)."""
        engine = create_db_engine(db_url)
        try:
            reader = cls(engine, chain_id_of(engine, origin), origin)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise DatabaseError(f"cannot read {describe_url(db_url)}: {exc}") from None
        except BaseException:
            engine.dispose()
            raise
        reader._owns_engine = True
        return reader

    def close(self) -> None:
        """Release the database connections of a reader made by :meth:`open`."""
        if self._owns_engine:
            self.engine.dispose()

    def entry(self, global_index: int) -> StoredEntry:
        """The entry at ``global_index``; raise :class:`NotFoundError` if not stored."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ENTRIES).where(
                    ENTRIES.c.chain_id == self.chain_id, ENTRIES.c.global_index == global_index
                )
            ).first()
        if row is None:
            raise NotFoundError(f"no entry {global_index} in chain {self.origin}")
        return self._entry(row)

    def block(self, height: int) -> tuple[BlockHeader, bytes]:
        """The parsed header of block ``height`` and its stored bytes."""
        with self.engine.connect() as conn:
            header = conn.execute(
                select(BLOCKS.c.header).where(
                    BLOCKS.c.chain_id == self.chain_id, BLOCKS.c.height == height
                )
            ).scalar()
        if header is None:
            raise NotFoundError(f"no block {height} in chain {self.origin}")
        return BlockHeader.parse(bytes(header)), bytes(header)

    def block_payloads(self, header: BlockHeader) -> list[bytes]:
        """The entries of one block, in batch order."""
        last = header.first_index + header.size - 1
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRIES.c.payload)
                .where(
                    ENTRIES.c.chain_id == self.chain_id,
                    ENTRIES.c.global_index.between(header.first_index, last),
                )
                .order_by(ENTRIES.c.global_index)
            )
            return [bytes(payload) for (payload,) in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The chain's newest stored checkpoint, or ``None`` before its first block."""
        return self._checkpoint(None)

    def checkpoint(self, size: int) -> StoredCheckpoint:
        """The stored checkpoint of chain-log size ``size``."""
        found = self._checkpoint(size)
        if found is None:
            raise NotFoundError(f"no checkpoint of size {size} in chain {self.origin}")
        return found

    def log_tree(self, size: int) -> MerkleTree:
        """A tree over the first ``size`` or more block hashes (the chain log), cached."""
        with self._lock:
            tree = self._log_tree
            if tree is None or tree.size < size:
                known = len(self._log_hashes) // 32
                with self.engine.connect() as conn:
                    headers = [
                        bytes(h)
                        for (h,) in conn.execute(
                            select(BLOCKS.c.header)
                            .where(BLOCKS.c.chain_id == self.chain_id, BLOCKS.c.height >= known)
                            .order_by(BLOCKS.c.height)
                        )
                    ]
                self._log_hashes += MerkleTree.from_entries(headers).leaf_hashes()
                tree = self._log_tree = MerkleTree.from_leaf_hash_buffer(self._log_hashes)
            if tree.size < size:
                raise NotFoundError(f"chain {self.origin} has {tree.size} blocks, not {size}")
            return tree

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes of the chain log.

        Requires ``1 <= old_size <= new_size <= size of the log`` (:class:`NotFoundError`
        otherwise); equal sizes give an empty proof.
        """
        if not 1 <= old_size <= new_size:
            raise NotFoundError(
                f"no consistency proof from size {old_size} to {new_size}: need 1 <= from <= to"
            )
        tree = self.log_tree(new_size)
        if tree.size != new_size:
            tree = MerkleTree.from_leaf_hash_buffer(tree.leaf_hashes()[: new_size * 32])
        return tree.consistency_proof(old_size)

    def reading_proof(self, global_index: int) -> ReadingProof:
        """The entry at ``global_index`` and its proof relative to the latest checkpoint."""
        entry = self.entry(global_index)
        checkpoint = self.latest_checkpoint()
        if checkpoint is None or entry.block_height >= checkpoint.size:
            raise NotFoundError(f"entry {global_index} is not yet covered by a checkpoint")
        header, header_bytes = self.block(entry.block_height)
        tree = self._batch_tree(header)
        log = self.log_tree(checkpoint.size)
        hashes = log_inclusion(log, entry.block_height, checkpoint.size)
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(tree.inclusion_proof(entry.index_in_block)),
            block=header,
            block_bytes=header_bytes,
            tlog_proof=build_tlog_proof(entry.block_height, hashes, checkpoint.note),
        )

    def _batch_tree(self, header: BlockHeader) -> MerkleTree:
        with self._lock:
            cached = self._batch_trees.get(header.height)
            if cached is not None:
                self._batch_trees.move_to_end(header.height)
                return cached
        tree = batch_tree(self.block_payloads(header))
        with self._lock:
            self._batch_trees[header.height] = tree
            while len(self._batch_trees) > _BATCH_TREE_CACHE:
                self._batch_trees.popitem(last=False)
        return tree

    def _checkpoint(self, size: int | None) -> StoredCheckpoint | None:
        query = select(CHECKPOINTS).where(CHECKPOINTS.c.chain_id == self.chain_id)
        if size is None:
            query = query.order_by(CHECKPOINTS.c.size.desc()).limit(1)
        else:
            query = query.where(CHECKPOINTS.c.size == size)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return StoredCheckpoint(self.origin, row.size, row.note, row.signed_at)

    def entry_count(self) -> int:
        """The number of entries stored for this chain (the next global index)."""
        with self.engine.connect() as conn:
            top = conn.execute(
                select(func.max(ENTRIES.c.global_index)).where(ENTRIES.c.chain_id == self.chain_id)
            ).scalar()
        return 0 if top is None else int(top) + 1

    def _entry(self, row: Row[tuple[object, ...]]) -> StoredEntry:
        m = row._mapping
        return StoredEntry(
            origin=self.origin,
            global_index=int(m["global_index"]),
            block_height=int(m["block_height"]),
            index_in_block=int(m["index_in_block"]),
            kind=str(m["kind"]),
            device_id=m["device_id"],
            seq=m["seq"],
            timestamp_ms=m["timestamp_ms"],
            received_at=float(m["received_at"]),
            payload=bytes(m["payload"]),
        )


def log_inclusion(tree: MerkleTree, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the first ``size`` leaves of ``tree``."""
    if size == tree.size:
        return tree.inclusion_proof(index)
    return MerkleTree.from_leaf_hash_buffer(tree.leaf_hashes()[: size * 32]).inclusion_proof(index)
