"""Stored hashes of a block's batch tree, and inclusion proofs built from them.

A block's batch is an RFC 9162 tree over its entries. Cut into aligned runs of ``RUN`` (8)
entries, the tree is the tree over the runs' roots: every split point of a tree of more than
``RUN`` leaves is a power of two of at least ``RUN``, so no run is ever split (the last run may
be shorter, and is then its own smaller tree). An entry's audit path is therefore its path
inside its run followed by its run's path in the tree over the run roots.

The ledger stores each block's run roots when it seals the block (``block_hashes``, revision
0010: 32 bytes per 8 entries); :func:`run_proof` then proves an entry from the entries of its
run alone, and checks on the way that those entries and the stored hashes give the header's
sealed root. ``farmtrace.tlog.merkle`` is the plain-Python reference the tests hold this to.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate

from sqlalchemy import Connection, insert

from farmtrace.rust_core import MerkleTree
from farmtrace.store.models import Base

__all__ = ["RUN", "RUN_LEVEL", "RunProof", "insert_run_roots", "run_proof", "run_roots"]

BLOCK_HASHES = Base.metadata.tables["block_hashes"]

RUN_LEVEL = 3
RUN = 1 << RUN_LEVEL
"""Entries per run: the stored hashes are the roots of aligned runs of this many entries."""

_HASH = 32


def run_roots(leaf_hashes: bytes) -> bytes:
    """The roots of the aligned runs of ``RUN`` leaves of a batch, given its leaf hashes back to
    back (``MerkleTree.leaf_hashes()``), back to back in run order."""
    step = RUN * _HASH
    return b"".join(
        MerkleTree.from_leaf_hash_buffer(leaf_hashes[at : at + step], threads=1).root
        for at in range(0, len(leaf_hashes), step)
    )


def insert_run_roots(conn: Connection, chain_id: int, blocks: Sequence[tuple[int, bytes]]) -> None:
    """Store the run roots of each ``(height, leaf_hashes)`` block, in the caller's
    transaction (one statement for all of them)."""
    if not blocks:
        return
    conn.execute(
        insert(BLOCK_HASHES),
        [
            {
                "chain_id": chain_id,
                "height": height,
                "level": RUN_LEVEL,
                "hashes": run_roots(leaf_hashes),
            }
            for height, leaf_hashes in blocks
        ],
    )


RunProof = list[bytes]
"""An RFC 9162 audit path, leaf level first."""


def run_proof(
    index_in_block: int,
    block_size: int,
    block_root: bytes,
    run_entries: list[bytes],
    roots: bytes,
) -> RunProof | None:
    """The inclusion proof of entry ``index_in_block`` of a block of ``block_size`` entries,
    from the entries of its run (``run_entries``, in order) and the block's stored run
    ``roots``; ``None`` unless they check: the run has the right number of entries, its root is
    the stored one, there is one stored root per run and they hash to ``block_root``.

    ``None`` means "prove it from the whole block instead" (which names any mismatch).
    """
    runs = -(-block_size // RUN)
    run, offset = divmod(index_in_block, RUN)
    expected = min(RUN, block_size - run * RUN)
    if len(roots) != runs * _HASH or not 0 <= run < runs or len(run_entries) != expected:
        return None
    offsets = array("Q", accumulate(map(len, run_entries), initial=0))
    inner = MerkleTree.from_buffer(b"".join(run_entries), offsets, threads=1)
    if inner.root != roots[run * _HASH : (run + 1) * _HASH]:
        return None
    outer = MerkleTree.from_leaf_hash_buffer(roots, threads=1)
    if outer.root != block_root:
        return None
    return inner.inclusion_proof(offset) + outer.inclusion_proof(run)
