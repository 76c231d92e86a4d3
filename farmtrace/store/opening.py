"""Loading a chain at start-up and refusing one that does not match what the gateway signed.

:func:`load_chain` reads every block header of the chain with its look-up columns, checks that
they form a chain (heights from 0, each ``previous`` the hash of the block before, entry indexes
contiguous, the right origin, the columns equal to the header's fields), rebuilds the chain log,
and checks it against

* the newest checkpoint stored in the database, which must verify with one of the gateway's
  keys and match the log exactly (size and root), with one stored checkpoint per chain-log
  size (a count, the lowest and the highest);
* the checkpoint the gateway itself recorded in its state directory after its last commit,
  which must be a prefix of the stored log (the database may be ahead of it after a crash
  between commit and file write, never behind it or different);
* the entries: as many as the blocks cover, indexed from 0 without a hole (a count, the lowest
  and the highest index: a deleted entry anywhere is caught), and every block since the last
  checkpoint the gateway recorded (at least the newest) recomputed from its entries: each in
  its place, its ``kind`` column agreeing with its bytes, the batch root equal to the header's;
* the chain's recorded verifier keys (``chain_keys``): each must be one of the gateway's own
  (current or retired), the only keys that ever sign this chain.

Any difference raises :class:`ChainMismatchError` naming it. The full recomputation of every
leaf and signature is the audit's job (``farmtrace audit``); start-up reads the headers once,
counts, and the tail's entries (docs/tamper-matrix.md lists which check catches what).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.chain.entry import KIND_PREFIXES, kind_of
from farmtrace.chain.errors import BlockHeaderError
from farmtrace.chain.log import ChainLog
from farmtrace.rust_core import MerkleTree
from farmtrace.store.chain_keys import recorded_keys
from farmtrace.store.errors import ChainMismatchError
from farmtrace.store.reader import BLOCKS, CHECKPOINTS, ENTRIES, batch_tree
from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["LoadedChain", "load_chain"]

_PREFIX_BYTES = max(len(prefix) for prefix in KIND_PREFIXES.values())
"""An entry's kind depends on its first bytes only: one check per distinct prefix and column."""


@dataclass(frozen=True, slots=True)
class LoadedChain:
    """The verified state of a chain: its last block and that block's hash, the chain log, the
    last checkpoint and the number of entries."""

    head: BlockHeader | None
    head_hash: bytes
    log: ChainLog
    checkpoint: SignedCheckpoint | None
    entry_count: int


def load_chain(
    conn: Connection,
    chain_id: int,
    origin: str,
    verifiers: Sequence[Verifier],
    recorded_checkpoint: str | None,
) -> LoadedChain:
    """Load and check chain ``chain_id`` (see the module docstring); raise on any mismatch."""
    rows = conn.execute(
        select(
            BLOCKS.c.height, BLOCKS.c.header, BLOCKS.c.first_index, BLOCKS.c.size, BLOCKS.c.time_ms
        )
        .where(BLOCKS.c.chain_id == chain_id)
        .order_by(BLOCKS.c.height)
    ).all()
    raw = [bytes(row.header) for row in rows]
    tree = MerkleTree.from_entries(raw)
    headers = _check_links(rows, raw, tree, origin)
    head = headers[-1] if headers else None
    log = ChainLog.from_leaf_hashes(
        [tree.leaf_hash(i) for i in range(tree.size)],
        lambda run: MerkleTree.from_leaf_hash_buffer(b"".join(run)).root,
    )
    checkpoint = _check_latest_checkpoint(conn, chain_id, origin, verifiers, tree)
    _check_columns(rows, headers, origin)
    _check_checkpoint_count(conn, chain_id, origin, tree.size)
    entry_count = _check_entries(conn, chain_id, origin, head)
    recorded_size = 0
    if recorded_checkpoint is not None:
        recorded_size = _check_recorded(recorded_checkpoint, origin, verifiers, tree)
    for header in headers[max(0, min(recorded_size, len(headers)) - 1) :]:
        _check_block_entries(conn, chain_id, origin, header)
    _check_recorded_keys(conn, chain_id, origin, verifiers)
    head_hash = tree.leaf_hash(tree.size - 1) if tree.size else GENESIS_PREVIOUS
    return LoadedChain(head, head_hash, log, checkpoint, entry_count)


