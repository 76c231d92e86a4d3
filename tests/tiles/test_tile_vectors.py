"""docs/vectors/tiles.json is what the reference makes now (regenerate with
tests/tiles/make_tile_vectors.py), and its trees check with farmtrace.tlog.tiles."""

from __future__ import annotations

import json

from make_tile_vectors import OUT, vectors

from farmtrace.tlog.tiles import parse_tile_path, verify_bundle, verify_hash_tiles


def test_the_vector_file_is_current() -> None:
    assert json.loads(OUT.read_text()) == vectors()


def test_the_vectors_check() -> None:
    data = json.loads(OUT.read_text())
    for tree in data["trees"]:
        tiles = {path: bytes.fromhex(h) for path, h in tree["tiles"].items()}
        verify_hash_tiles(tree["size"], bytes.fromhex(tree["root"]), lambda r, t=tiles: t[r.path])
        for path, bundle in tree["bundles"].items():
            ref = parse_tile_path(path)
            level0 = tiles[path.replace("entries", "0")]
            assert len(verify_bundle(ref, bytes.fromhex(bundle), level0)) == ref.width
        assert len(tree["altered"]) == len(tiles)
