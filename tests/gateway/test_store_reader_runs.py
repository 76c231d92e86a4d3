"""A reading's proof from stored hashes reads the entry and its run in one query of at most
``RUN`` rows, and serves what the whole block's tree serves, on both backends: every entry of
blocks of many sizes (partial runs, a run ending at the block's end, a block of one), with the
whole-block path forbidden so that a wrong run cannot hide behind the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.readings import devices

from farmtrace.store.block_hashes import RUN
from farmtrace.store.ledger import Ledger
from farmtrace.store.reader import ChainReader
from farmtrace.tlog import merkle

ORIGIN = "farmtrace.example/reader-runs"
SIZES = [1, 7, 8, 9, 16, 23, 100, 3]


def test_stored_proofs_read_one_run_and_agree_with_rebuilt_ones(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    devs = devices(3)
    batches, seq = [], 0
    for size in SIZES:
        batches.append([d.reading(s) for s in range(seq, seq + size) for d in devs][:size])
        seq += size
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batches(batches)
    rebuilt = ChainReader.open(db_url, ORIGIN, stored_hashes=False)
    stored = ChainReader.open(db_url, ORIGIN, stored_hashes=True)

    def whole_block(*_args: object) -> object:
        raise AssertionError("proved from the whole block, not from its stored run")

    monkeypatch.setattr(stored, "_batch_tree", whole_block)
    try:
        first = 0
        for height, size in enumerate(SIZES):
            header, _ = rebuilt.block(height)
            reference = merkle.MerkleTree.from_entries(rebuilt.block_payloads(header))
            for i in range(size):
                entry, run = stored._entry_and_run(first + i)
                start = i // RUN * RUN
                assert (entry.block_height, entry.index_in_block) == (height, i)
                assert len(run) == min(RUN, size - start)
                expected = rebuilt.reading_proof(first + i)
                served = stored.reading_proof(first + i)
                assert list(served.inclusion_proof) == reference.inclusion_proof(i)
                assert served == expected
            first += size
    finally:
        stored.close()
        rebuilt.close()
