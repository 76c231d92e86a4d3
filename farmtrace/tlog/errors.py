"""Errors of the transparency-log layer (``farmtrace.tlog``).

Every error this package raises on bad input derives from :class:`TlogError`, itself a
:class:`ValueError`, so a caller can catch the whole layer with one ``except`` clause::

    TlogError(ValueError)              anything wrong with data handed to farmtrace.tlog
    └── MerkleError                    RFC 9162 Merkle tree hashing and proofs
        ├── InvalidHashLength          a hash that is not exactly 32 bytes
        ├── IndexOutOfRange            a leaf index outside the tree (or negative)
        └── InvalidTreeSize            a tree size that is negative, too large, or beyond the tree

A proof that merely fails to check is not an error: the ``verify_*`` functions return ``False``
for it. Errors are for arguments the caller itself got wrong (a root that is not a SHA-256
digest, an index beyond the tree it built, a wrong type).

Further modules of this package (signed notes, checkpoints, proof files) add their own
subclasses of :class:`TlogError` here, so that this file stays the one map of the layer's errors.
"""

from __future__ import annotations

__all__ = [
    "IndexOutOfRange",
    "InvalidHashLength",
    "InvalidTreeSize",
    "MerkleError",
    "TlogError",
]


class TlogError(ValueError):
    """Base of every error raised by ``farmtrace.tlog`` for bad input."""


class MerkleError(TlogError):
    """A Merkle tree operation was given arguments it cannot work with."""


class InvalidHashLength(MerkleError):
    """A leaf hash, node hash or root is not exactly 32 bytes (a SHA-256 digest)."""


class IndexOutOfRange(MerkleError):
    """A leaf index is negative or not below the size of the tree it refers to."""


class InvalidTreeSize(MerkleError):
    """A tree size is negative, exceeds 2**64 - 1, or exceeds the size of the tree at hand."""
