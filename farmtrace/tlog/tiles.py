"""C2SP tlog-tiles in plain Python: tile paths, entry bundles, and checking tiles against a root.

A tiled log (c2sp.org/tlog-tiles) serves its RFC 9162 tree as static resources under a prefix:

* ``tile/<L>/<N>[.p/<W>]``: hash tile ``N`` of level ``L``, ``W`` hashes wide (256 when full,
  no suffix). Hash ``i`` is ``MTH(D[(N*256+i)*256**L : (N*256+i+1)*256**L])``: level 0 holds
  leaf hashes, level ``L`` the roots of the full tiles of level ``L-1``.
* ``tile/entries/<N>[.p/<W>]``: entry bundle ``N``, the entries of leaves ``N*256 ..``, each as a
  big-endian uint16 length and the bytes.

``N`` is written in 3-digit groups, all but the last prefixed ``x`` (1234067 ->
``x001/x234/067``). A tree of size ``s`` has, at level ``L``, ``floor(s / 256**L) // 256`` full
tiles and one partial tile of width ``floor(s / 256**L) % 256`` when that is not 0.

Checking (:func:`verify_hash_tiles`) goes top-down, as a mirror must to name the bad tile: the
tiles on the right edge of the tree (the partial ones, and the top one) hash to the root, which
checks them; then each full tile must hash to its hash in the (already checked) tile above it,
and each entry bundle to its level-0 tile (:func:`verify_bundle`). Like the rest of
:mod:`farmtrace.tlog` this uses nothing but :mod:`hashlib`; it is the reference, not the server's
fast path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from farmtrace.tlog.errors import TileError, TileMismatch

__all__ = [
    "ENTRIES",
    "MAX_ENTRY_SIZE",
    "TILE_WIDTH",
    "TileRef",
    "bundle_refs",
    "decode_bundle",
    "encode_bundle",
    "hash_tile_refs",
    "parse_tile_path",
    "perfect_root",
    "root_from_tiles",
    "tile_index_path",
    "verify_bundle",
    "verify_hash_tiles",
]

TILE_HEIGHT = 8
TILE_WIDTH = 256
"""Hashes in a full tile (and entries in a full bundle): 2**8."""

MAX_ENTRY_SIZE = 0xFFFF
"""The largest entry a bundle can hold: its length is a big-endian uint16."""

ENTRIES = -1
"""The ``level`` of a :class:`TileRef` that names an entry bundle."""

_HASH = 32
_MAX_LEVEL = 63
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True, order=True)
class TileRef:
    """One tile resource: a hash tile (``level`` 0..63) or an entry bundle (``level`` ==
    :data:`ENTRIES`), its index ``index`` and ``width`` (1..256; 256 is a full tile)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        """Whether this is a full tile (256 hashes or entries)."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The path under the log's prefix: ``tile/0/x001/234`` or ``tile/entries/005.p/7``."""
        level = "entries" if self.level == ENTRIES else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{tile_index_path(self.index)}{suffix}"

    @property
    def first_leaf(self) -> int:
        """The first leaf (entry) the tile covers."""
        return self.index << (TILE_HEIGHT * (max(self.level, 0) + 1))

    def __str__(self) -> str:
        return self.path


def tile_index_path(index: int) -> str:
    """``N`` in 3-digit groups, all but the last prefixed ``x``: 1234067 -> ``x001/x234/067``."""
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> TileRef:
    """The :class:`TileRef` of a path as :attr:`TileRef.path` writes it; anything else (leading
    zero groups such as ``x000/001``, level > 63, width 0 or > 255) raises :class:`TileError`."""
    found = _PATH.fullmatch(path)
    if found is None:
        raise TileError(f"{path!r} is not a tile path (tile/<L>/<N>[.p/<W>])")
    level = ENTRIES if found["level"] == "entries" else int(found["level"])
    if level > _MAX_LEVEL:
        raise TileError(f"{path!r}: tile level {level} is above {_MAX_LEVEL}")
    groups = found["index"].split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise TileError(f"{path!r}: the tile index has a leading zero group")
    index = int("".join(g.lstrip("x") for g in groups))
    width = TILE_WIDTH if found["width"] is None else int(found["width"])
    if found["width"] is not None and width >= TILE_WIDTH:
        raise TileError(f"{path!r}: a partial tile is 1 to 255 wide")
    return TileRef(level, index, width)


def _hashes_at(size: int, level: int) -> int:
    return size >> (TILE_HEIGHT * level)


