"""Every RFC 9162 vector of transparency-dev/merkle, through rust_core and the Python reference.

Each vector must give the verdict ``not wantErr`` in both implementations: happy paths verify,
every mutation returns ``False``. Verification never raises for a value (only ``TypeError`` for
a wrong type), so vectors whose leaf hash or roots are not 32 bytes (empty strings, "WrongRoot",
the 12-byte "don't care" placeholders of ``consistency/additional/``) are plain rejections, except
``sizes-are-equal-one-and-proof-is-empty``, which transparency-dev accepts: equal sizes, an empty
proof and byte-for-byte equal roots are consistent, whatever the roots. The rules behind the
placeholder vectors are checked once more with 32-byte stand-ins.

Proofs from size 0 are rejected, as these vectors require (see farmtrace.tlog.merkle).
"""

from __future__ import annotations

import hashlib

import pytest
from support.merkle_impls import IMPLS, MerkleImpl, Vector, load_vectors

from farmtrace.tlog.merkle import EMPTY_ROOT, HASH_SIZE

VECTORS = load_vectors()
PLACEHOLDER_VECTORS = [v for v in VECTORS if v.id.startswith("consistency/additional/")]


def _ids(vectors: list[Vector]) -> list[str]:
    return [v.id for v in vectors]


def test_the_vector_set_is_complete() -> None:
    kinds = {v.kind for v in VECTORS}
    happy = [v for v in VECTORS if not v.want_err]
    assert kinds == {"inclusion", "consistency"}
    assert len(VECTORS) >= 190, "files are missing from tests/vectors/rfc9162"
    assert len(happy) >= 10
    assert any(len(h) != HASH_SIZE for v in happy for h in v.caller_hashes.values())


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_vector(vector: Vector, impl: MerkleImpl) -> None:
    assert vector.check(impl) is (not vector.want_err)


def _stand_in(value: bytes) -> bytes:
    # A 32-byte value that no real tree produces, distinct for distinct placeholders.
    return value if len(value) == HASH_SIZE else hashlib.sha256(b"stand-in:" + value).digest()


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("vector", PLACEHOLDER_VECTORS, ids=_ids(PLACEHOLDER_VECTORS))
def test_vector_rule_with_32_byte_stand_ins(vector: Vector, impl: MerkleImpl) -> None:
    hashes = {name: _stand_in(h) for name, h in vector.caller_hashes.items()}
    assert vector.check(impl, hashes) is (not vector.want_err)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
def test_empty_and_single_leaf_trees(impl: MerkleImpl) -> None:
    empty = impl.tree.from_entries([])
    assert empty.size == 0
    assert empty.root == EMPTY_ROOT == hashlib.sha256(b"").digest()
    one = impl.tree.from_entries([b"entry"])
    assert one.root == hashlib.sha256(b"\x00entry").digest() == impl.leaf_hash(b"entry")
    assert one.inclusion_proof(0) == []
    assert impl.verify_inclusion(one.root, 0, 1, [], one.root)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
def test_trees_behind_the_vectors(impl: MerkleImpl) -> None:
    """Build the trees behind the vectors (RFC 6962's test leaves) and compare roots and proofs."""
    entries = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    # The numbered folders (inclusion/0..4, consistency/0..4) hold proofs from this tree.
    happy = [v for v in VECTORS if not v.want_err and v.id.split("/")[1].isdigit()]
    checked = 0
    for vector in happy:
        f = vector.fields
        if vector.kind == "inclusion":
            tree = impl.tree.from_entries(entries[: f["treeSize"]])
            assert tree.root == vector.hash("root")
            assert tree.leaf_hash(f["leafIdx"]) == vector.hash("leafHash")
            assert tree.inclusion_proof(f["leafIdx"]) == vector.proof
        else:
            tree = impl.tree.from_entries(entries[: f["size2"]])
            assert tree.root == vector.hash("root2")
            assert tree.root_at(f["size1"]) == vector.hash("root1")
            assert tree.consistency_proof(f["size1"]) == vector.proof
        checked += 1
    assert checked >= 10
