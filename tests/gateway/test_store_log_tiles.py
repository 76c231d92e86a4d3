"""Chain-log proofs from stored tiles (farmtrace.store.log_tiles) equal the plain-Python
reference's (farmtrace.tlog.merkle) for random log sizes and leaves, on both backends; the
ledger stores each full tile when it seals the block that fills it; a missing or altered tile
gives the reference's proof (the reader proves from the whole log instead)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from support.readings import batch, devices
from support.tamper import update_row

from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.log_tiles import TILE_WIDTH, MissingTile, StoredLog
from farmtrace.store.reader import ChainReader
from farmtrace.tlog import merkle

ORIGIN = "farmtrace.example/gw-log-tiles"

# Enough leaves for level-1 tiles (256 full level-0 tiles) and a right edge above them.
_LEAVES = TILE_WIDTH * TILE_WIDTH + 3 * TILE_WIDTH + 17
_HEADERS = [b"header %d" % i for i in range(_LEAVES)]
_HASHES = [merkle.leaf_hash(h) for h in _HEADERS]


def _tiles(leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every full tile of a log, by the plain reference."""
    tiles: dict[tuple[int, int], bytes] = {}
    level, nodes = 0, leaf_hashes
    while len(nodes) >= TILE_WIDTH:
        full = len(nodes) // TILE_WIDTH
        groups = [nodes[i * TILE_WIDTH : (i + 1) * TILE_WIDTH] for i in range(full)]
        for i, group in enumerate(groups):
            tiles[level, i] = b"".join(group)
        nodes = [merkle.MerkleTree.from_leaf_hashes(g).root for g in groups]
        level += 1
    return tiles


_ALL_TILES = _tiles(_HASHES)


def _stored_log(stored_size: int, reads: list[tuple[int, int]] | None = None) -> StoredLog:
    """A StoredLog over the tiles a log of ``stored_size`` leaves has stored."""
    tiles = _tiles(_HASHES[:stored_size]) if stored_size < _LEAVES else _ALL_TILES

    def read_tile(level: int, index: int) -> bytes | None:
        if reads is not None:
            reads.append((level, index))
        return tiles.get((level, index))

    def read_headers(start: int, end: int) -> list[bytes]:
        return _HEADERS[start : min(end, stored_size)]

    return StoredLog(read_tile, read_headers, capacity=64)


sizes = st.one_of(
    st.integers(1, 3 * TILE_WIDTH),
    st.integers(TILE_WIDTH * TILE_WIDTH - 2 * TILE_WIDTH, _LEAVES),
    st.integers(1, _LEAVES),
)


@given(sizes, st.data())
@settings(max_examples=60, deadline=None)
def test_stored_tile_proofs_equal_the_reference(size: int, data: st.DataObject) -> None:
    # The log may have grown since the checkpoint of ``size``: tiles beyond it are stored too.
    stored_size = data.draw(st.integers(size, _LEAVES))
    log = _stored_log(stored_size)
    reference = merkle.MerkleTree.from_leaf_hashes(_HASHES[:size])
    for index in {0, size - 1, data.draw(st.integers(0, size - 1))}:
        assert log.inclusion_proof(index, size) == reference.inclusion_proof(index)


@given(sizes, st.data())
@settings(max_examples=60, deadline=None)
def test_stored_tile_consistency_proofs_equal_the_reference(
    new_size: int, data: st.DataObject
) -> None:
    log = _stored_log(data.draw(st.integers(new_size, _LEAVES)))
    reference = merkle.MerkleTree.from_leaf_hashes(_HASHES[:new_size])
    for old_size in {1, new_size, data.draw(st.integers(1, new_size))}:
        assert log.consistency_proof(old_size, new_size) == reference.consistency_proof(old_size)