def hash_tile_refs(size: int) -> list[TileRef]:
    """Every hash tile of a tree of ``size`` leaves, level 0 first, full tiles then the partial."""
    refs: list[TileRef] = []
    level = 0
    while (count := _hashes_at(size, level)) > 0:
        refs += [TileRef(level, n) for n in range(count // TILE_WIDTH)]
        if count % TILE_WIDTH:
            refs.append(TileRef(level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return refs


def bundle_refs(size: int) -> list[TileRef]:
    """Every entry bundle of a log of ``size`` entries, in order."""
    refs = [TileRef(ENTRIES, n) for n in range(size // TILE_WIDTH)]
    if size % TILE_WIDTH:
        refs.append(TileRef(ENTRIES, size // TILE_WIDTH, size % TILE_WIDTH))
    return refs


def tile_covering(size: int, level: int, position: int) -> TileRef:
    """The tile of a tree of ``size`` leaves that holds hash ``position`` of ``level``."""
    index = position // TILE_WIDTH
    return TileRef(level, index, min(TILE_WIDTH, _hashes_at(size, level) - index * TILE_WIDTH))


# --------------------------------------------------------------------------------------------
# Entry bundles
# --------------------------------------------------------------------------------------------


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle: each a big-endian uint16 length then its bytes.

    Raises :class:`TileError` for an entry longer than :data:`MAX_ENTRY_SIZE`.
    """
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {i} of the bundle is {len(entry)} bytes, over {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, count: int) -> list[bytes]:
    """The ``count`` entries of a bundle; :class:`TileError` unless ``data`` is exactly that."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"the bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise TileError(f"the bundle ends inside entry {len(entries)}")
        entries.append(bytes(data[at + 2 : at + 2 + length]))
        at += 2 + length
    if len(entries) != count:
        raise TileError(f"the bundle holds {len(entries)} entries, expected {count}")
    return entries


# --------------------------------------------------------------------------------------------
# Hashing and checking tiles
# --------------------------------------------------------------------------------------------


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 root over ``hashes`` taken as the nodes of one level; their number must be
    a power of two (so each pair is a sibling pair, as inside a tile)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise TileError(f"{len(level)} hashes do not make a perfect tree")
    while len(level) > 1:
        level = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    return level[0]


def split_hashes(data: bytes, ref: TileRef) -> list[bytes]:
    """The hashes of tile ``ref``; :class:`TileMismatch` unless it is exactly ``width`` hashes."""
    if len(data) != ref.width * _HASH:
        raise TileMismatch(
            ref.path, f"is {len(data)} bytes, a tile {ref.width} wide is {ref.width * _HASH}"
        )
    return [bytes(data[i : i + _HASH]) for i in range(0, len(data), _HASH)]


def _right_edge(size: int) -> list[tuple[int, int, int]]:
    """The complete subtrees the tree of ``size`` leaves splits into, left to right, each as
    ``(level, first hash at that level, number of hashes)`` within one tile."""
    parts = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            level, spare = divmod(bit, TILE_HEIGHT)
            parts.append((level, start // TILE_WIDTH**level, 1 << spare))
            start += 1 << bit
    return parts


def root_from_tiles(
    size: int, tile: Callable[[TileRef], list[bytes]]
) -> tuple[bytes, set[TileRef]]:
    """The root of the tree of ``size`` (>= 1) leaves from its right-edge tiles, and which
    tiles it used; ``tile(ref)`` returns the hashes of a tile."""
    roots: list[bytes] = []
    used: set[TileRef] = set()
    for level, first, count in _right_edge(size):
        ref = tile_covering(size, level, first)
        used.add(ref)
        offset = first - ref.index * TILE_WIDTH
        roots.append(perfect_root(tile(ref)[offset : offset + count]))
    acc = roots[-1]
    for left in reversed(roots[:-1]):
        acc = _sha256(b"\x01" + left + acc).digest()
    return acc, used


def verify_hash_tiles(size: int, root: bytes, tile: Callable[[TileRef], bytes]) -> None:
    """Check every hash tile of a tree of ``size`` leaves against its ``root``, top-down.

    ``tile(ref)`` returns a tile's bytes as fetched. Raises :class:`TileMismatch` naming the
    first tile found wrong: a tile of the wrong length; the right-edge tiles when they do not
    hash to ``root`` (any one of them may be the altered one); else the full tile whose root
    differs from its hash in the checked tile above it.
    """
    if size == 0:
        return
    refs = hash_tile_refs(size)
    hashes = {ref: split_hashes(tile(ref), ref) for ref in refs}
    computed, used = root_from_tiles(size, hashes.__getitem__)
    if computed != root:
        names = ", ".join(ref.path for ref in sorted(used, reverse=True))
        raise TileMismatch(names, "do not hash to the checkpoint's root (one was altered)")
    for ref in sorted(refs, key=lambda r: (-r.level, r.index)):
        if not ref.full:
            continue  # on the right edge: checked through the root above
        parent = tile_covering(size, ref.level + 1, ref.index)
        expected = hashes[parent][ref.index % TILE_WIDTH]
        if perfect_root(hashes[ref]) != expected:
            raise TileMismatch(
                ref.path, f"does not hash to hash {ref.index % TILE_WIDTH} of {parent.path}"
            )


def verify_bundle(ref: TileRef, data: bytes, level0: bytes) -> list[bytes]:
    """The entries of bundle ``ref`` after checking each hashes to its leaf hash in the
    (checked) level-0 tile ``level0``; :class:`TileMismatch` naming the bundle otherwise."""
    try:
        entries = decode_bundle(data, ref.width)
    except TileError as exc:
        raise TileMismatch(ref.path, str(exc)) from None
    leaves = b"".join(_sha256(b"\x00" + e).digest() for e in entries)
    if leaves != level0:
        first = next(
            i
            for i in range(ref.width)
            if leaves[i * 32 : i * 32 + 32] != level0[i * 32 : i * 32 + 32]
        )
        raise TileMismatch(
            ref.path,
            f"entry {ref.first_leaf + first} does not hash to its leaf in the level-0 tile",
        )
    return entries
