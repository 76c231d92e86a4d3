"""The ledger on SQLite and PostgreSQL: appends, deduplication, proofs, reopening, refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support.readings import SimDevice, batch, devices
from support.tamper import delete_rows, flip_byte, update_row

from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.store import (
    ChainMismatchError,
    InvalidEntryError,
    PendingReading,
    StoreError,
)
from farmtrace.store.batching import MAX_SEQ
from farmtrace.store.keys import KEY_FILE
from farmtrace.store.ledger import Ledger
from farmtrace.store.state import CHECKPOINT_FILE
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.merkle import MerkleTree, leaf_hash, verify_inclusion
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.proof import verify_tlog_proof

ORIGIN = "farmtrace.example/gw-1"
DEVS = devices(20)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def open_ledger(db_url: str, state: Path, origin: str = ORIGIN) -> Ledger:
    return Ledger.open(db_url, state, origin)


def test_first_append_creates_block_0_and_a_signed_checkpoint(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        assert (ledger.size, ledger.entry_count, ledger.latest_checkpoint()) == (0, 0, None)
        readings = batch(DEVS, range(3))
        result = ledger.append_batch(readings)
        assert result.accepted == 60 and result.duplicates == ()
        header = result.block
        assert header is not None
        assert (header.height, header.previous, header.first_index, header.size) == (
            0,
            GENESIS_PREVIOUS,
            0,
            60,
        )
        assert header.root == MerkleTree.from_entries([r.payload for r in readings]).root
        signed = open_checkpoint(result.checkpoint or "", [Verifier.from_vkey(ledger.verifier_key)])
        assert signed.checkpoint.size == 1
        assert signed.checkpoint.root == MerkleTree.from_entries([header.encode()]).root
        assert ledger.latest_checkpoint().note == result.checkpoint  # type: ignore[union-attr]
        assert (state / CHECKPOINT_FILE).read_text() == result.checkpoint


def test_key_file_is_private_and_named_for_the_origin(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        assert ledger.verifier_key.startswith(ORIGIN + "+")
    assert stat.S_IMODE((state / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_blocks_link_and_indexes_continue(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        first = ledger.append_batch(batch(DEVS, range(0, 2))).block
        second = ledger.append_batch(batch(DEVS, range(2, 5))).block
    assert first is not None and second is not None
    assert second.height == 1 and second.previous == first.hash()
    assert second.first_index == 40 and second.size == 60
    assert second.time_ms >= first.time_ms


def test_duplicates_are_dropped_within_and_across_batches(db_url: str, state: Path) -> None:
    dev = DEVS[0]
    with open_ledger(db_url, state) as ledger:
        first = ledger.append_batch([dev.reading(1), dev.reading(2), dev.reading(1)])
        assert first.accepted == 2 and first.duplicates == (("dev-0000", 1),)
        second = ledger.append_batch([dev.reading(2), dev.reading(3)])
        assert second.accepted == 1 and second.duplicates == (("dev-0000", 2),)
        assert second.block is not None and second.block.size == 1
        third = ledger.append_batch([dev.reading(1), dev.reading(3)])
        assert third.block is None and third.checkpoint is None
        assert third.accepted == 0 and third.duplicate_count == 2
        assert ledger.size == 2 and ledger.entry_count == 3


def test_dedup_holds_across_gateways_sharing_a_database(db_url: str, tmp_path: Path) -> None:
    one = open_ledger(db_url, tmp_path / "s1", "farmtrace.example/gw-1")
    two = open_ledger(db_url, tmp_path / "s2", "farmtrace.example/gw-2")
    try:
        assert one.append_batch(batch(DEVS, range(0, 3))).accepted == 60
        result = two.append_batch(batch(DEVS, range(2, 4)))
        assert result.accepted == 20 and result.duplicate_count == 20
        assert two.entry_count == 20 and one.entry_count == 60
        assert one.last_seqs()["dev-0003"] == 3
    finally:
        one.close()
        two.close()


def test_reading_proof_checks_with_the_plain_python_reference(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        for seqs in (range(0, 2), range(2, 3), range(3, 6)):
            ledger.append_batch(batch(DEVS, seqs))
        vkey = Verifier.from_vkey(ledger.verifier_key)
        for index in (0, 39, 40, 59, 60, 119):
            proof = ledger.reading_proof(index)
            entry = proof.entry
            assert entry.global_index == index and entry.kind == "reading"
            header = BlockHeader.parse(proof.block_bytes)
            assert header == proof.block
            assert verify_inclusion(
                leaf_hash(entry.payload),
                entry.index_in_block,
                header.size,
                list(proof.inclusion_proof),
                header.root,
            )
            signed = verify_tlog_proof(proof.tlog_proof, proof.block_bytes, [vkey], ORIGIN)
            assert signed.checkpoint.size == 3


def test_reopen_continues_the_chain(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(0, 2)))
        head = ledger.head
    with open_ledger(db_url, state) as ledger:
        assert ledger.size == 1 and ledger.entry_count == 40 and ledger.head == head
        block = ledger.append_batch(batch(DEVS, range(2, 3))).block
        assert block is not None and head is not None
        assert block.height == 1 and block.previous == head.hash()


def test_state_directory_is_locked(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state), pytest.raises(StoreError, match="in use"):
        open_ledger(db_url, state)


def test_refuses_a_chain_signed_with_another_key(db_url: str, tmp_path: Path) -> None:
    with open_ledger(db_url, tmp_path / "s1") as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
    with pytest.raises(ChainMismatchError, match="does not verify with this gateway's key"):
        open_ledger(db_url, tmp_path / "other-state")


def test_refuses_a_database_that_lost_blocks(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        for seq in range(3):
            ledger.append_batch(batch(DEVS, range(seq, seq + 1)))
    # Remove the last block, its entries and its checkpoint, as an old backup would.
    delete_rows(db_url, "checkpoints", "size = 3", {})
    delete_rows(db_url, "blocks", "height = 2", {})
    delete_rows(db_url, "entries", "block_height = 2", {})
    with pytest.raises(ChainMismatchError, match=r"size 3 .* only 2 blocks: blocks 2\.\.2"):
        open_ledger(db_url, state)


def test_refuses_an_altered_block_header_naming_it(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        for seq in range(3):
            ledger.append_batch(batch(DEVS, range(seq, seq + 1)))
        header = ledger.reader.block(1)[1]
    # Change block 1's time: still a well-formed header, but block 2 no longer links to it.
    changed = header.replace(b"time 1", b"time 2", 1)
    update_row(db_url, "blocks", {"height": 1}, {"header": changed})
    with pytest.raises(ChainMismatchError, match="block 2 does not link"):
        open_ledger(db_url, state)


def test_refuses_a_malformed_header_naming_it(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
        header = ledger.reader.block(0)[1]
    update_row(db_url, "blocks", {"height": 0}, {"header": flip_byte(header, 3)})
    with pytest.raises(ChainMismatchError, match="block 0 is malformed"):
        open_ledger(db_url, state)


def test_refuses_a_rewritten_last_block(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
        ledger.append_batch(batch(DEVS, range(1, 2)))
        header = ledger.reader.block(1)[1]
    update_row(db_url, "blocks", {"height": 1}, {"header": header.replace(b"time 1", b"time 2", 1)})
    with pytest.raises(ChainMismatchError, match="block 1 differs from what was signed"):
        open_ledger(db_url, state)


def test_refuses_missing_entries(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
    delete_rows(db_url, "entries", "global_index = 19", {})
    with pytest.raises(ChainMismatchError, match="entries run to index 18"):
        open_ledger(db_url, state)


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        (PendingReading("dev-0000", 1, 0, b"XX\x01", 0.0), "must start with"),
        (PendingReading("dev-0000", MAX_SEQ + 1, 0, b"FT\x01", 0.0), "seq"),
        (PendingReading("dev-0000", -1, 0, b"FT\x01", 0.0), "seq"),
        (PendingReading("", 1, 0, b"FT\x01", 0.0), "device_id"),
        (PendingReading("dev-0000", 1, 2**63, b"FT\x01", 0.0), "timestamp_ms"),
    ],
)
def test_invalid_readings_are_refused_before_any_write(
    tmp_path: Path, reading: PendingReading, message: str
) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'db'}", tmp_path / "s") as ledger:
        good = DEVS[0].reading(0)
        with pytest.raises(InvalidEntryError, match=message):
            ledger.append_batch([good, reading])
        assert ledger.size == 0
        assert ledger.append_batch([good]).accepted == 1


def test_origin_is_validated(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="invalid origin"):
        Ledger.open(f"sqlite:///{tmp_path / 'db'}", tmp_path / "s", "bad origin")


def test_unreachable_database_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Ledger.open(f"sqlite:///{tmp_path / 'missing-dir' / 'db'}", tmp_path / "s", ORIGIN)


def test_second_writer_of_one_chain_is_refused_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with open_ledger(pg_url, tmp_path / "s1"):
        # A copy of the state directory (same key) cannot open the chain while it is open.
        os.makedirs(tmp_path / "s2", mode=0o700)
        (tmp_path / "s2" / KEY_FILE).write_bytes((tmp_path / "s1" / KEY_FILE).read_bytes())
        os.chmod(tmp_path / "s2" / KEY_FILE, 0o600)
        with pytest.raises(StoreError, match="already open for writing"):
            open_ledger(pg_url, tmp_path / "s2")


def test_sim_device_readings_are_real_wire_format() -> None:
    from farmtrace.wire.protocol import decode, verify

    dev = SimDevice.make("dev-x")
    decoded = decode(dev.reading(7).payload)
    assert decoded.device_id == "dev-x" and decoded.seq == 7
    assert verify(decoded, dev.public_key)


def test_concurrent_gateways_store_each_reading_once(db_url: str, tmp_path: Path) -> None:
    """Two gateways race over overlapping readings (as after a redelivery): exactly once."""
    import threading

    devs = devices(50, prefix="race")
    batches = [batch(devs, range(seq, seq + 4)) for seq in range(0, 40, 2)]  # each seq in 2
    ledgers = [
        open_ledger(db_url, tmp_path / f"s{i}", f"farmtrace.example/race-{i}") for i in (0, 1)
    ]
    errors: list[BaseException] = []

    def run(ledger: Ledger, mine: list[list[PendingReading]]) -> None:
        try:
            for readings in mine:
                ledger.append_batch(readings)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(ledgers[0], batches)),
        threading.Thread(target=run, args=(ledgers[1], batches)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert ledgers[0].entry_count + ledgers[1].entry_count == 50 * 42
        seqs = ledgers[0].last_seqs()
        assert seqs == {d.device_id: 41 for d in devs}
    finally:
        for ledger in ledgers:
            ledger.close()


def test_refuses_to_sign_a_checkpoint_inconsistent_with_the_last(db_url: str, state: Path) -> None:
    from farmtrace.store import InconsistentCheckpointError
    from farmtrace.store.keys import load_signer
    from farmtrace.tlog.checkpoint import Checkpoint, sign_checkpoint
    from farmtrace.tlog.note import Signer

    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
        # Make the ledger believe it last signed a different tree of the same size.
        signer: Signer = load_signer(state)
        forged = sign_checkpoint(Checkpoint(ORIGIN, 1, bytes(32)), signer)
        ledger._checkpoint = open_checkpoint(forged, [signer.verifier], ORIGIN)
        with pytest.raises(InconsistentCheckpointError, match="refusing to sign"):
            ledger.append_batch(batch(DEVS, range(1, 2)))
        assert ledger.latest_checkpoint().size == 1  # type: ignore[union-attr]
        assert ledger.reader.entry_count() == 20


def test_commit_followed_by_a_failure_is_recovered_as_duplicates(db_url: str, state: Path) -> None:
    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
        # The state directory's checkpoint cannot be replaced: the commit succeeds, the call fails.
        (state / CHECKPOINT_FILE).unlink()
        (state / CHECKPOINT_FILE).mkdir()
        second = batch(DEVS, range(1, 2))
        with pytest.raises(StoreError):
            ledger.append_batch(second)
        (state / CHECKPOINT_FILE).rmdir()
        # The broker redelivers the unacknowledged batch: found stored, nothing stored twice.
        again = ledger.append_batch(second)
        assert again.block is None and again.duplicate_count == 20
        assert ledger.size == 2 and ledger.entry_count == 40
        block = ledger.append_batch(batch(DEVS, range(2, 3))).block
        assert block is not None and block.height == 2


def test_key_rotation_keeps_older_checkpoints_verifiable(db_url: str, state: Path) -> None:
    from farmtrace.store.keys import RETIRED_KEYS_FILE, load_signer, write_private_file
    from farmtrace.tlog.note import Signer

    with open_ledger(db_url, state) as ledger:
        ledger.append_batch(batch(DEVS, range(1)))
        old = ledger.verifier_key
    # Rotate: a new key named for the origin; the old verifier key is kept as retired.
    new = Signer.generate(ORIGIN)
    (state / KEY_FILE).unlink()
    write_private_file(state / KEY_FILE, new.skey + "\n")
    (state / RETIRED_KEYS_FILE).write_text(old + "\n")
    with open_ledger(db_url, state) as ledger:
        assert ledger.verifier_key == new.verifier.vkey == load_signer(state).verifier.vkey
        ledger.append_batch(batch(DEVS, range(1, 2)))
        note = ledger.latest_checkpoint().note  # type: ignore[union-attr]
    open_checkpoint(note, [new.verifier], ORIGIN)
    from farmtrace.cli import main

    assert main(["audit", "--db", db_url, "--state", str(state)]) == 0
    assert main(["audit", "--db", db_url, "--key", new.verifier.vkey]) == 1  # size 1: old key
    assert main(["audit", "--db", db_url, "--key", old, "--key", new.verifier.vkey]) == 0
