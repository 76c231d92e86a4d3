"""ChainReader on its own (as the API uses it): entries, blocks, checkpoints and proofs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.readings import batch, devices

from farmtrace.store import NotFoundError
from farmtrace.store.ledger import Ledger
from farmtrace.store.reader import ChainReader
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.merkle import verify_consistency
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
