"""RFC 9162 Merkle trees in plain Python: the reference that offline verification relies on.

This module is deliberately small and written to be audited against the RFC text rather than to
be fast (the gateway builds its trees with the ``rust_core`` extension; the test-suite checks that
both agree). It uses nothing but :mod:`hashlib`.

Hashing (RFC 9162 §2.1.1)::

    leaf hash   = SHA-256(0x00 || entry)
    node hash   = SHA-256(0x01 || left || right)
    MTH({})     = SHA-256("")
    MTH(D[n])   = node hash(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n

Proofs are lists of 32-byte hashes, the leaf's sibling (the lowest level) first, exactly as
RFC 9162 §2.1.3.1 (``PATH``) and §2.1.4.1 (``PROOF``/``SUBPROOF``) produce them.

Verification judges untrusted input, so it answers ``True`` or ``False`` and never raises for a
value: a proof that does not check, whatever the reason (wrong length, a hash that is not 32
bytes, ``index >= size``, a negative or too large size, ``size1 > size2``...), gives ``False``.
It raises only :class:`TypeError`, for an argument of the wrong type. Building trees and proofs
is different: a bad argument there is the caller's bug and raises an error from
:mod:`farmtrace.tlog.errors`. ``rust_core`` follows the same contract; the tests hold both to it.

Rules beyond the RFC text, shared with ``rust_core`` and the transparency-dev test vectors:

* A consistency proof *from* an empty tree (``size1 == 0``) is rejected, even ``0 -> 0``:
  every tree is trivially an extension of the empty tree, so such a "proof" proves nothing and
  a caller that asks for one has a bug. :meth:`MerkleTree.consistency_proof` raises for it.
* Between equal sizes the proof must be empty and the two roots byte-for-byte equal; as in
  transparency-dev's verifier, nothing else is asked of the roots then (one vector checks this
  with 12-byte placeholder roots).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from farmtrace.tlog.errors import IndexOutOfRange, InvalidHashLength, InvalidTreeSize

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes and indices are unsigned 64-bit integers (RFC 9162 §4.1, C2SP tlog-checkpoint)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of the tree with no leaves: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


# --------------------------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 hash of one log entry: SHA-256(0x00 || entry)."""
    if not isinstance(entry, bytes | bytearray | memoryview):
        raise TypeError(f"entry must be bytes, not {type(entry).__name__}")
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 hash of an interior node: SHA-256(0x01 || left || right).

    Raises :class:`InvalidHashLength` unless both children are 32-byte hashes.
    """
    _require_hash("left", left)
    _require_hash("right", right)
    return _hash_children(left, right)


def _hash_children(left: bytes, right: bytes) -> bytes:
    # Unchecked: callers have already established that both are 32-byte hashes.
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) of RFC 9162 §2.1.1, for ``0 <= start < end <= len(leaves)``."""
    n = end - start
    if n == 1:
        return leaves[start]
    # _split_point and _hash_children written out: this is the hot loop of the whole module,
    # and the benchmark compares rust_core against it.
    k = 1 << ((n - 1).bit_length() - 1)
    left = _subtree_root(leaves, start, start + k)
    right = _subtree_root(leaves, start + k, end)
    return _sha256(_NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------------------------
# Building trees and proofs
# --------------------------------------------------------------------------------------------


class MerkleTree:
    """An immutable RFC 9162 tree over a fixed list of leaf hashes, kept in memory.

    Build one with :meth:`from_entries` or :meth:`from_leaf_hashes`. Proofs are recomputed from
    the leaves on each call (O(n) work each), which is fine for a reference and for tests.
    """

    __slots__ = ("_leaves", "_root")

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        """Build a tree from leaf hashes; same as :meth:`from_leaf_hashes`."""
        leaves = tuple(leaf_hashes)
        for i, h in enumerate(leaves):
            _require_hash(f"leaf hash [{i}]", h)
        self._leaves: tuple[bytes, ...] = tuple(bytes(h) for h in leaves)
        self._root: bytes | None = None

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> MerkleTree:
        """Build the tree whose leaves are the RFC 9162 leaf hashes of ``entries``, in order."""
        items = entries if isinstance(entries, Sequence) else tuple(entries)
        try:
            # leaf_hash written out, as in _subtree_root.
            leaves = tuple([_sha256(_LEAF_PREFIX + e).digest() for e in items])
        except TypeError:
            for i, e in enumerate(items):
                if not isinstance(e, bytes | bytearray | memoryview):
                    raise TypeError(f"entries[{i}] must be bytes, not {type(e).__name__}") from None
            raise
        tree = cls.__new__(cls)
        # These hashes come from leaf_hash itself, so they skip __init__'s length checks.
        tree._leaves = leaves
        tree._root = None
        return tree

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> MerkleTree:
        """Build a tree from already computed leaf hashes, each exactly 32 bytes.

        Raises :class:`InvalidHashLength` naming the first hash of the wrong length.
        """
        return cls(hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._leaves)

    @property
    def root(self) -> bytes:
        """MTH of all leaves (``EMPTY_ROOT`` for an empty tree)."""
        if self._root is None:
            self._root = self.root_at(self.size)
        return self._root

    def root_at(self, size: int) -> bytes:
        """The root of the tree made of the first ``size`` leaves, ``0 <= size <= self.size``."""
        self._require_size_within("size", size)
        return EMPTY_ROOT if size == 0 else _subtree_root(self._leaves, 0, size)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``; raises :class:`IndexOutOfRange` outside the tree."""
        self._require_index(index)
        return self._leaves[index]

    def leaf_hashes(self) -> bytes:
        """All leaf hashes concatenated in order: ``32 * size`` bytes."""
        return b"".join(self._leaves)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index`` (RFC 9162 §2.1.3.1), its sibling first."""
        self._require_index(index)
        return _path(self._leaves, index, 0, self.size)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """The proof that this tree extends its first ``old_size`` leaves (RFC 9162 §2.1.4.1).

        Requires ``1 <= old_size <= self.size`` (raises :class:`InvalidTreeSize` otherwise; see
        the module docstring for why size 0 is refused). Empty when ``old_size == self.size``.
        """
        self._require_size_within("old_size", old_size)
        if old_size == 0:
            raise InvalidTreeSize(
                f"tree size 0 is invalid for a tree of size {self.size}: "
                "a consistency proof needs an old size of at least 1"
            )
        if old_size == self.size:
            return []
        return _subproof(self._leaves, old_size, 0, self.size, old_root_known=True)

    def _require_index(self, index: int) -> None:
        _require_int("index", index)
        if not 0 <= index < self.size:
            raise IndexOutOfRange(
                f"leaf index {index} is out of range for a tree of size {self.size}"
            )

    def _require_size_within(self, name: str, size: int) -> None:
        _require_int(name, size)
        if not 0 <= size <= self.size:
            raise InvalidTreeSize(
                f"tree size {size} is invalid for a tree of size {self.size}: "
                f"{name} must be in 0 .. {self.size}"
            )


def _path(leaves: Sequence[bytes], index: int, start: int, end: int) -> list[bytes]:
    """PATH(index, D[start:end]) of RFC 9162 §2.1.3.1, ``index`` relative to ``start``."""
    if end - start == 1:
        return []
    k = _split_point(end - start)
    if index < k:
        return [*_path(leaves, index, start, start + k), _subtree_root(leaves, start + k, end)]
    return [*_path(leaves, index - k, start + k, end), _subtree_root(leaves, start, start + k)]


def _subproof(
    leaves: Sequence[bytes], m: int, start: int, end: int, *, old_root_known: bool
) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, with ``b`` named ``old_root_known``.

    ``old_root_known`` says whether D[start:start+m] is the whole old tree, whose root the
    verifier already holds and which therefore need not be sent.
    """
    n = end - start
    if m == n:
        return [] if old_root_known else [_subtree_root(leaves, start, end)]
    k = _split_point(n)
    if m <= k:
        left = _subproof(leaves, m, start, start + k, old_root_known=old_root_known)
        return [*left, _subtree_root(leaves, start + k, end)]
    right = _subproof(leaves, m - k, start + k, end, old_root_known=False)
    return [*right, _subtree_root(leaves, start, start + k)]


# --------------------------------------------------------------------------------------------
# Verifying proofs
# --------------------------------------------------------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Iterable[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows the leaf ``leaf_hash`` at ``index`` in the tree ``(size, root)``.

    Follows RFC 9162 §2.1.3.2 step by step. Returns ``False`` for anything that does not check:
    ``index >= size``, an index or size outside 0 .. 2**64 - 1, a proof of the wrong length, a
    leaf hash, root or proof element that is not 32 bytes. Raises only :class:`TypeError`, for
    arguments of the wrong type.
    """
    _require_bytes("leaf_hash", leaf_hash)
    _require_bytes("root", root)
    _require_int("index", index)
    _require_int("size", size)
    hashes, hashes_ok = _proof_hashes(proof)
    if not (hashes_ok and len(leaf_hash) == HASH_SIZE and len(root) == HASH_SIZE):
        return False
    # Step 1 (and sizes must be unsigned 64-bit integers, as on the wire).
    if not 0 <= index < size <= MAX_TREE_SIZE:
        return False
    # Steps 2 and 3: fn walks the leaf's position up the tree, sn the last leaf's.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4.
    for p in hashes:
        if sn == 0:
            return False  # the proof is longer than the path to the root
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            # On the right border a node with no right sibling moves up unchanged.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _hash_children(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, proof: Iterable[bytes], root1: bytes, root2: bytes
) -> bool:
    """Whether ``proof`` shows the tree ``(size2, root2)`` extends the tree ``(size1, root1)``.

    Follows RFC 9162 §2.1.4.2 step by step, after the cases the RFC leaves to the caller:
    ``size1 > size2`` and ``size1 == 0`` give ``False``; equal sizes need an empty proof and
    equal roots. Returns ``False`` for anything that does not check (see
    :func:`verify_inclusion`). Raises only :class:`TypeError`, for arguments of the wrong type.
    """
    _require_bytes("root1", root1)
    _require_bytes("root2", root2)
    _require_int("size1", size1)
    _require_int("size2", size2)
    hashes, hashes_ok = _proof_hashes(proof)
    if not 0 < size1 <= size2 <= MAX_TREE_SIZE:
        return False
    if size1 == size2:
        return not hashes and root1 == root2
    # Step 1.
    if not (hashes and hashes_ok and len(root1) == HASH_SIZE and len(root2) == HASH_SIZE):
        return False
    path = hashes
    # Step 2: when size1 is a power of two the old root is a node of the new tree, so the
    # proof leaves it out and the verifier supplies it.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Step 3.
    fn, sn = size1 - 1, size2 - 1
    # Step 4: skip the levels where the old tree's last node is a right child of a full subtree.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            return False  # the proof is longer than the path to the new root
        if fn & 1 or fn == sn:
            fr = _hash_children(c, fr)
            sr = _hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    return fr == root1 and sr == root2 and sn == 0


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _require_bytes(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _require_hash(name: str, value: bytes) -> None:
    _require_bytes(name, value)
    if len(value) != HASH_SIZE:
        raise InvalidHashLength(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def _require_int(name: str, value: int) -> None:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def _proof_hashes(proof: Iterable[bytes]) -> tuple[list[bytes], bool]:
    """The proof as a list, and whether every element is 32 bytes.

    Raises :class:`TypeError` for a proof that is not an iterable of ``bytes``.
    """
    if isinstance(proof, bytes | bytearray | str):
        # A flat byte string is a classic mistake for a list of hashes; never iterate it.
        raise TypeError(f"proof must be a sequence of bytes, not {type(proof).__name__}")
    try:
        hashes = list(proof)
    except TypeError:
        raise TypeError(f"proof must be a sequence of bytes, not {type(proof).__name__}") from None
    for i, p in enumerate(hashes):
        if not isinstance(p, bytes | bytearray):
            raise TypeError(f"proof[{i}] must be bytes, not {type(p).__name__}")
    return hashes, all(len(p) == HASH_SIZE for p in hashes)
