"""Shared by the Merkle tests: the two implementations under test and the RFC 9162 vectors.

``rust_core`` (the extension) and ``farmtrace.tlog.merkle`` (the plain-Python reference) expose the
same functions; :class:`MerkleImpl` puts each behind one interface so that every test runs against
both. The vectors are transparency-dev/merkle's, vendored unchanged in ``tests/vectors/rfc9162``
(source, commit and license in ``tests/vectors/README.md``): a missing folder is an error, not a skip.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmtrace import rust_core
from farmtrace.tlog import errors as tlog_errors
from farmtrace.tlog import merkle as reference

REPO_ROOT = Path(__file__).resolve().parents[2]
RFC9162_VECTORS = REPO_ROOT / "tests" / "vectors" / "rfc9162"


@dataclass(frozen=True)
class MerkleImpl:
    """One implementation of RFC 9162 trees and proofs, and its documented exceptions."""

    name: str
    tree: Any  # the MerkleTree class; the two share methods but not a nominal type
    leaf_hash: Callable[[bytes], bytes]
    node_hash: Callable[[bytes, bytes], bytes]
    verify_inclusion: Callable[[bytes, int, int, Sequence[bytes], bytes], bool]
    verify_consistency: Callable[[int, int, Sequence[bytes], bytes, bytes], bool]
    error: type[Exception]
    invalid_hash_length: type[Exception]
    index_out_of_range: type[Exception]
    invalid_tree_size: type[Exception]

    def __str__(self) -> str:
        return self.name


REFERENCE = MerkleImpl(
    name="reference",
    tree=reference.MerkleTree,
    leaf_hash=reference.leaf_hash,
    node_hash=reference.node_hash,
    verify_inclusion=reference.verify_inclusion,
    verify_consistency=reference.verify_consistency,
    error=tlog_errors.MerkleError,
    invalid_hash_length=tlog_errors.InvalidHashLength,
    index_out_of_range=tlog_errors.IndexOutOfRange,
    invalid_tree_size=tlog_errors.InvalidTreeSize,
)

RUST = MerkleImpl(
    name="rust_core",
    tree=rust_core.MerkleTree,
    leaf_hash=rust_core.leaf_hash,
    node_hash=rust_core.node_hash,
    verify_inclusion=rust_core.verify_inclusion,
    verify_consistency=rust_core.verify_consistency,
    error=rust_core.MerkleError,
    invalid_hash_length=rust_core.InvalidHashLength,
    index_out_of_range=rust_core.IndexOutOfRange,
    invalid_tree_size=rust_core.InvalidTreeSize,
)

IMPLS = (REFERENCE, RUST)


@dataclass(frozen=True)
class Vector:
    """One transparency-dev test vector: an inclusion or a consistency check and its verdict."""

    id: str  # path under rfc9162/, e.g. "inclusion/1/happy-path.json"
    kind: str  # "inclusion" or "consistency"
    fields: dict[str, Any]
    proof: list[bytes]
    want_err: bool

    def hash(self, field: str) -> bytes:
        """A base64 hash field of the vector, decoded."""
        value: bytes = base64.b64decode(self.fields[field])
        return value

    @property
    def caller_hashes(self) -> dict[str, bytes]:
        """The hashes the verifier's caller supplies (not the proof's), by field name."""
        names = ("leafHash", "root") if self.kind == "inclusion" else ("root1", "root2")
        return {name: self.hash(name) for name in names}

    def check(self, impl: MerkleImpl, hashes: dict[str, bytes] | None = None) -> bool:
        """Run the vector through ``impl``; ``hashes`` overrides caller hashes by field name."""
        h = {**self.caller_hashes, **(hashes or {})}
        f = self.fields
        if self.kind == "inclusion":
            return impl.verify_inclusion(
                h["leafHash"], f["leafIdx"], f["treeSize"], self.proof, h["root"]
            )
        return impl.verify_consistency(f["size1"], f["size2"], self.proof, h["root1"], h["root2"])


def load_vectors() -> list[Vector]:
    """Every vector file under ``rfc9162/``, sorted by path; raises if the folder is missing."""
    if not RFC9162_VECTORS.is_dir():
        raise FileNotFoundError(
            f"RFC 9162 test vectors not found at {RFC9162_VECTORS}: they are part of the "
            "repository (see tests/vectors/README.md)"
        )
    vectors = []
    for path in sorted(RFC9162_VECTORS.rglob("*.json")):
        rel = path.relative_to(RFC9162_VECTORS).as_posix()
        fields = json.loads(path.read_text(encoding="utf-8"))
        vectors.append(
            Vector(
                id=rel,
                kind=rel.split("/", 1)[0],
                fields=fields,
                proof=[base64.b64decode(p) for p in fields["proof"] or []],
                want_err=bool(fields["wantErr"]),
            )
        )
    return vectors
