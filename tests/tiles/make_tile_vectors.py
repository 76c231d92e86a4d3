"""Write docs/vectors/tiles.json: C2SP tlog-tiles cross-vectors made by the Python reference.

    .venv/bin/python tests/tiles/make_tile_vectors.py

Trees of a few sizes over fixed entries, with every hash tile and entry bundle (hex) and the
root; tile paths that parse (with their tile) and that do not (with the reference's message);
and for each tree, tiles altered one byte each with the message the reference gives. The
browser verifier (tests/js/tiles.test.mjs) and tests/tiles/test_tile_vectors.py check them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from farmtrace.tlog.errors import TileError, TileMismatch
from farmtrace.tlog.merkle import MerkleTree
from farmtrace.tlog.tiles import (
    TileRef,
    bundle_refs,
    encode_bundle,
    hash_tile_refs,
    parse_tile_path,
    perfect_root,
    verify_hash_tiles,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "tiles.json"
SIZES = (1, 3, 256, 300, 513)
GOOD_PATHS = ("tile/0/000", "tile/entries/005.p/7", "tile/3/x001/x234/067", "tile/63/001.p/255")
BAD_PATHS = (
    "tile/0/x000/001",
    "tile/0/01",
    "tile/00/000",
    "tile/64/000",
    "tile/0/000.p/0",
    "tile/0/000.p/256",
    "tile/data/000",
    "tile/0/1000",
)


def entries(size: int) -> list[bytes]:
    return [hashlib.sha256(f"entry {i}".encode()).digest()[: 1 + i % 24] for i in range(size)]


def tiles_of(items: list[bytes]) -> dict[TileRef, bytes]:
    """Level 0 from the leaves; level L as the roots of full tiles below (the definition)."""
    tree = MerkleTree.from_entries(items)
    out: dict[TileRef, bytes] = {}
    for ref in hash_tile_refs(len(items)):
        if ref.level == 0:
            first = ref.index * 256
            out[ref] = b"".join(tree.leaf_hash(i) for i in range(first, first + ref.width))
        else:
            below = [out[TileRef(ref.level - 1, ref.index * 256 + i)] for i in range(ref.width)]
            out[ref] = b"".join(
                perfect_root([b[j : j + 32] for j in range(0, len(b), 32)]) for b in below
            )
    return out


def tree_case(size: int) -> dict[str, Any]:
    items = entries(size)
    tiles = tiles_of(items)
    root = MerkleTree.from_entries(items).root
    verify_hash_tiles(size, root, tiles.__getitem__)
    altered = []
    for ref in hash_tile_refs(size):
        data = bytearray(tiles[ref])
        data[len(data) // 2] ^= 1
        changed = {**tiles, ref: bytes(data)}
        try:
            verify_hash_tiles(size, root, changed.__getitem__)
        except TileMismatch as exc:
            altered.append({"path": ref.path, "byte": len(data) // 2, "error": str(exc)})
    return {
        "size": size,
        "root": root.hex(),
        "tiles": {ref.path: data.hex() for ref, data in tiles.items()},
        "bundles": {
            ref.path: encode_bundle(items[ref.index * 256 : ref.index * 256 + ref.width]).hex()
            for ref in bundle_refs(size)
        },
        "altered": altered,
    }


def path_cases() -> dict[str, Any]:
    good = []
    for path in GOOD_PATHS:
        ref = parse_tile_path(path)
        good.append({"path": path, "level": ref.level, "index": ref.index, "width": ref.width})
    bad = []
    for path in BAD_PATHS:
        try:
            parse_tile_path(path)
        except TileError as exc:
            bad.append({"path": path, "error": str(exc)})
    return {"good": good, "bad": bad}


def vectors() -> dict[str, Any]:
    return {
        "about": "C2SP tlog-tiles cross-vectors from farmtrace.tlog.tiles "
        "(tests/tiles/make_tile_vectors.py); hex bytes; entry level -1",
        "paths": path_cases(),
        "trees": [tree_case(size) for size in SIZES],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(vectors(), indent=1) + "\n")
    print(f"wrote {OUT}")
