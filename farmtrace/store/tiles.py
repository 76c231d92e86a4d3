"""C2SP tlog-tiles of a chain, computed from the stored rows on first request; full tiles cached.

Two tiled logs per chain (docs/tiles.md):

* the **chain log**, whose entries are the block headers (entry *h* = header of block *h*) and
  whose size is the latest checkpoint's: :meth:`ChainTiles.log_tile`;
* each **block's batch**, a tree of ``header.size`` entries whose root is the header's ``root``:
  :meth:`ChainTiles.block_tile`. A sealed block never changes, so every one of its tiles,
  partial ones included, is immutable.

Tiles are derived data: nothing is written when a block is sealed. A tile is computed the first
time it is asked for (level 0 from the stored leaves, level L from the 256 full tiles below it,
each root by ``rust_core``), and a tile that can never change (a full tile, or any tile of a
block) is kept in a :class:`TileCache`: memory, and files in a directory when one is given.
A block's tiles are served only after its stored entries hash to the header's root
(:class:`ChainMismatchError` otherwise), so nothing that disagrees with what was sealed is cached.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from farmtrace.chain.block import BlockHeader
from farmtrace.rust_core import MerkleTree
from farmtrace.store.cache import LRU
from farmtrace.store.database import database_errors
from farmtrace.store.errors import ChainMismatchError, NotFoundError
from farmtrace.store.models import Base
from farmtrace.store.reader import ChainReader, batch_tree
from farmtrace.tlog.errors import TileError
from farmtrace.tlog.tiles import ENTRIES, TILE_WIDTH, TileRef, encode_bundle

__all__ = ["ChainTiles", "TileCache"]

BLOCKS = Base.metadata.tables["blocks"]

_HASH = 32


class TileCache:
    """Immutable tiles by key: an LRU of ``capacity`` tiles in memory, in front of files under
    ``directory`` when given (written once, atomically: temporary file, fsync, rename).

    The files are trusted as written; whoever can write the directory can alter what is served,
    which a mirror then refuses (it checks every tile against the signed checkpoint).
    """

    def __init__(self, directory: Path | None = None, capacity: int = 4096) -> None:
        self.directory = directory
        self.capacity = capacity
        self._memory: LRU[str, bytes] = LRU(capacity)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        found = self._memory.get(key)
        if found is None and self.directory is not None:
            try:
                found = (self.directory / key).read_bytes()
            except OSError:
                found = None
            if found is not None:
                self._memory.put(key, found)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def peek(self, key: str) -> bytes | None:
        """The tile if it is in memory (no file read: cheap enough for an event loop)."""
        found = self._memory.get(key)
        if found is not None:
            self.hits += 1
        return found

    def put(self, key: str, data: bytes) -> None:
        self._memory.put(key, data)
        if self.directory is None:
            return
        target = self.directory / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)


class ChainTiles:
    """The tiles of one chain, read through ``reader`` (see the module docstring).

    Every method raises :class:`NotFoundError` for a tile the chain does not have (beyond the
    latest checkpoint, beyond a block's size, an unknown block) and :class:`DatabaseError` when
    the database cannot be read. Safe to share between threads.
    """

    def __init__(self, reader: ChainReader, cache: TileCache, *, blocks: int = 64) -> None:
        self.reader = reader
        self.cache = cache
        self._prefix = hashlib.sha256(reader.origin.encode()).hexdigest()
        self._trees: LRU[int, tuple[MerkleTree, list[bytes]]] = LRU(blocks)
        self.gzipped: LRU[str, bytes] = LRU(cache.capacity)
        """Immutable entry bundles as the HTTP layer gzip-encoded them, by path."""

    # ---------------------------------------------------------------- the chain log

    def log_size(self, at_least: int = 0) -> int:
        """The chain log's size: the latest checkpoint's (re-read when below ``at_least``)."""
        latest = self.reader.latest_checkpoint()
        if latest is None or latest.size < at_least:
            latest = self.reader.latest_checkpoint(fresh=True)
        return 0 if latest is None else latest.size

    def cached_log_tile(self, ref: TileRef) -> bytes | None:
        """Full tile ``ref`` of the chain log if it is in memory, else ``None`` (no I/O)."""
        return self.cache.peek(f"{self._prefix}/log/{ref.path}") if ref.full else None

    def cached_block_tile(self, height: int, ref: TileRef) -> bytes | None:
        """Tile ``ref`` of block ``height`` if it is in memory, else ``None`` (no I/O)."""
        return self.cache.peek(f"{self._prefix}/block/{height}/{ref.path}")

    def log_tile(self, ref: TileRef) -> bytes:
        """Tile ``ref`` of the chain log (hashes of block headers, or a bundle of headers)."""
        needed = _leaves_needed(ref)
        size = self.log_size(needed)
        if needed > size:
            raise NotFoundError(
                f"{ref.path}: chain {self.reader.origin} has {size} blocks under its checkpoint"
            )
        key = f"{self._prefix}/log/{ref.path}"
        if ref.full:
            found = self.cache.get(key)
            if found is not None:
                return found
        data = self._compute_log(ref, needed)
        if ref.full:
            self.cache.put(key, data)
        return data

    def _compute_log(self, ref: TileRef, size: int) -> bytes:
        first = ref.index * TILE_WIDTH
        if ref.level == ENTRIES:
            return _bundle(self._headers(first, first + ref.width), ref)
        if ref.level == 0:  # this tile's headers only, not a tree of the whole log
            headers = self._headers(first, first + ref.width)
            return b"".join(hashlib.sha256(b"\x00" + h).digest() for h in headers)
        return _roots(self.log_tile(TileRef(ref.level - 1, first + i)) for i in range(ref.width))

    def _headers(self, start: int, end: int) -> list[bytes]:
        with database_errors("reading block headers"), self.reader.engine.connect() as conn:
            rows = conn.execute(
                select(BLOCKS.c.header)
                .where(
                    BLOCKS.c.chain_id == self.reader.chain_id,
                    BLOCKS.c.height >= start,
                    BLOCKS.c.height < end,
                )
                .order_by(BLOCKS.c.height)
            )
            headers = [bytes(h) for (h,) in rows]
        if len(headers) != end - start:
            raise ChainMismatchError(
                f"chain {self.reader.origin}: blocks {start}..{end - 1} are not all stored"
            )
        return headers

    # ---------------------------------------------------------------- one block's batch

    def block_tile(self, height: int, ref: TileRef) -> bytes:
        """Tile ``ref`` of block ``height``'s batch tree (entry hashes, or a bundle of its
        entries); every such tile is immutable once the block exists."""
        key = f"{self._prefix}/block/{height}/{ref.path}"
        found = self.cache.get(key)
        if found is not None:
            return found
        header, _ = self.reader.block(height)
        needed = _leaves_needed(ref)
        if needed > header.size:
            raise NotFoundError(f"{ref.path}: block {height} holds {header.size} entries")
        data = self._compute_block(header, ref)
        self.cache.put(key, data)
        return data

    def _compute_block(self, header: BlockHeader, ref: TileRef) -> bytes:
        first = ref.index * TILE_WIDTH
        if ref.level > 0:
            return _roots(
                self.block_tile(header.height, TileRef(ref.level - 1, first + i))
                for i in range(ref.width)
            )
        tree, payloads = self._batch(header)
        if ref.level == ENTRIES:
            return _bundle(payloads[first : first + ref.width], ref)
        return tree.leaf_hashes()[first * _HASH : (first + ref.width) * _HASH]

    def _batch(self, header: BlockHeader) -> tuple[MerkleTree, list[bytes]]:
        found = self._trees.get(header.height)
        if found is None:
            payloads = self.reader.block_payloads(header)
            tree = batch_tree(payloads)
            if tree.size != header.size or tree.root != header.root:
                raise ChainMismatchError(
                    f"the stored entries of block {header.height} of chain "
                    f"{self.reader.origin} do not match its sealed batch root"
                )
            found = (tree, payloads)
            self._trees.put(header.height, found)
        return found


def _leaves_needed(ref: TileRef) -> int:
    """How many leaves a tree needs for tile ``ref`` to exist."""
    return (ref.index * TILE_WIDTH + ref.width) << (8 * max(ref.level, 0))


def _roots(children: Iterable[bytes]) -> bytes:
    """The level-above hashes of full tiles: the root of each tile's 256 hashes."""
    return b"".join(MerkleTree.from_leaf_hash_buffer(child).root for child in children)


def _bundle(entries: list[bytes], ref: TileRef) -> bytes:
    try:
        return encode_bundle(entries)
    except TileError as exc:
        raise ChainMismatchError(f"{ref.path}: {exc}") from None
