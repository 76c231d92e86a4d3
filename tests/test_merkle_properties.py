"""Property tests: rust_core and the plain-Python reference build the same trees and proofs.

Sizes are drawn from 0, 1, the powers of two and their neighbours, plus arbitrary small sizes.
Entries are unique (each starts with its index) so that a mutated proof can never check by a
coincidence of equal leaves.
"""

from __future__ import annotations

import hashlib
import random
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples
from support.merkle_impls import IMPLS, REFERENCE, RUST, MerkleImpl

from farmtrace import rust_core
from farmtrace.tlog import merkle as reference

EDGE_SIZES = sorted(
    {0, 1, 2, 3} | {p + d for p in (2**k for k in range(1, 11)) for d in (-1, 0, 1)}
)
sizes = st.one_of(st.sampled_from(EDGE_SIZES), st.integers(min_value=0, max_value=300))
seeds = st.integers(min_value=0, max_value=2**32 - 1)
PROPERTY = settings(max_examples=examples(60), deadline=None)


def make_entries(n: int, seed: int) -> list[bytes]:
    """``n`` distinct entries of 4 to 100 bytes, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [struct.pack(">I", i) + rng.randbytes(rng.randrange(0, 97)) for i in range(n)]


def pack(entries: list[bytes]) -> tuple[bytes, array[int]]:
    """Entries back to back plus the n + 1 offsets, as ``from_buffer`` takes them."""
    offsets = array("Q", [0])
    for e in entries:
        offsets.append(offsets[-1] + len(e))
    return b"".join(entries), offsets


def rfc_mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1 written out once more, independently of both implementations."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(leaves[:k]) + rfc_mth(leaves[k:])).digest()


@PROPERTY
@given(n=sizes, seed=seeds)
def test_roots_and_leaf_hashes_agree(n: int, seed: int) -> None:
    entries = make_entries(n, seed)
    ours, theirs = RUST.tree.from_entries(entries), REFERENCE.tree.from_entries(entries)
    leaves = [hashlib.sha256(b"\x00" + e).digest() for e in entries]
    assert ours.size == theirs.size == n
    assert ours.root == theirs.root == rfc_mth(leaves)
    assert ours.leaf_hashes() == theirs.leaf_hashes() == b"".join(leaves)
    for i in {0, n // 2, n - 1} if n else set():
        assert ours.leaf_hash(i) == theirs.leaf_hash(i) == leaves[i]
    for m in {0, 1, n // 3, n - 1, n} & set(range(n + 1)):
        assert ours.root_at(m) == theirs.root_at(m) == rfc_mth(leaves[:m])


@PROPERTY
@given(n=sizes.filter(lambda n: n >= 1), seed=seeds, data=st.data())
def test_inclusion_proofs_agree_and_verify_on_both_sides(
    n: int, seed: int, data: st.DataObject
) -> None:
    entries = make_entries(n, seed)
    ours, theirs = RUST.tree.from_entries(entries), REFERENCE.tree.from_entries(entries)
    for i in {0, n - 1, data.draw(st.integers(0, n - 1), label="index")}:
        proof = ours.inclusion_proof(i)
        assert proof == theirs.inclusion_proof(i)
        for impl in IMPLS:
            assert impl.verify_inclusion(ours.leaf_hash(i), i, n, proof, theirs.root)
            assert impl.verify_inclusion(
                theirs.leaf_hash(i), i, n, theirs.inclusion_proof(i), ours.root
            )


@PROPERTY
@given(n=sizes.filter(lambda n: n >= 1), seed=seeds, data=st.data())
def test_consistency_proofs_agree_and_verify_on_both_sides(
    n: int, seed: int, data: st.DataObject
) -> None:
    entries = make_entries(n, seed)
    ours, theirs = RUST.tree.from_entries(entries), REFERENCE.tree.from_entries(entries)
    for m in {1, n, data.draw(st.integers(1, n), label="old size")}:
        proof = ours.consistency_proof(m)
        assert proof == theirs.consistency_proof(m)
        old_root = REFERENCE.tree.from_entries(entries[:m]).root
        assert ours.root_at(m) == old_root
        for impl in IMPLS:
            assert impl.verify_consistency(m, n, proof, old_root, theirs.root)
            assert impl.verify_consistency(m, n, theirs.consistency_proof(m), old_root, ours.root)


@PROPERTY
@given(n=sizes, seed=seeds)
def test_the_three_rust_constructors_agree(n: int, seed: int) -> None:
    entries = make_entries(n, seed)
    data, offsets = pack(entries)
    leaves = [reference.leaf_hash(e) for e in entries]
    root = rust_core.MerkleTree.from_entries(entries).root
    assert rust_core.MerkleTree.from_leaf_hashes(leaves).root == root
    assert rust_core.MerkleTree.from_buffer(data, offsets).root == root
    assert rust_core.MerkleTree.from_buffer(data, offsets.tobytes()).root == root
    assert rust_core.MerkleTree.from_buffer(data, offsets).leaf_hashes() == b"".join(leaves)


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 4097, 65_537, 100_003])
def test_one_thread_and_all_threads_agree(n: int) -> None:
    """Sizes large enough for the parallel build, whatever its threshold, and small ones."""
    entries = make_entries(n, seed=n)
    data, offsets = pack(entries)
    tree = rust_core.MerkleTree
    serial = tree.from_buffer(data, offsets, threads=1)
    assert tree.from_buffer(data, offsets, threads=None).root == serial.root
    assert tree.from_entries(entries, threads=1).root == serial.root
    assert tree.from_entries(entries, threads=None).root == serial.root
    leaves = [reference.leaf_hash(e) for e in entries]
    assert tree.from_leaf_hashes(leaves, threads=None).leaf_hashes() == serial.leaf_hashes()
    assert REFERENCE.tree.from_leaf_hashes(leaves).root == serial.root


def _flip_bit(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@PROPERTY
@given(n=sizes.filter(lambda n: n >= 2), seed=seeds, data=st.data())
def test_mutated_inclusion_proofs_are_rejected(n: int, seed: int, data: st.DataObject) -> None:
    tree = REFERENCE.tree.from_entries(make_entries(n, seed))
    i = data.draw(st.integers(0, n - 1), label="index")
    leaf, proof, root = tree.leaf_hash(i), tree.inclusion_proof(i), tree.root
    bit = data.draw(st.integers(0, 255), label="bit")
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    mutations: list[tuple[bytes, int, list[bytes], bytes]] = [
        (leaf, i, [*proof[:k], _flip_bit(proof[k], bit), *proof[k + 1 :]], root),
        (_flip_bit(leaf, bit), i, proof, root),
        (leaf, i, proof, _flip_bit(root, bit)),
        (leaf, i, proof[:-1], root),
        (leaf, i, [*proof, root], root),
        (leaf, i, [leaf, *proof], root),
        (leaf, i, proof, tree.root_at(n - 1)),
    ]
    if i ^ 1 < n:
        mutations.append((leaf, i ^ 1, proof, root))
    for impl in IMPLS:
        assert impl.verify_inclusion(leaf, i, n, proof, root)
        for args in mutations:
            assert not impl.verify_inclusion(args[0], args[1], n, args[2], args[3]), (impl, args)


@PROPERTY
@given(n=sizes.filter(lambda n: n >= 2), seed=seeds, data=st.data())
def test_mutated_consistency_proofs_are_rejected(n: int, seed: int, data: st.DataObject) -> None:
    tree = REFERENCE.tree.from_entries(make_entries(n, seed))
    m = data.draw(st.integers(1, n - 1), label="old size")
    proof, old, new = tree.consistency_proof(m), tree.root_at(m), tree.root
    bit = data.draw(st.integers(0, 255), label="bit")
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    mutations: list[tuple[int, list[bytes], bytes, bytes]] = [
        (m, [*proof[:k], _flip_bit(proof[k], bit), *proof[k + 1 :]], old, new),
        (m, proof, _flip_bit(old, bit), new),
        (m, proof, old, _flip_bit(new, bit)),
        (m, proof, new, old),
        (m, proof[:-1], old, new),
        (m, [*proof, new], old, new),
        (m, [old, *proof], old, new),
        (m, [], old, new),
        (0, proof, old, new),
    ]
    for impl in IMPLS:
        assert impl.verify_consistency(m, n, proof, old, new)
        for size1, p, r1, r2 in mutations:
            assert not impl.verify_consistency(size1, n, p, r1, r2), (impl, size1, p)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
def test_node_hash_is_the_rfc_interior_hash(impl: MerkleImpl) -> None:
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    assert impl.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert impl.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
