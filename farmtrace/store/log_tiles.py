"""The chain log's stored hashes (``log_tiles``, revision 0014) and inclusion proofs from them.

The chain log is the RFC 9162 tree over the block headers. Its full c2sp.org/tlog-tiles are
stored when the block that fills them is sealed (:func:`insert_full_tiles`, in the sealing
transaction): the tile at level L, index i, holds the 256 hashes of the nodes at height 8·L
with indices 256·i … 256·i + 255. :class:`StoredLog` proves a block's place in the log of any
size from them: every node a proof needs is an aligned perfect subtree inside one stored tile,
or lies on the log's right edge, whose few hashes (at most 255 a level, from the headers of the
last blocks and the roots of the last full tiles) are computed once and kept by the exact range
they cover (the hash of a range of leaves never changes as the log grows).

A missing tile (a database whose blocks were lost and re-sealed, say) raises
:class:`MissingTile`; the caller then proves from the whole log (``ChainReader.log_tree``, the
plain reference) and, either way, checks what it serves against the signed checkpoint's root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import Connection, insert, select

from farmtrace.rust_core import MerkleTree, node_hash
from farmtrace.store.cache import LRU
from farmtrace.store.models import Base

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "MissingTile", "StoredLog", "insert_full_tiles"]

LOG_TILES = Base.metadata.tables["log_tiles"]
BLOCKS = Base.metadata.tables["blocks"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_HASH = 32


class MissingTile(LookupError):
    """A full tile the proof needs is not stored."""


def _leaf(header: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + header).digest()


def _root(hashes: bytes) -> bytes:
    """RFC 9162 root over node hashes given back to back."""
    if len(hashes) == _HASH:
        return hashes
    return MerkleTree.from_leaf_hash_buffer(hashes, threads=1).root


def insert_full_tiles(conn: Connection, chain_id: int, size: int) -> None:
    """Store the tiles the chain log's ``size``-th block fills, in the caller's transaction
    (after that block's row): the level-0 tile when ``size`` is a multiple of 256, the level-1
    tile when it is a multiple of 256², and so on. Each is computed from rows already there
    (the tile's 256 headers, or the 256 full tiles a level below). A tile already stored (a
    chain re-sealed after lost blocks) is left as it is: proofs check it against the signed
    checkpoint, and fall back to the whole log if it disagrees."""
    level, span = 0, TILE_WIDTH
    while size > 0 and size % span == 0:
        index = size // span - 1
        first = index * TILE_WIDTH
        if level == 0:
            rows = conn.execute(
                select(BLOCKS.c.header)
                .where(
                    BLOCKS.c.chain_id == chain_id,
                    BLOCKS.c.height >= first,
                    BLOCKS.c.height < first + TILE_WIDTH,
                )
                .order_by(BLOCKS.c.height)
            ).all()
            hashes = [_leaf(bytes(h)) for (h,) in rows]
        else:
            rows = conn.execute(
                select(LOG_TILES.c.hashes)
                .where(
                    LOG_TILES.c.chain_id == chain_id,
                    LOG_TILES.c.level == level - 1,
                    LOG_TILES.c.tile_index >= first,
                    LOG_TILES.c.tile_index < first + TILE_WIDTH,
                )
                .order_by(LOG_TILES.c.tile_index)
            ).all()
            hashes = [_root(bytes(h)) for (h,) in rows]
        if len(hashes) != TILE_WIDTH:
            return  # the rows below are not all there: proofs fall back to the whole log
        exists = conn.execute(
            select(LOG_TILES.c.level).where(
                LOG_TILES.c.chain_id == chain_id,
                LOG_TILES.c.level == level,
                LOG_TILES.c.tile_index == index,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(LOG_TILES),
                {
                    "chain_id": chain_id,
                    "level": level,
                    "tile_index": index,
                    "hashes": b"".join(hashes),
                },
            )
        level, span = level + 1, span * TILE_WIDTH


TileReader = Callable[[int, int], bytes | None]
"""``(level, index)`` → the stored full tile's hashes, or ``None`` when it is not stored."""

HeaderReader = Callable[[int, int], list[bytes]]
"""``(start, end)`` → the headers of blocks ``start`` … ``end - 1``, in order."""


class StoredLog:
    """Inclusion proofs in the chain log from its stored tiles (see the module docstring).

    ``read_tile`` and ``read_headers`` read the database; what they return for full tiles and
    complete ranges is immutable, so it is cached (``capacity`` entries each). Safe to share
    between threads (the caches are locked; two threads may compute the same hash twice).
    """

    def __init__(
        self, read_tile: TileReader, read_headers: HeaderReader, *, capacity: int = 8192
    ) -> None:
        self._read_tile = read_tile
        self._read_headers = read_headers
        self._tiles: LRU[tuple[int, int], MerkleTree] = LRU(capacity)
        self._ranges: LRU[tuple[int, int], bytes] = LRU(capacity)
        # The top of a perfect subtree on the right edge, by (level, first node, nodes): the
        # same for every leaf under it.
        self._tops: LRU[tuple[int, int, int], MerkleTree] = LRU(capacity)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 audit path of leaf ``index`` in the log of ``size`` leaves, leaf level
        first. Requires ``0 <= index < size`` (``ValueError``); :class:`MissingTile` when a
        full tile it needs is not stored."""
        if not 0 <= index < size:
            raise ValueError(f"no leaf {index} in a log of {size} leaves")
        above: list[bytes] = []  # siblings from the top down
        start, end = 0, size
        while True:
            width = end - start
            if width & (width - 1) == 0 and start % width == 0:
                return self._perfect_path(index, width.bit_length() - 1) + above[::-1]
            split = 1 << ((width - 1).bit_length() - 1)
            if index < start + split:
                above.append(self._range(start + split, end))
                end = start + split
            else:
                above.append(self._range(start, start + split))
                start += split

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from the log of ``old_size`` leaves to the log of
        ``new_size`` (section 2.1.4.1's SUBPROOF, every node a kept range hash). Requires
        ``1 <= old_size <= new_size`` (``ValueError``); equal sizes give an empty proof;
        :class:`MissingTile` when a full tile it needs is not stored."""
        if not 1 <= old_size <= new_size:
            raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
        proof: list[bytes] = []  # from the top down
        start, end, whole = 0, new_size, True
        while old_size != end:
            split = 1 << ((end - start - 1).bit_length() - 1)
            if old_size <= start + split:
                proof.append(self._range(start + split, end))
                end = start + split
            else:
                proof.append(self._range(start, start + split))
                start, whole = start + split, False
        if not whole:
            proof.append(self._range(start, end))
        return proof[::-1]

    def _perfect_path(self, index: int, height: int) -> list[bytes]:
        """The audit path of leaf ``index`` inside the aligned perfect subtree of ``2**height``
        leaves that holds it: from the stored tile of each level it crosses."""
        path: list[bytes] = []
        level = 0
        while level * TILE_HEIGHT < height:
            node = index >> (level * TILE_HEIGHT)  # the leaf's ancestor at height 8·level
            rise = min(TILE_HEIGHT, height - level * TILE_HEIGHT)
            if rise == TILE_HEIGHT:
                tree = self._tile_tree(level, node >> TILE_HEIGHT)
                path += tree.inclusion_proof(node & (TILE_WIDTH - 1))
            else:  # the top of the subtree: 2**rise nodes of a possibly partial tile
                first = node & ~((1 << rise) - 1)
                top = self._tops.get((level, first, rise))
                if top is None:
                    hashes = self._nodes(level, first, 1 << rise)
                    top = MerkleTree.from_leaf_hash_buffer(hashes, threads=1)
                    self._tops.put((level, first, rise), top)
                path += top.inclusion_proof(node - first)
            level += 1
        return path

    def _tile_tree(self, level: int, index: int) -> MerkleTree:
        key = (level, index)
        tree = self._tiles.get(key)
        if tree is None:
            hashes = self._read_tile(level, index)
            if hashes is None or len(hashes) != TILE_WIDTH * _HASH:
                raise MissingTile(f"chain log tile {level}/{index} is not stored")
            tree = MerkleTree.from_leaf_hash_buffer(hashes, threads=1)
            self._tiles.put(key, tree)
        return tree

    def _nodes(self, level: int, first: int, count: int) -> bytes:
        """The hashes of ``count`` nodes at height 8·``level`` from index ``first``, all in one
        tile: sliced from the stored tile when it is full, else computed (level 0: from the
        headers; above: each the root of the full tile below)."""
        tile = first >> TILE_HEIGHT
        tree = self._tiles.get((level, tile))
        hashes = None if tree is None else tree.leaf_hashes()
        if hashes is None:
            hashes = self._read_tile(level, tile)
            if hashes is not None and len(hashes) == TILE_WIDTH * _HASH:
                self._tiles.put((level, tile), MerkleTree.from_leaf_hash_buffer(hashes, threads=1))
        if hashes is not None and len(hashes) == TILE_WIDTH * _HASH:
            at = (first & (TILE_WIDTH - 1)) * _HASH
            return hashes[at : at + count * _HASH]
        if level == 0:
            headers = self._read_headers(first, first + count)
            if len(headers) != count:
                raise MissingTile(f"blocks {first}..{first + count - 1} are not all stored")
            return b"".join(_leaf(h) for h in headers)
        return b"".join(self._tile_tree(level - 1, i).root for i in range(first, first + count))

    def _range(self, start: int, end: int) -> bytes:
        """RFC 9162 hash of leaves ``start`` … ``end - 1`` (kept: it never changes)."""
        key = (start, end)
        found = self._ranges.get(key)
        if found is not None:
            return found
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            height = width.bit_length() - 1
            level, rise = divmod(height, TILE_HEIGHT)
            found = _root(self._nodes(level, start >> (level * TILE_HEIGHT), 1 << rise))
        else:
            split = 1 << ((width - 1).bit_length() - 1)
            found = node_hash(self._range(start, start + split), self._range(start + split, end))
        self._ranges.put(key, found)
        return found
