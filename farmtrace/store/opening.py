"""Loading a chain at start-up and refusing one that does not match what the gateway signed.

:func:`load_chain` reads every block header of the chain, checks that they form a chain
(heights from 0, each ``previous`` the hash of the block before, entry indexes contiguous, the
right origin), rebuilds the chain log, and checks it against

* the newest checkpoint stored in the database, which must verify with one of the gateway's
  keys and match the log exactly (size and root), and
* the checkpoint the gateway itself recorded in its state directory after its last commit,
  which must be a prefix of the stored log (the database may be ahead of it after a crash
  between commit and file write, never behind it or different).

Any difference raises :class:`ChainMismatchError` naming it. The full recomputation of every
leaf is the audit's job (``farmtrace audit``); start-up checks what it can in about one pass
over the block headers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.chain.errors import BlockHeaderError
from farmtrace.chain.log import ChainLog
from farmtrace.rust_core import MerkleTree
from farmtrace.store.errors import ChainMismatchError
from farmtrace.store.reader import BLOCKS, CHECKPOINTS, ENTRIES
from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["LoadedChain", "load_chain"]


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
    raw = [
        bytes(h)
        for (h,) in conn.execute(
            select(BLOCKS.c.header).where(BLOCKS.c.chain_id == chain_id).order_by(BLOCKS.c.height)
        )
    ]
    tree = MerkleTree.from_entries(raw)
    head = _check_links(raw, tree, origin)
    log = ChainLog.from_leaf_hashes(
        [tree.leaf_hash(i) for i in range(tree.size)],
        lambda run: MerkleTree.from_leaf_hash_buffer(b"".join(run)).root,
    )
    checkpoint = _check_latest_checkpoint(conn, chain_id, origin, verifiers, tree)
    entry_count = _check_entries(conn, chain_id, origin, head)
    if recorded_checkpoint is not None:
        _check_recorded(recorded_checkpoint, origin, verifiers, tree)
    head_hash = tree.leaf_hash(tree.size - 1) if tree.size else GENESIS_PREVIOUS
    return LoadedChain(head, head_hash, log, checkpoint, entry_count)


def _check_links(raw: list[bytes], tree: MerkleTree, origin: str) -> BlockHeader | None:
    previous_hash, next_index, head = GENESIS_PREVIOUS, 0, None
    for height, data in enumerate(raw):
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
        elif head is not None and header.time_ms < head.time_ms:
            problem = f"has time {header.time_ms}, before the block before it"
        if problem:
            raise ChainMismatchError(f"chain {origin}: block {height} {problem}")
        previous_hash, next_index, head = tree.leaf_hash(height), header.next_index, header
    return head


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
    top = conn.execute(
        select(func.max(ENTRIES.c.global_index)).where(ENTRIES.c.chain_id == chain_id)
    ).scalar()
    stored = 0 if top is None else int(top) + 1
    expected = 0 if head is None else head.next_index
    if stored != expected:
        raise ChainMismatchError(
            f"chain {origin}: entries run to index {stored - 1} but the blocks cover "
            f"{expected} entries"
        )
    return expected


def _check_recorded(
    note: str, origin: str, verifiers: Sequence[Verifier], tree: MerkleTree
) -> None:
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


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
