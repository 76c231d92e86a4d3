"""The chain log: the RFC 9162 tree whose entries are the block headers, kept as a compact range.

A gateway appends one block at a time and must, before signing each checkpoint, check that the
new tree is consistent with the one it signed last. Keeping every leaf hash and rebuilding the
tree for that would cost O(blocks) per block. :class:`ChainLog` instead keeps only the
*frontier*: the roots of the maximal perfect subtrees that make up the tree, at most one per bit
of the size (so at most 64 hashes). From the frontier of size ``m`` and the new leaves it can
compute the root of size ``n`` and the RFC 9162 consistency proof from ``m`` to ``n``, because
every node such a proof needs is either a frontier node of ``m`` (or a right-to-left fold of a
run of them) or a subtree of the new leaves. The proof is then checked with an independent RFC
9162 verifier before anything is signed.

Leaves are given as leaf hashes (the block hashes, ``SHA-256(0x00 || header)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from farmtrace.chain.errors import ChainLogError

__all__ = ["EMPTY_ROOT", "ChainLog", "SubtreeRoot"]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 9162 root of the empty tree."""

SubtreeRoot = Callable[[Sequence[bytes]], bytes]
"""Computes the RFC 9162 root over a run of leaf hashes (used to build a frontier quickly)."""

_HASH_SIZE = 32


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _reference_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


@dataclass(frozen=True, slots=True)
class _Node:
    start: int
    end: int
    hash: bytes


class ChainLog:
    """An append-only RFC 9162 tree held as its frontier; immutable (``extend`` returns a new one).

    ``ChainLog()`` is the empty log; :meth:`from_leaf_hashes` builds one from stored leaves.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, frontier: Sequence[tuple[int, int, bytes]] = ()) -> None:
        nodes = tuple(_Node(s, e, h) for s, e, h in frontier)
        position = 0
        previous_width = 2**64
        for node in nodes:
            width = node.end - node.start
            if (
                node.start != position
                or width <= 0
                or width & (width - 1)
                or width >= previous_width
                or len(node.hash) != _HASH_SIZE
            ):
                raise ChainLogError("frontier nodes must be decreasing aligned powers of two")
            position, previous_width = node.end, width
        self._frontier = nodes
        self._size = position

    @classmethod
    def from_leaf_hashes(
        cls, leaves: Sequence[bytes], subtree_root: SubtreeRoot | None = None
    ) -> ChainLog:
        """The log of ``leaves``; ``subtree_root`` (e.g. a rust_core tree) speeds up big logs."""
        if any(len(leaf) != _HASH_SIZE for leaf in leaves):
            raise ChainLogError("every leaf hash must be 32 bytes")
        root_of = subtree_root or _reference_root
        frontier = []
        start = 0
        remaining = len(leaves)
        while remaining:
            width = 1 << (remaining.bit_length() - 1)
            frontier.append((start, start + width, root_of(leaves[start : start + width])))
            start += width
            remaining -= width
        return cls(frontier)

    @property
    def size(self) -> int:
        """The number of leaves (blocks)."""
        return self._size

    @property
    def root(self) -> bytes:
        """The RFC 9162 root hash of the log."""
        if not self._frontier:
            return EMPTY_ROOT
        return self._fold(0)

    @property
    def frontier(self) -> tuple[tuple[int, int, bytes], ...]:
        """The frontier as ``(start, end, hash)`` triples, left to right."""
        return tuple((n.start, n.end, n.hash) for n in self._frontier)

    def extend(self, leaves: Sequence[bytes]) -> tuple[ChainLog, list[bytes]]:
        """Append leaf hashes; return the new log and the consistency proof from this size.

        The proof is the RFC 9162 ``PROOF(m, D[n])`` with ``m = self.size``; it is empty when
        this log is empty (there is nothing to be consistent with) or ``leaves`` is empty.
        """
        if any(len(leaf) != _HASH_SIZE for leaf in leaves):
            raise ChainLogError("every leaf hash must be 32 bytes")
        m, n = self._size, self._size + len(leaves)
        new_leaves = list(leaves)

        def mth(lo: int, hi: int) -> bytes:
            if hi <= m:
                return self._range_root(lo, hi)
            if lo >= m:
                return _reference_root(new_leaves[lo - m : hi - m])
            k = _split(hi - lo)
            return _node(mth(lo, lo + k), mth(lo + k, hi))

        def subproof(count: int, lo: int, hi: int, complete: bool) -> list[bytes]:
            if count == hi - lo:
                return [] if complete else [mth(lo, hi)]
            k = _split(hi - lo)
            if count <= k:
                return [*subproof(count, lo, lo + k, complete), mth(lo + k, hi)]
            return [*subproof(count - k, lo + k, hi, False), mth(lo, lo + k)]

        proof = subproof(m, 0, n, True) if 0 < m < n else []
        frontier = list(self._frontier)
        for index, leaf in enumerate(new_leaves, start=m):
            node = _Node(index, index + 1, leaf)
            while frontier and frontier[-1].end - frontier[-1].start == node.end - node.start:
                left = frontier.pop()
                node = _Node(left.start, node.end, _node(left.hash, node.hash))
            frontier.append(node)
        return ChainLog([(x.start, x.end, x.hash) for x in frontier]), proof

    def _range_root(self, lo: int, hi: int) -> bytes:
        """MTH of ``[lo, hi)`` where that range is one frontier node or runs from one to the end."""
        for position, node in enumerate(self._frontier):
            if node.start == lo:
                if node.end == hi:
                    return node.hash
                if hi == self._size:
                    return self._fold(position)
        raise ChainLogError(f"range [{lo}, {hi}) is not covered by the frontier")

    def _fold(self, first: int) -> bytes:
        acc = self._frontier[-1].hash
        for node in reversed(self._frontier[first:-1]):
            acc = _node(node.hash, acc)
        return acc

    def __repr__(self) -> str:
        return f"ChainLog(size={self._size}, root={self.root.hex()})"
