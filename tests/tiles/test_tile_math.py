"""farmtrace.tlog.tiles against the spec's worked examples and an independent tree (rust_core)."""

from __future__ import annotations

import hashlib

import pytest

from farmtrace import rust_core
from farmtrace.tlog.errors import TileError, TileMismatch
from farmtrace.tlog.tiles import (
    ENTRIES,
    TileRef,
    bundle_refs,
    decode_bundle,
    encode_bundle,
    hash_tile_refs,
    parse_tile_path,
    perfect_root,
    tile_index_path,
    verify_bundle,
    verify_hash_tiles,
)


def test_index_paths_follow_the_spec() -> None:
    assert tile_index_path(1234067) == "x001/x234/067"
    assert tile_index_path(0) == "000"
    assert tile_index_path(1000) == "x001/000"
    assert parse_tile_path("tile/0/x001/x234/067") == TileRef(0, 1234067)
    assert parse_tile_path("tile/entries/005.p/7") == TileRef(ENTRIES, 5, 7)
    for ref in (TileRef(3, 999_999), TileRef(ENTRIES, 1000, 255), TileRef(63, 1)):
        assert parse_tile_path(ref.path) == ref


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",  # a leading zero group: one index, one path
        "tile/0/01",
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/data/000",
        "tile/0/000/",
        "tile/0/1000",
    ],
)
def test_other_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


def test_tiles_of_size_70000_are_the_specs_example() -> None:
    refs = hash_tile_refs(70_000)
    assert [r for r in refs if r.level == 0 and r.full] == [TileRef(0, n) for n in range(273)]
    assert [r for r in refs if not (r.level == 0 and r.full)] == [
        TileRef(0, 273, 112),
        TileRef(1, 0),
        TileRef(1, 1, 17),
        TileRef(2, 0, 1),
    ]
    assert hash_tile_refs(256) == [TileRef(0, 0), TileRef(1, 0, 1)]
    assert bundle_refs(300) == [TileRef(ENTRIES, 0), TileRef(ENTRIES, 1, 44)]


def _entries(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest()[: 1 + i % 40] for i in range(n)]


def _tiles(entries: list[bytes]) -> dict[TileRef, bytes]:
    """The tiles by their definition: hash i of tile N at level L is MTH of its leaf range,
    each computed by rust_core over the leaves, never from other tiles."""
    leaves = rust_core.MerkleTree.from_entries(entries).leaf_hashes()
    out = {}
    for ref in hash_tile_refs(len(entries)):
        if ref.level == 0:  # MTH of one leaf is its leaf hash
            out[ref] = leaves[ref.index * 256 * 32 : (ref.index * 256 + ref.width) * 32]
            continue
        span = 256**ref.level
        out[ref] = b"".join(
            rust_core.MerkleTree.from_leaf_hash_buffer(
                leaves[(ref.index * 256 + i) * span * 32 : (ref.index * 256 + i + 1) * span * 32]
            ).root
            for i in range(ref.width)
        )
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 511, 65_536, 65_537, 70_000])
def test_tiles_check_against_the_tree_root(size: int) -> None:
    entries = _entries(size)
    tiles = _tiles(entries)
    root = rust_core.MerkleTree.from_entries(entries).root
    verify_hash_tiles(size, root, tiles.__getitem__)
    for ref in bundle_refs(size):
        first = ref.index * 256
        bundle = encode_bundle(entries[first : first + ref.width])
        assert (
            verify_bundle(ref, bundle, tiles[TileRef(0, ref.index, ref.width)])
            == entries[first : first + ref.width]
        )


@pytest.mark.parametrize("size", [257, 65_537, 70_000])
def test_an_altered_tile_is_named(size: int) -> None:
    entries = _entries(size)
    tiles = _tiles(entries)
    root = rust_core.MerkleTree.from_entries(entries).root
    # Every tile above level 0 and every partial one; of the many full level-0 tiles, a few.
    refs = [r for r in hash_tile_refs(size) if r.level or not r.full or r.index in (0, 1, 255)]
    for ref in refs:
        altered = dict(tiles)
        data = bytearray(tiles[ref])
        data[len(data) // 2] ^= 1
        altered[ref] = bytes(data)
        with pytest.raises(TileMismatch) as caught:
            verify_hash_tiles(size, root, altered.__getitem__)
        assert ref.path in caught.value.tile.split(", "), (ref, caught.value)
    with pytest.raises(TileMismatch, match="do not hash to the checkpoint's root"):
        verify_hash_tiles(size, bytes(32), tiles.__getitem__)


def test_an_altered_bundle_is_named() -> None:
    entries = _entries(300)
    tiles = _tiles(entries)
    ref = TileRef(ENTRIES, 1, 44)
    bundle = bytearray(encode_bundle(entries[256:]))
    bundle[-1] ^= 1
    with pytest.raises(TileMismatch, match=r"tile/entries/001\.p/44: entry 299 does not hash"):
        verify_bundle(ref, bytes(bundle), tiles[TileRef(0, 1, 44)])


def test_bundles_round_trip_and_refuse_what_is_not_one() -> None:
    entries = [b"", b"a", bytes(65_535)]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_bundle(data, 3) == entries
    with pytest.raises(TileError, match="holds 3 entries, expected 2"):
        decode_bundle(data, 2)
    with pytest.raises(TileError, match="ends inside entry 2"):
        decode_bundle(data[:-1], 3)
    with pytest.raises(TileError, match="ends inside the length"):
        decode_bundle(b"\x00", 1)
    with pytest.raises(TileError, match="65536 bytes"):
        encode_bundle([bytes(65_536)])


def test_perfect_root_is_the_rfc_9162_root() -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(8)]
    assert perfect_root(leaves) == rust_core.MerkleTree.from_leaf_hashes(leaves).root
    with pytest.raises(TileError):
        perfect_root(leaves[:3])
