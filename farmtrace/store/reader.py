"""Reading a chain back: entries, blocks, checkpoints and the proofs built from them.

:class:`ChainReader` never writes and needs no key; the API serves every proof through one
(``ChainReader.open(db_url, origin)`` or ``ChainReader(engine, chain_id, origin)``), and the
ledger uses one too. It is safe to share between threads.

A reading's inclusion proof in its block comes from the block's stored run roots and the
entries of the reading's run of 8 (``farmtrace.store.block_hashes``): three indexed reads, no
tree rebuilt, whatever the block's size. A block without stored run roots (sealed before
revision 0010), or whose run does not check against its sealed root, is proved from all its
entries as before. The block's place in the chain log comes from the log's stored tiles
(``farmtrace.store.log_tiles``, revision 0014), checked against the checkpoint's signed root;
only when they are missing or do not check is it proved from a tree of every block header
(:meth:`ChainReader.log_tree`, also the plain reference). Consistency proofs likewise.

Everything a proof is built from is append-only, so its caches never go stale: a block's header,
run roots and batch tree are fixed once the block exists (LRU by height), so is an entry with
its audit path once checked against the sealed root (LRU by index), the chain log's tree is
extended, never changed (a cached one can only be too short, and is then extended), and a
tlog-proof is fixed by ``(height, checkpoint size)``. A batch tree is cached only after its root
matched the block header's. The only moving part is which checkpoint is the latest; with
``checkpoint_ttl`` > 0 it is re-read at most that often, so a proof may be relative to a
checkpoint up to that old (still a valid, signed one).
"""

from __future__ import annotations

import threading
import time
from array import array
from itertools import accumulate
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.chain.block import BlockHeader
from farmtrace.rust_core import MerkleTree, verify_consistency, verify_inclusion
from farmtrace.store.block_hashes import RUN, run_proof
from farmtrace.store.cache import LRU
from farmtrace.store.database import Database, database_errors
from farmtrace.store.engine import create_db_engine, describe_url
from farmtrace.store.errors import ChainMismatchError, DatabaseError, NotFoundError
from farmtrace.store.log_tiles import MissingTile, StoredLog
from farmtrace.store.models import Base
from farmtrace.store.records import ReadingProof, StoredCheckpoint, StoredEntry
from farmtrace.store.witness_cosignatures import cosignature_lines
from farmtrace.tlog.checkpoint import Checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.proof import build_tlog_proof

__all__ = ["ChainReader", "batch_tree", "chain_id_of", "list_chains", "tree_at"]

CHAINS = Base.metadata.tables["chains"]
ENTRIES = Base.metadata.tables["entries"]
BLOCKS = Base.metadata.tables["blocks"]
CHECKPOINTS = Base.metadata.tables["checkpoints"]

_HASH = 32


def batch_tree(payloads: list[bytes]) -> MerkleTree:
    """The RFC 9162 tree over a batch's entries, through rust_core's packed-buffer fast path."""
    offsets = array("Q", accumulate(map(len, payloads), initial=0))
    return MerkleTree.from_buffer(b"".join(payloads), offsets)


def tree_at(tree: MerkleTree, size: int) -> MerkleTree:
    """The tree of the first ``size`` leaves of ``tree`` (``tree`` itself at its own size).

    The one place a tree is rebuilt at an earlier size, for proofs relative to an older
    checkpoint. Requires ``0 <= size <= tree.size`` (``ValueError`` otherwise).
    """
    if size == tree.size:
        return tree
    if not 0 <= size < tree.size:
        raise ValueError(f"no tree of size {size} inside a tree of {tree.size} leaves")
    return MerkleTree.from_leaf_hash_buffer(tree.leaf_hashes()[: size * _HASH])


def list_chains(engine: Engine) -> list[tuple[int, str]]:
    """Every chain in the database as ``(chain_id, origin)``, by ID."""
    with database_errors("listing the chains"), engine.connect() as conn:
        rows = conn.execute(select(CHAINS.c.id, CHAINS.c.origin).order_by(CHAINS.c.id))
        return [(row.id, row.origin) for row in rows]


