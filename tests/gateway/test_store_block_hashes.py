"""Proofs from a block's stored run roots (farmtrace.store.block_hashes) equal the plain-Python
reference's (farmtrace.tlog.merkle) for every entry of blocks of every size, and anything that
does not check against the sealed root gives no proof (the reader then proves from the block)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.readings import batch, devices
from support.tamper import delete_rows, flip_byte, update_row

from farmtrace.store import ChainMismatchError
from farmtrace.store.block_hashes import RUN, run_proof, run_roots
from farmtrace.store.ledger import Ledger
from farmtrace.store.reader import ChainReader, batch_tree
from farmtrace.tlog import merkle

ORIGIN = "farmtrace.example/gw-hashes"

entries_st = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=300)


def _reference(entries: list[bytes]) -> tuple[merkle.MerkleTree, bytes]:
    tree = merkle.MerkleTree.from_entries(entries)
    return tree, tree.root


@given(entries_st, st.data())
@settings(max_examples=200, deadline=None)
def test_run_proofs_equal_the_reference(entries: list[bytes], data: st.DataObject) -> None:
    reference, root = _reference(entries)
    roots = run_roots(batch_tree(entries).leaf_hashes())
    assert len(roots) == 32 * -(-len(entries) // RUN)
    index = data.draw(st.integers(0, len(entries) - 1))
    start = index // RUN * RUN
    run = entries[start : start + RUN]
    assert run_proof(index, len(entries), root, run, roots) == reference.inclusion_proof(index)


@given(entries_st, st.data())
@settings(max_examples=100, deadline=None)
def test_anything_that_does_not_check_gives_no_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    _, root = _reference(entries)
    roots = run_roots(batch_tree(entries).leaf_hashes())
    index = data.draw(st.integers(0, len(entries) - 1))
    start = index // RUN * RUN
    run = entries[start : start + RUN]
    altered = data.draw(st.integers(0, len(run) - 1))
    bad_run = [*run[:altered], run[altered] + b"x", *run[altered + 1 :]]
    assert run_proof(index, len(entries), root, bad_run, roots) is None
    assert run_proof(index, len(entries), root, run[:-1], roots) is None
    flip = data.draw(st.integers(0, len(roots) - 1))
    bad_roots = roots[:flip] + bytes([roots[flip] ^ 1]) + roots[flip + 1 :]
    assert run_proof(index, len(entries), root, run, bad_roots) is None
    assert run_proof(index, len(entries), root, run, roots[:-32]) is None
    assert run_proof(index, len(entries), bytes(32), run, roots) is None


@pytest.mark.parametrize("stored_hashes", [True, False])
def test_the_reader_serves_the_same_proofs_either_way(
    db_url: str, tmp_path: Path, stored_hashes: bool
) -> None:
    devs = devices(3)
    sizes = [1, 7, 8, 9, 16, 23, 100]
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        seq = 0
        for size in sizes:
            readings = [d.reading(s) for s in range(seq, seq + size) for d in devs][:size]
            seq += size
            ledger.append_batch(readings)
    reader = ChainReader.open(db_url, ORIGIN)
    reader.stored_hashes = stored_hashes
    try:
        first = 0
        for height, size in enumerate(sizes):
            header, _ = reader.block(height)
            entries = reader.block_payloads(header)
            reference = merkle.MerkleTree.from_entries(entries)
            for i in range(size):
                proof = reader.reading_proof(first + i)
                assert list(proof.inclusion_proof) == reference.inclusion_proof(i)
            first += size
    finally:
        reader.close()


def test_a_tampered_run_is_proved_from_the_block_which_names_it(
    db_url: str, tmp_path: Path
) -> None:
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batch(
            batch(devices(4), range(5))
        )  # one block of 20: runs 0..7, 8..15, 16..19
    reader = ChainReader.open(db_url, ORIGIN)
    payload = reader.entry(9).payload
    reader.close()
    update_row(db_url, "entries", {"global_index": 9}, {"payload": flip_byte(payload, 40)})
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        with pytest.raises(ChainMismatchError, match="sealed batch root"):
            reader.reading_proof(10)  # same run as the altered entry
        # Another run checks against the sealed root on its own: its proof is served and valid.
        proof = reader.reading_proof(2)
        assert merkle.verify_inclusion(
            merkle.leaf_hash(proof.entry.payload),
            2,
            20,
            list(proof.inclusion_proof),
            proof.block.root,
        )
    finally:
        reader.close()


def test_blocks_without_stored_hashes_are_proved_from_the_whole_block(
    db_url: str, tmp_path: Path
) -> None:
    """A database from before revision 0010 has no block_hashes rows: the same proofs."""
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batch(batch(devices(5), range(4)))  # one block of 20
        ledger.append_batch(batch(devices(5), range(4, 5)))  # one block of 5
    with_rows = ChainReader.open(db_url, ORIGIN)
    try:
        expected = [with_rows.reading_proof(i).inclusion_proof for i in range(25)]
    finally:
        with_rows.close()
    assert delete_rows(db_url, "block_hashes", "height = :h", {"h": 0}) == 1
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        assert [reader.reading_proof(i).inclusion_proof for i in range(25)] == expected
        assert reader._runs.get(0) == b""  # read, and known to have none
    finally:
        reader.close()
