"""``Ledger.append_batches`` (many blocks in one transaction) writes exactly what
``append_batch`` writes block by block, and the bench's fast builder that uses it makes a chain
the auditor accepts: same entries, block headers, run roots, chain log tiles and checkpoint
notes (the same checkpoint key and clock on both sides)."""

from __future__ import annotations

import shutil
import sqlite3
import types
from pathlib import Path

import pytest

from farmtrace.audit import run_audit
from farmtrace.bench import proofs
from farmtrace.store.keys import KEY_FILE
from farmtrace.store.ledger import Ledger
from farmtrace.store.reader import ChainReader
from farmtrace.store.records import PendingReading
from farmtrace.tlog.note import Verifier

_NOW = 1_767_225_600.5

# Everything the chain is made of; not the wall-clock columns (signed_at, added_at).
_TABLES = {
    "entries": "global_index, block_height, index_in_block, kind, device_id, seq, "
    "timestamp_ms, received_at, payload",
    "blocks": "height, header, first_index, size, time_ms",
    "block_hashes": "height, level, hashes",
    "log_tiles": "level, tile_index, hashes",
    "checkpoints": "size, note",
}


@pytest.fixture(autouse=True)
def _still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ledgers seal at the same instant, so their headers and notes can be equal."""
    monkeypatch.setattr("farmtrace.store.ledger.time", types.SimpleNamespace(time=lambda: _NOW))
    monkeypatch.setattr(
        "farmtrace.bench.proofs.time",
        types.SimpleNamespace(time=lambda: _NOW, monotonic=lambda: 0.0),
    )


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2").fetchall()
            for table, columns in _TABLES.items()
        }


def _entry_order(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [n for (n,) in conn.execute("SELECT global_index FROM entries ORDER BY rowid")]


def _reading(device: int, seq: int) -> PendingReading:
    """Device ``device``'s reading number ``seq + 1`` (of three devices), signed."""
    n = seq * 3 + device
    device_id, number, timestamp_ms, payload = proofs._sign_range((n, n + 1, 3))[0]
    return PendingReading(device_id, number, timestamp_ms, payload, _NOW)


@pytest.mark.slow
def test_fast_builder_makes_the_chain_append_batch_makes(tmp_path: Path) -> None:
    readings, low, high, devices = 640, 1, 3, 5  # about 320 blocks: one full chain log tile
    fast = proofs.prepare(tmp_path / "fast", readings, low, high, devices, workers=1)
    fast_state = tmp_path / "fast" / f"gateway-{fast.stem}"

    # The same readings through the gateway's path, one append_batch per block, same key.
    reference = tmp_path / "reference.db"
    reference_state = tmp_path / "reference-state"
    reference_state.mkdir(mode=0o700)
    shutil.copy2(fast_state / KEY_FILE, reference_state / KEY_FILE)
    signed = proofs._sign_range((0, readings, devices))
    with Ledger.open(f"sqlite:///{reference}", reference_state, proofs.ORIGIN) as ledger:
        ledger.register_devices(
            {
                f"bench-{d:04d}": proofs._device_key(f"bench-{d:04d}")
                .public_key()
                .public_bytes_raw()
                for d in range(devices)
            }
        )
        at = 0
        for size in proofs.block_sizes(readings, low, high):
            block = signed[at : at + size]
            at += size
            ledger.append_batch([PendingReading(d, q, t, p, _NOW) for d, q, t, p in block])
        vkey = ledger.verifier_key

    built, expected = _rows(fast), _rows(reference)
    assert len(expected["log_tiles"]) == 1 and len(expected["blocks"]) > 256
    assert len(expected["entries"]) == readings
    for table in _TABLES:
        assert built[table] == expected[table], table
    # Laid out alike too: a block's entries side by side, as a proof reads them.
    assert _entry_order(fast) == _entry_order(reference)

    # The normal verifiers accept it: the auditor, the ledger's own load, and stored proofs.
    recorded = (fast_state / "checkpoint").read_text()
    report = run_audit(f"sqlite:///{fast}", [Verifier.from_vkey(vkey)], [recorded])
    assert report.ok, report
    assert report.readings == readings
    with Ledger.open(f"sqlite:///{fast}", fast_state, proofs.ORIGIN) as reopened:
        assert reopened.entry_count == readings
    stored = ChainReader.open(f"sqlite:///{fast}", proofs.ORIGIN, stored_hashes=True)
    rebuilt = ChainReader.open(f"sqlite:///{fast}", proofs.ORIGIN, stored_hashes=False)
    try:
        for index in (0, 7, 8, 255, 317, readings - 1):
            assert stored.reading_proof(index) == rebuilt.reading_proof(index)
    finally:
        stored.close()
        rebuilt.close()


def test_append_batches_drops_duplicates_as_append_batch_does(tmp_path: Path) -> None:
    a, b, c, d = (_reading(0, 0), _reading(1, 0), _reading(0, 1), _reading(2, 0))
    with Ledger.open(f"sqlite:///{tmp_path / 'db'}", tmp_path / "state", proofs.ORIGIN) as ledger:
        first = ledger.append_batch([a])
        results = ledger.append_batches([[a, b, b], [b, c], [], [a], [d]])
        assert first.block is not None and first.block.height == 0
        assert [r.block.height if r.block else None for r in results] == [1, 2, None, None, 3]
        assert [r.accepted for r in results] == [1, 1, 0, 0, 1]
        assert results[0].duplicates == (("bench-0001", 1), ("bench-0000", 1))
        assert results[1].duplicates == (("bench-0001", 1),)
        assert results[3].duplicates == (("bench-0000", 1),)
        assert ledger.entry_count == 4 and ledger.size == 4
        assert results[-1].checkpoint == (tmp_path / "state" / "checkpoint").read_text()
    # Reopening checks the chain against the last checkpoint recorded.
    with Ledger.open(f"sqlite:///{tmp_path / 'db'}", tmp_path / "state", proofs.ORIGIN) as again:
        assert again.entry_count == 4