def _check_links(
    rows: Sequence[Any], raw: list[bytes], tree: MerkleTree, origin: str
) -> list[BlockHeader]:
    previous_hash, next_index = GENESIS_PREVIOUS, 0
    headers: list[BlockHeader] = []
    for height, (row, data) in enumerate(zip(rows, raw, strict=True)):
        if row.height != height:
            raise ChainMismatchError(f"chain {origin}: block {height} is missing")
        try:
            header = BlockHeader.parse(data)
        except BlockHeaderError as exc:
            raise ChainMismatchError(
                f"chain {origin}: block {height} is malformed: {exc}"
            ) from None
        problem = None
        if header.height != height:
            problem = f"has height {header.height}"
        elif header.origin != origin:
            problem = f"names origin {header.origin!r}"
        elif header.previous != previous_hash:
            problem = "does not link to the hash of the block before it"
        elif header.first_index != next_index:
            problem = f"starts at entry {header.first_index}, not {next_index}"
        elif headers and header.time_ms < headers[-1].time_ms:
            problem = f"has time {header.time_ms}, before the block before it"
        if problem:
            raise ChainMismatchError(f"chain {origin}: block {height} {problem}")
        previous_hash, next_index = tree.leaf_hash(height), header.next_index
        headers.append(header)
    return headers


def _check_columns(rows: Sequence[Any], headers: list[BlockHeader], origin: str) -> None:
    """The blocks' look-up columns (which proofs and the API read) equal their headers'."""
    for row, header in zip(rows, headers, strict=True):
        for column, value in (
            ("first_index", header.first_index),
            ("size", header.size),
            ("time_ms", header.time_ms),
        ):
            if getattr(row, column) != value:
                raise ChainMismatchError(
                    f"chain {origin}: block {header.height} column {column}="
                    f"{getattr(row, column)} disagrees with its header ({value})"
                )


def _check_checkpoint_count(conn: Connection, chain_id: int, origin: str, blocks: int) -> None:
    """One stored checkpoint per chain-log size 1..blocks (the newest was checked already)."""
    count, lowest, highest = conn.execute(
        select(func.count(), func.min(CHECKPOINTS.c.size), func.max(CHECKPOINTS.c.size)).where(
            CHECKPOINTS.c.chain_id == chain_id
        )
    ).one()
    if blocks and (int(count) != blocks or lowest != 1 or highest != blocks):
        raise ChainMismatchError(
            f"chain {origin}: {count} checkpoints stored for sizes {lowest}..{highest}, but "
            f"{blocks} blocks need one for each size 1..{blocks} (checkpoints deleted?)"
        )


def _check_block_entries(conn: Connection, chain_id: int, origin: str, header: BlockHeader) -> None:
    """Recompute block ``header`` from its entries: each in its place, its kind column agreeing
    with its bytes, and the batch root equal to the header's."""
    rows = conn.execute(
        select(
            ENTRIES.c.global_index,
            ENTRIES.c.block_height,
            ENTRIES.c.index_in_block,
            ENTRIES.c.kind,
            ENTRIES.c.payload,
        )
        .where(
            ENTRIES.c.chain_id == chain_id,
            ENTRIES.c.global_index >= header.first_index,
            ENTRIES.c.global_index < header.next_index,
        )
        .order_by(ENTRIES.c.global_index)
    )
    payloads: list[bytes] = []
    where = f"chain {origin}: block {header.height}"
    height, first = header.height, header.first_index
    kinds: dict[tuple[str, bytes], bool] = {}  # (kind column, first bytes) already checked
    for position, (index, block_height, in_block, kind, payload) in enumerate(rows.all()):
        if index != first + position:
            raise ChainMismatchError(f"{where}: entry {first + position} is missing")
        if block_height != height or in_block != position:
            raise ChainMismatchError(
                f"{where}: entry {index} is stored as block {block_height} position "
                f"{in_block}, not position {position}"
            )
        payload = bytes(payload)
        seen = (kind, payload[:_PREFIX_BYTES])
        if seen not in kinds:
            if kind_of(payload) != kind:
                raise ChainMismatchError(
                    f"{where}: entry {index} has kind column {kind!r} but its bytes are "
                    f"{kind_of(payload)!r}"
                )
            kinds[seen] = True
        payloads.append(payload)
    if len(payloads) != header.size:
        raise ChainMismatchError(
            f"{where}: {len(payloads)} of its {header.size} entries are stored"
        )
    if batch_tree(payloads).root != header.root:
        raise ChainMismatchError(
            f"{where}: its entries ({header.first_index}..{header.next_index - 1}) do not hash "
            "to the batch root in its header (an entry was changed)"
        )


def _check_recorded_keys(
    conn: Connection, chain_id: int, origin: str, verifiers: Sequence[Verifier]
) -> None:
    """Every key recorded for this chain is one of the gateway's: it alone signs the chain."""
    own = {v.vkey for v in verifiers}
    for vkey in recorded_keys(conn, chain_id):
        if vkey not in own:
            raise ChainMismatchError(
                f"chain {origin}: chain_keys lists {vkey!r}, which is not one of this gateway's "
                "checkpoint keys (current or retired): the recorded keys were changed"
            )


