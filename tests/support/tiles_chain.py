"""Chains of several hundred blocks for the tiles tests (tests/tiles, tests/interop)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farmtrace.store.ledger import Ledger
from support.readings import batch, devices

ORIGIN = "farmtrace.example/tiles-test"


@dataclass(frozen=True)
class BuiltChain:
    db_url: str
    state: Path
    vkey: str
    blocks: int
    device_keys: dict[str, bytes]


def build_chain(db_url: str, state: Path, blocks: int, per_block: int = 3) -> BuiltChain:
    """``blocks`` blocks of ``per_block`` readings from 3 devices, and every few blocks a
    bigger one (300 readings), so that batches span more than one tile."""
    devs = devices(3)
    seq = 1
    with Ledger.open(db_url, state, ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        for height in range(blocks):
            count = 100 if height % 97 == 5 else per_block
            ledger.append_batch(batch(devs, range(seq, seq + count)))
            seq += count
        vkey = ledger.verifier_key
    return BuiltChain(db_url, state, vkey, blocks, {d.device_id: d.public_key for d in devs})
