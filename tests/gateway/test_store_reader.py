"""ChainReader on its own (as the API uses it): entries, blocks, checkpoints and proofs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.readings import batch, devices
from support.tamper import flip_byte, update_row

from farmtrace.rust_core import MerkleTree
from farmtrace.store import ChainMismatchError, NotFoundError
from farmtrace.store.ledger import Ledger
from farmtrace.store.reader import ChainReader, tree_at
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from farmtrace.tlog.note import Verifier

ORIGIN = "farmtrace.example/gw-1"
DEVS = devices(4)


@pytest.fixture
def stored(db_url: str, tmp_path: Path) -> tuple[str, Verifier]:
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        for seq in range(5):
            ledger.append_batch(batch(DEVS, range(seq, seq + 1)))
        return db_url, Verifier.from_vkey(ledger.verifier_key)


def test_reader_without_a_key(stored: tuple[str, Verifier]) -> None:
    db_url, verifier = stored
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        assert reader.entry_count() == 20
        entry = reader.entry(13)
        assert (entry.block_height, entry.index_in_block, entry.device_id, entry.seq) == (
            3,
            1,
            "dev-0001",
            3,
        )
        header, raw = reader.block(3)
        assert header.first_index == 12 and raw == header.encode()
        assert reader.block_payloads(header)[1] == entry.payload
        latest = reader.latest_checkpoint()
        assert latest is not None and latest.size == 5
        assert reader.checkpoint(2).size == 2
        roots = {
            size: open_checkpoint(reader.checkpoint(size).note, [verifier], ORIGIN).checkpoint.root
            for size in range(1, 6)
        }
        for old in range(1, 6):
            for new in range(old, 6):
                proof = reader.consistency_proof(old, new)
                assert verify_consistency(old, new, proof, roots[old], roots[new])
    finally:
        reader.close()


def test_reader_not_found(stored: tuple[str, Verifier]) -> None:
    db_url, _ = stored
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        for call in (
            lambda: reader.entry(20),
            lambda: reader.block(5),
            lambda: reader.checkpoint(6),
            lambda: reader.consistency_proof(0, 3),
            lambda: reader.consistency_proof(4, 3),
            lambda: reader.consistency_proof(1, 6),
            lambda: reader.reading_proof(99),
        ):
            with pytest.raises(NotFoundError):
                call()
    finally:
        reader.close()
    with pytest.raises(NotFoundError, match="no chain"):
        ChainReader.open(db_url, "farmtrace.example/unknown")


def test_tree_at_is_the_prefix_tree() -> None:
    entries = [bytes([i]) * (i + 1) for i in range(13)]
    tree = MerkleTree.from_entries(entries)
    assert tree_at(tree, tree.size) is tree
    for size in range(tree.size + 1):
        prefix = tree_at(tree, size)
        assert prefix.size == size and prefix.root == tree.root_at(size)
        assert prefix.root == MerkleTree.from_entries(entries[:size]).root
    for size in (-1, tree.size + 1):
        with pytest.raises(ValueError, match="no tree of size"):
            tree_at(tree, size)


def test_reader_checks_the_batch_root(stored: tuple[str, Verifier]) -> None:
    db_url, _ = stored
    first = ChainReader.open(db_url, ORIGIN)
    try:
        payload = first.entry(13).payload
    finally:
        first.close()
    update_row(db_url, "entries", {"global_index": 13}, {"payload": flip_byte(payload, 40)})
    reader = ChainReader.open(db_url, ORIGIN)
    try:
        for index in (12, 13):  # block 3 holds entries 12..15
            with pytest.raises(ChainMismatchError, match=r"block 3 .* sealed batch root"):
                reader.reading_proof(index)
        # As stored, for a verifier to judge: the altered entry's proof no longer checks.
        proof = reader.reading_proof(13, check_root=False)
        root = proof.block.root
        leaf = leaf_hash(proof.entry.payload)
        assert not verify_inclusion(leaf, 1, 4, list(proof.inclusion_proof), root)
        with pytest.raises(ChainMismatchError):  # the unchecked tree was not cached
            reader.reading_proof(12)
        assert reader.reading_proof(0).entry.global_index == 0  # other blocks are served
    finally:
        reader.close()