def _check_latest_checkpoint(
    conn: Connection,
    chain_id: int,
    origin: str,
    verifiers: Sequence[Verifier],
    tree: MerkleTree,
) -> SignedCheckpoint | None:
    note = conn.execute(
        select(CHECKPOINTS.c.note)
        .where(CHECKPOINTS.c.chain_id == chain_id)
        .order_by(CHECKPOINTS.c.size.desc())
        .limit(1)
    ).scalar()
    if note is None:
        if tree.size:
            raise ChainMismatchError(
                f"chain {origin}: {tree.size} blocks stored but no signed checkpoint"
            )
        return None
    try:
        signed = open_checkpoint(note, verifiers, origin)
    except TlogError as exc:
        keys = ", ".join(v.vkey for v in verifiers)
        raise ChainMismatchError(
            f"chain {origin}: the newest stored checkpoint does not verify with this gateway's "
            f"key(s) [{keys}]: {exc}"
        ) from None
    size = signed.checkpoint.size
    if size != tree.size:
        raise ChainMismatchError(
            f"chain {origin}: {tree.size} blocks stored but the newest signed checkpoint covers "
            f"{size}" + (": blocks are missing" if size > tree.size else ": unsigned blocks")
        )
    if signed.checkpoint.root != tree.root:
        height = _first_unsigned_change(conn, chain_id, tree)
        raise ChainMismatchError(
            f"chain {origin}: stored blocks do not match the signed checkpoint of size {size}; "
            f"block {height} differs from what was signed"
        )
    return signed


def _first_unsigned_change(conn: Connection, chain_id: int, tree: MerkleTree) -> int:
    """The height of the first block whose checkpoint root no longer matches the stored log."""
    rows = conn.execute(
        select(CHECKPOINTS.c.size, CHECKPOINTS.c.note)
        .where(CHECKPOINTS.c.chain_id == chain_id)
        .order_by(CHECKPOINTS.c.size)
    )
    for size, note in rows:
        try:
            body = note[: note.rindex("\n\n") + 1]
            root_line = body.split("\n")[2]
        except (ValueError, IndexError):
            return int(size) - 1
        if 0 < size <= tree.size and root_line != _b64(tree.root_at(size)):
            return int(size) - 1
    return tree.size - 1


def _check_entries(conn: Connection, chain_id: int, origin: str, head: BlockHeader | None) -> int:
    """As many entries as the blocks cover, indexed 0..n-1: a count, the lowest and the highest
    index (each an index look-up), so a deleted entry anywhere in the chain is caught."""
    # Three statements: together, SQLite aggregates min and max over the whole index instead
    # of looking each up at one end of it (0.13-0.19 s against 0.05-0.08 s for 1 M entries).
    of_chain = ENTRIES.c.chain_id == chain_id
    count = conn.execute(select(func.count()).select_from(ENTRIES).where(of_chain)).scalar_one()
    lowest = conn.execute(select(func.min(ENTRIES.c.global_index)).where(of_chain)).scalar()
    top = conn.execute(select(func.max(ENTRIES.c.global_index)).where(of_chain)).scalar()
    stored = 0 if top is None else int(top) + 1
    expected = 0 if head is None else head.next_index
    if stored != expected:
        raise ChainMismatchError(
            f"chain {origin}: entries run to index {stored - 1} but the blocks cover "
            f"{expected} entries"
        )
    if int(count) != expected or (expected and lowest != 0):
        raise ChainMismatchError(
            f"chain {origin}: {count} entries stored but the blocks cover {expected} "
            f"(indexes {lowest}..{top}): entries are missing (deleted?)"
        )
    return expected


def _check_recorded(note: str, origin: str, verifiers: Sequence[Verifier], tree: MerkleTree) -> int:
    """Check the state directory's checkpoint against the stored log; return its size."""
    try:
        recorded = open_checkpoint(note, verifiers, origin).checkpoint
    except TlogError as exc:
        raise ChainMismatchError(
            f"chain {origin}: the checkpoint recorded in the state directory does not verify: {exc}"
        ) from None
    if recorded.size > tree.size:
        raise ChainMismatchError(
            f"chain {origin}: this gateway signed a checkpoint of size {recorded.size} but the "
            f"database holds only {tree.size} blocks: blocks {tree.size}..{recorded.size - 1} "
            "are missing (database restored from an older backup, or rows deleted?)"
        )
    if recorded.size and tree.root_at(recorded.size) != recorded.root:
        raise ChainMismatchError(
            f"chain {origin}: the first {recorded.size} stored blocks differ from the checkpoint "
            "of that size this gateway signed (the stored chain was rewritten)"
        )
    return recorded.size


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