def chains_in(database: Database) -> list[tuple[int, str]]:
    """:func:`list_chains` of an open :class:`Database` (for code outside the store)."""
    return list_chains(database.engine)


def chain_id_of(engine: Engine, origin: str) -> int:
    """The ID of the chain ``origin``; raise :class:`NotFoundError` if there is none."""
    with database_errors(f"finding chain {origin!r}"), engine.connect() as conn:
        found = conn.execute(select(CHAINS.c.id).where(CHAINS.c.origin == origin)).scalar()
    if found is None:
        raise NotFoundError(f"no chain with origin {origin!r} in the database")
    return int(found)


class ChainReader:
    """Read access to one chain (one origin) of the database.

    A database failure is raised as :class:`DatabaseError`, never as a SQLAlchemy error.

    ``batch_trees`` is how many blocks' batch trees are cached (headers and tlog-proofs: four
    times as many); ``checkpoint_ttl`` is how long, in seconds, :meth:`latest_checkpoint` may
    answer a checkpoint it read before (0: always read it). ``stored_hashes=False`` ignores the
    blocks' stored run roots and proves every entry from its whole block (the path of blocks
    that have none; benchmarks compare the two).
    """

    def __init__(
        self,
        engine: Engine,
        chain_id: int,
        origin: str,
        *,
        batch_trees: int = 64,
        checkpoint_ttl: float = 0.0,
        stored_hashes: bool = True,
    ) -> None:
        self.engine = engine
        self.stored_hashes = stored_hashes
        self.chain_id = chain_id
        self.origin = origin
        self._lock = threading.Lock()
        self._log_hashes = b""
        self._log_tree: MerkleTree | None = None
        self._trees: LRU[int, MerkleTree] = LRU(batch_trees)
        self._headers: LRU[int, tuple[BlockHeader, bytes]] = LRU(batch_trees * 4)
        self._tlog: LRU[tuple[int, int, int], str] = LRU(batch_trees * 4)
        self._runs: LRU[int, bytes] = LRU(batch_trees * 4)  # b"": the block has none stored
        # An entry with its audit path in its block, once checked against the sealed root: a
        # bundle proves the same anchored entries again and again.
        self._proved: LRU[int, tuple[StoredEntry, tuple[bytes, ...]]] = LRU(batch_trees * 4)
        self._building: dict[int, threading.Lock] = {}
        self._building_lock = threading.Lock()
        self._ttl = checkpoint_ttl
        self._latest: tuple[float, StoredCheckpoint | None] = (-1e18, None)
        self._owns_engine = False
        # Driver-level SQL for the hot path (an entry by index): no statement building per call.
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._entry_sql = (
            "SELECT block_height, index_in_block, kind, device_id, seq, timestamp_ms, "
            f"received_at, payload FROM entries WHERE chain_id = {mark} AND global_index = {mark}"
        )
        self._block_sql = (
            "SELECT b.header, h.hashes FROM blocks AS b LEFT JOIN block_hashes AS h "
            "ON h.chain_id = b.chain_id AND h.height = b.height "
            f"WHERE b.chain_id = {mark} AND b.height = {mark}"
        )
        self._tile_sql = (
            "SELECT hashes FROM log_tiles "
            f"WHERE chain_id = {mark} AND level = {mark} AND tile_index = {mark}"
        )
        self._headers_sql = (
            f"SELECT header FROM blocks WHERE chain_id = {mark} AND height >= {mark} "
            f"AND height < {mark} ORDER BY height"
        )
        self._roots: LRU[tuple[int, int], bytes] = LRU(64)  # a checkpoint's root, by note
        self._stored_log = StoredLog(
            self._log_tile_row, self._header_rows, capacity=max(batch_trees * 4, 64)
        )
        # The entry's run (the aligned RUN entries of its block that hold it), found through
        # the entry's own row: one read of at most RUN rows gives both the entry and its run.
        self._run_sql = (
            "SELECT e.global_index, e.block_height, e.index_in_block, e.kind, e.device_id, "
            "e.seq, e.timestamp_ms, e.received_at, e.payload FROM "
            # (i / RUN) * RUN: integer division on both backends; "%" is psycopg's mark
            "(SELECT block_height AS height, "
            f"global_index - index_in_block + (index_in_block / {RUN}) * {RUN} AS first "
            f"FROM entries WHERE chain_id = {mark} AND global_index = {mark}) AS r "
            f"JOIN entries AS e ON e.chain_id = {mark} AND e.global_index >= r.first "
            f"AND e.global_index < r.first + {RUN} AND e.block_height = r.height "
            "ORDER BY e.global_index"
        )

    @classmethod
    def over(
        cls,
        database: Database,
        chain_id: int,
        origin: str,
        *,
        batch_trees: int = 64,
        checkpoint_ttl: float = 0.0,
    ) -> ChainReader:
        """A reader of chain ``chain_id`` on an open :class:`Database`, which the caller keeps
        (and closes)."""
        return cls(
            database.engine,
            chain_id,
            origin,
            batch_trees=batch_trees,
            checkpoint_ttl=checkpoint_ttl,
        )

    @classmethod
    def open(
        cls,
        db_url: str,
        origin: str,
        *,
        checkpoint_ttl: float = 0.0,
        batch_trees: int = 64,
        stored_hashes: bool = True,
    ) -> ChainReader:
        """A reader of chain ``origin`` in the database at ``db_url`` (which must exist)."""
        engine = create_db_engine(db_url)
        try:
            reader = cls(
                engine,
                chain_id_of(engine, origin),
                origin,
                batch_trees=batch_trees,
                checkpoint_ttl=checkpoint_ttl,
                stored_hashes=stored_hashes,
            )
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
        """The entry at ``global_index``; :class:`NotFoundError` if not stored,
        :class:`DatabaseError` if the database cannot be read.

        The API's hot path: a pooled driver connection and one prepared query, with none of
        SQLAlchemy's per-statement work.
        """
        rows = self._raw(self._entry_sql, (self.chain_id, global_index), f"entry {global_index}")
        if not rows:
            raise NotFoundError(f"no entry {global_index} in chain {self.origin}")
        return self._stored_entry(global_index, rows[0])

    def _stored_entry(self, global_index: int, row: tuple[Any, ...]) -> StoredEntry:
        height, position, kind, device, seq, ts, received, payload = row
        return StoredEntry(
            origin=self.origin,
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

    def block(self, height: int) -> tuple[BlockHeader, bytes]:
        """The parsed header of block ``height`` and its stored bytes (cached);
        :class:`NotFoundError` if there is no such block."""
        found = self._headers.get(height)
        if found is not None:
            return found
        return self._read_block(height)[0]

    def _read_block(self, height: int) -> tuple[tuple[BlockHeader, bytes], bytes]:
        """Block ``height``'s header (parsed and stored bytes) and stored run roots (``b""``
        when it has none), read in one query and cached."""
        rows = self._raw(self._block_sql, (self.chain_id, height), f"block {height}")
        if not rows:
            raise NotFoundError(f"no block {height} in chain {self.origin}")
        header, runs = bytes(rows[0][0]), b"" if rows[0][1] is None else bytes(rows[0][1])
        found = BlockHeader.parse(header), header
        self._headers.put(height, found)
        self._runs.put(height, runs)
        return found, runs

    def _raw(self, sql: str, params: tuple[int, ...], what: str) -> list[tuple[Any, ...]]:
        """The rows of one read on a pooled driver connection: the hot path, with none of
        SQLAlchemy's per-statement work. :class:`DatabaseError` if it cannot be read."""
        try:
            conn = self.engine.raw_connection()
        except Exception as exc:
            raise DatabaseError(f"cannot read {what}: {type(exc).__name__}") from None
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            rows = [tuple(row) for row in cursor.fetchall()]
            cursor.close()
        except Exception as exc:
            conn.invalidate()
            raise DatabaseError(f"cannot read {what}: {type(exc).__name__}") from None
        finally:
            conn.close()  # back to the pool, which ends the read's transaction
        return rows

    def block_payloads(self, header: BlockHeader) -> list[bytes]:
        """The entries of one block, in batch order."""
        last = header.first_index + header.size - 1
        with database_errors(f"reading block {header.height}"), self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRIES.c.payload)
                .where(
                    ENTRIES.c.chain_id == self.chain_id,
                    ENTRIES.c.global_index.between(header.first_index, last),
                )
                .order_by(ENTRIES.c.global_index)
            )
            return [bytes(payload) for (payload,) in rows]

    def latest_checkpoint(self, *, fresh: bool = False) -> StoredCheckpoint | None:
        """The chain's newest stored checkpoint, or ``None`` before its first block.

        Unless ``fresh``, it may be one read up to ``checkpoint_ttl`` seconds ago.
        """
        at, latest = self._latest
        now = time.monotonic()
        if fresh or latest is None or now - at >= self._ttl:
            latest = self._checkpoint(None)
            self._latest = (now, latest)
        return latest

    def checkpoint(self, size: int) -> StoredCheckpoint:
        """The stored checkpoint of chain-log size ``size``."""
        found = self._checkpoint(size)
        if found is None:
            raise NotFoundError(f"no checkpoint of size {size} in chain {self.origin}")
        return found

    def log_tree(self, size: int) -> MerkleTree:
        """A tree over the first ``size`` or more block hashes (the chain log), cached.

        Extended to ``size`` exactly, not to every stored block: a proof at the checkpoint of
        that size then needs no tree cut back to it (:func:`tree_at` rebuilds the whole log).
        """
        with self._lock:
            tree = self._log_tree
            if tree is None or tree.size < size:
                known = len(self._log_hashes) // _HASH
                with database_errors("reading the chain log"), self.engine.connect() as conn:
                    headers = [
                        bytes(h)
                        for (h,) in conn.execute(
                            select(BLOCKS.c.header)
                            .where(
                                BLOCKS.c.chain_id == self.chain_id,
                                BLOCKS.c.height >= known,
                                BLOCKS.c.height < size,
                            )
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
        proof = self._stored_consistency(old_size, new_size)
        if proof is not None:
            return proof
        return tree_at(self.log_tree(new_size), new_size).consistency_proof(old_size)

    def _stored_consistency(self, old_size: int, new_size: int) -> list[bytes] | None:
        """The consistency proof from the chain log's stored tiles, only if it checks against
        the two stored checkpoints' roots; ``None`` otherwise (the caller uses the whole log)."""
        if not self.stored_hashes:
            return None
        try:
            roots = [self._checkpoint_root(self.checkpoint(n)) for n in (old_size, new_size)]
            proof = self._stored_log.consistency_proof(old_size, new_size)
        except (MissingTile, TlogError, DatabaseError, NotFoundError):
            return None
        if not verify_consistency(old_size, new_size, proof, roots[0], roots[1]):
            return None
        return proof

    def _checkpoint_root(self, checkpoint: StoredCheckpoint) -> bytes:
        """The signed root of ``checkpoint`` (kept by size and note length)."""
        note_key = (checkpoint.size, len(checkpoint.note))
        root = self._roots.get(note_key)
        if root is None:
            root = Checkpoint.parse(checkpoint.note.split("\n\n", 1)[0] + "\n").root
            self._roots.put(note_key, root)
        return root

    def tlog_proof(self, height: int, checkpoint: StoredCheckpoint) -> str:
        """The C2SP tlog-proof of block ``height`` in the chain log at ``checkpoint`` (cached).

        The audit path comes from the chain log's stored tiles when they are there and it
        checks against the checkpoint's root; else from the whole log (:meth:`log_tree`, the
        plain reference). Requires ``height < checkpoint.size``.
        """
        key = (height, checkpoint.size, len(checkpoint.note))  # cosignatures lengthen the note
        text = self._tlog.get(key)
        if text is None:
            path = self._stored_log_path(height, checkpoint)
            if path is None:
                log = tree_at(self.log_tree(checkpoint.size), checkpoint.size)
                path = log.inclusion_proof(height)
            text = build_tlog_proof(height, path, checkpoint.note)
            self._tlog.put(key, text)
        return text

    def _stored_log_path(self, height: int, checkpoint: StoredCheckpoint) -> list[bytes] | None:
        """Block ``height``'s audit path in the chain log at ``checkpoint`` from the stored
        tiles (``farmtrace.store.log_tiles``), only if it proves the block's header against the
        checkpoint's signed root; ``None`` otherwise (a tile missing or not matching, or
        ``stored_hashes=False``): the caller proves from the whole log instead."""
        if not self.stored_hashes:
            return None
        try:
            root = self._checkpoint_root(checkpoint)
            path = self._stored_log.inclusion_proof(height, checkpoint.size)
        except (MissingTile, TlogError, DatabaseError):
            return None
        leaf = self.block(height)[0].hash()
        if not verify_inclusion(leaf, height, checkpoint.size, path, root):
            return None
        return path

    def _log_tile_row(self, level: int, index: int) -> bytes | None:
        rows = self._raw(
            self._tile_sql, (self.chain_id, level, index), f"chain log tile {level}/{index}"
        )
        return bytes(rows[0][0]) if rows else None

    def _header_rows(self, start: int, end: int) -> list[bytes]:
        rows = self._raw(self._headers_sql, (self.chain_id, start, end), "block headers")
        return [bytes(row[0]) for row in rows]

    def reading_proof(
        self, global_index: int, at: StoredCheckpoint | None = None, *, check_root: bool = True
    ) -> ReadingProof:
        """The entry at ``global_index`` and its proof relative to checkpoint ``at`` (default:
        the latest, see :meth:`latest_checkpoint`).

        :class:`NotFoundError` if the entry is not stored or not covered by the checkpoint.
        With ``check_root``, the batch tree rebuilt from the stored entries must have the
        block header's size and root, else :class:`ChainMismatchError` (the store no longer
        matches what was sealed: no proof is served). ``check_root=False`` serves a proof of
        what is stored even then, for a verifier that is to judge the stored rows itself.
        """
        proved = self._proved.get(global_index)
        run: list[bytes] = []
        if proved is None:
            entry, run = self._entry_and_run(global_index)
        else:
            entry = proved[0]
        checkpoint = at or self.latest_checkpoint()
        if at is None and (checkpoint is None or entry.block_height >= checkpoint.size):
            checkpoint = self.latest_checkpoint(fresh=True)  # the cached one may be too old
        if checkpoint is None or entry.block_height >= checkpoint.size:
            raise NotFoundError(f"entry {global_index} is not yet covered by a checkpoint")
        header, header_bytes = self.block(entry.block_height)
        if proved is None:
            path = self._stored_path(entry, run, header)  # checked when found
            checked = path is not None
            if path is None:
                tree = self._batch_tree(header, check_root)
                path = tree.inclusion_proof(entry.index_in_block)
                checked = self._trees.get(header.height) is tree  # kept only once checked
            if checked:
                self._proved.put(global_index, (entry, tuple(path)))
        else:
            path = list(proved[1])
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(path),
            block=header,
            block_bytes=header_bytes,
            tlog_proof=self.tlog_proof(header.height, checkpoint),
        )

    def _entry_and_run(self, global_index: int) -> tuple[StoredEntry, list[bytes]]:
        """The entry at ``global_index`` and the payloads of its run of ``RUN`` entries in its
        block, in one indexed read; :class:`NotFoundError` if the entry is not stored."""
        rows = self._raw(
            self._run_sql, (self.chain_id, global_index, self.chain_id), f"entry {global_index}"
        )
        found = next((row for row in rows if row[0] == global_index), None)
        if found is None:
            raise NotFoundError(f"no entry {global_index} in chain {self.origin}")
        entry = self._stored_entry(global_index, found[1:])
        run = entry.index_in_block // RUN
        return entry, [
            bytes(row[8]) for row in rows if row[1] == entry.block_height and row[2] // RUN == run
        ]

    def _stored_path(
        self, entry: StoredEntry, run: list[bytes], header: BlockHeader
    ) -> list[bytes] | None:
        """``entry``'s audit path in its block from a cached checked batch tree, or from the
        block's stored run roots and ``run`` (its run's payloads) when those check against
        the sealed root; ``None`` when only the whole block can prove it (no stored run
        roots, or they or the run do not check: :meth:`_batch_tree` names a mismatch)."""
        tree = self._trees.get(header.height)
        if tree is not None:
            return tree.inclusion_proof(entry.index_in_block)
        if not self.stored_hashes:
            return None
        runs = self._runs.get(header.height)
        if runs is None:
            runs = self._read_block(header.height)[1]
        if not runs:
            return None
        return run_proof(entry.index_in_block, header.size, header.root, run, runs)

    def cached_proof(self, global_index: int) -> ReadingProof | None:
        """:meth:`reading_proof` relative to the latest checkpoint when it takes nothing but
        indexed reads (cheap enough for an event loop): the checkpoint is cached, the chain
        log is loaded, and the block's batch tree is cached or its run roots are stored.
        Else ``None``; :class:`NotFoundError` if the entry is not stored."""
        entry, run = self._entry_and_run(global_index)
        at, checkpoint = self._latest
        if checkpoint is None or time.monotonic() - at >= self._ttl:
            return None
        if entry.block_height >= checkpoint.size:
            return None
        height = entry.block_height
        key = (height, checkpoint.size, len(checkpoint.note))
        tlog = self._tlog.get(key)
        if tlog is None:
            path = self._stored_log_path(height, checkpoint)  # indexed reads only
            if path is None:
                log = self._log_tree
                if log is None or log.size != checkpoint.size:
                    return None  # loading or cutting the chain log's tree is no work for a loop
                path = log.inclusion_proof(height)
            tlog = build_tlog_proof(height, path, checkpoint.note)
            self._tlog.put(key, tlog)
        header = self._headers.get(height)
        if header is None:
            header = self._read_block(height)[0]
        path = self._stored_path(entry, run, header[0])
        if path is None:
            return None
        return ReadingProof(
            entry=entry,
            inclusion_proof=tuple(path),
            block=header[0],
            block_bytes=header[1],
            tlog_proof=tlog,
        )

    def _batch_tree(self, header: BlockHeader, check_root: bool) -> MerkleTree:
        tree = self._trees.get(header.height)
        if tree is not None:
            return tree
        # One builder per block: concurrent requests for a cold block wait for the first.
        with self._building_lock:
            lock = self._building.setdefault(header.height, threading.Lock())
        try:
            with lock:
                tree = self._trees.get(header.height)
                if tree is None:
                    tree = batch_tree(self.block_payloads(header))
                    if tree.size == header.size and tree.root == header.root:
                        self._trees.put(header.height, tree)
                    elif check_root:
                        raise ChainMismatchError(
                            f"the stored entries of block {header.height} of chain "
                            f"{self.origin} do not match its sealed batch root"
                        )
                    # else: served as stored (a verifier sees the mismatch), never cached
        finally:
            with self._building_lock:
                self._building.pop(header.height, None)
        return tree

    def _checkpoint(self, size: int | None) -> StoredCheckpoint | None:
        query = select(CHECKPOINTS).where(CHECKPOINTS.c.chain_id == self.chain_id)
        if size is None:
            query = query.order_by(CHECKPOINTS.c.size.desc()).limit(1)
        else:
            query = query.where(CHECKPOINTS.c.size == size)
        with database_errors("reading a checkpoint"), self.engine.connect() as conn:
            row = conn.execute(query).first()
            # Witness cosignatures ride on the note (c2sp.org/tlog-cosignature): a cosigned
            # checkpoint, which verifiers that know no witness read as the plain one.
            lines = [] if row is None else cosignature_lines(conn, self.chain_id, row.size)
        if row is None:
            return None
        return StoredCheckpoint(self.origin, row.size, row.note + "".join(lines), row.signed_at)

    def entry_count(self) -> int:
        """The number of entries stored for this chain (the next global index)."""
        with database_errors("counting entries"), self.engine.connect() as conn:
            top = conn.execute(
                select(func.max(ENTRIES.c.global_index)).where(ENTRIES.c.chain_id == self.chain_id)
            ).scalar()
        return 0 if top is None else int(top) + 1
