"""Transparency-log primitives in plain Python (hashlib and cryptography only).

The offline verifier (``farmtrace verify``) and the test-suite's oracle use this package; the
gateway builds its trees with the ``rust_core`` extension instead, which the tests hold to the
same results. Errors raised here all derive from :class:`TlogError` (see
:mod:`farmtrace.tlog.errors`).
"""

from farmtrace.tlog.errors import (
    IndexOutOfRange,
    InvalidHashLength,
    InvalidTreeSize,
    MerkleError,
    TlogError,
)
from farmtrace.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "IndexOutOfRange",
    "InvalidHashLength",
    "InvalidTreeSize",
    "MerkleError",
    "MerkleTree",
    "TlogError",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]