def test_a_proof_reads_one_tile_a_level_once_its_right_edge_is_known() -> None:
    reads: list[tuple[int, int]] = []
    log = _stored_log(_LEAVES, reads)
    log.inclusion_proof(5, _LEAVES)
    reads.clear()
    draw = random.Random(7)
    for _ in range(20):
        index = draw.randrange(TILE_WIDTH * TILE_WIDTH)
        log.inclusion_proof(index, _LEAVES)
    # Each proof of a leaf under the level-1 tile: its level-0 tile and the level-1 tile
    # (cached after the first read), nothing of the whole log.
    assert len(reads) <= 20 + 1
    assert {level for level, _ in reads} <= {0, 1}


def test_a_missing_tile_is_named() -> None:
    log = StoredLog(lambda level, index: None, lambda start, end: [], capacity=8)
    with pytest.raises(MissingTile):
        log.inclusion_proof(3, 2 * TILE_WIDTH)
    with pytest.raises(ValueError, match="no leaf 4"):
        log.inclusion_proof(4, 4)


def _fill(db_url: str, state: Path, blocks: int) -> None:
    devs = devices(1)
    with Ledger.open(db_url, state, ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        for seq in range(blocks):
            ledger.append_batch(batch(devs, range(seq, seq + 1)))


@pytest.mark.slow
def test_the_ledger_stores_full_tiles_and_the_reader_proves_from_them(
    db_url: str, tmp_path: Path
) -> None:
    blocks = 2 * TILE_WIDTH + 9
    _fill(db_url, tmp_path / "state", blocks)
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        headers = [reader.block(h)[1] for h in range(blocks)]
        leaves = [merkle.leaf_hash(h) for h in headers]
        engine = create_db_engine(db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT level, tile_index, hashes FROM log_tiles ORDER BY tile_index")
                ).all()
        finally:
            engine.dispose()
        assert {(r.level, r.tile_index): bytes(r.hashes) for r in rows} == _tiles(leaves)
        draw = random.Random(11)
        for _ in range(25):
            size = draw.randint(1, blocks)
            height = draw.randrange(size)
            checkpoint = reader.checkpoint(size)
            path = reader._stored_log_path(height, checkpoint)
            assert path is not None, (height, size)
            reference = merkle.MerkleTree.from_leaf_hashes(leaves[:size])
            assert path == reference.inclusion_proof(height)
        for _ in range(10):
            new_size = draw.randint(1, blocks)
            old_size = draw.randint(1, new_size)
            reference = merkle.MerkleTree.from_leaf_hashes(leaves[:new_size])
            expected = reference.consistency_proof(old_size)
            assert reader._stored_consistency(old_size, new_size) == expected
            assert reader.consistency_proof(old_size, new_size) == expected
        # The served tlog-proof is the stored one; the whole log was never loaded.
        latest = reader.latest_checkpoint()
        assert latest is not None
        proof = reader.reading_proof(3)
        assert proof.tlog_proof == reader.tlog_proof(proof.block.height, latest)
        assert reader._log_tree is None
    finally:
        reader.close()


@pytest.mark.slow
def test_an_altered_tile_is_not_served_the_whole_log_proves_instead(
    db_url: str, tmp_path: Path
) -> None:
    blocks = TILE_WIDTH + 3
    _fill(db_url, tmp_path / "state", blocks)
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        latest = reader.latest_checkpoint()
        assert latest is not None
        expected = [reader.tlog_proof(h, latest) for h in (0, 100, blocks - 1)]
    finally:
        reader.close()
    altered = bytes(32) + _HASHES[0] * (TILE_WIDTH - 1)
    where = {"level": 0, "tile_index": 0}
    update_row(db_url, "log_tiles", where, {"hashes": altered})
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        latest = reader.latest_checkpoint()
        assert latest is not None
        assert reader._stored_log_path(100, latest) is None  # does not check: not used
        assert [reader.tlog_proof(h, latest) for h in (0, 100, blocks - 1)] == expected
        assert reader._log_tree is not None  # proved from the whole log
    finally:
        reader.close()


def test_leaf_hashes_are_the_block_hashes() -> None:
    assert _HASHES[0] == hashlib.sha256(b"\x00" + _HEADERS[0]).digest()
