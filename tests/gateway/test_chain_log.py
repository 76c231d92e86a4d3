"""The frontier-based chain log agrees with the plain-Python RFC 9162 reference everywhere."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farmtrace.chain.errors import ChainLogError
from farmtrace.chain.log import EMPTY_ROOT, ChainLog
from farmtrace.tlog.merkle import MerkleTree, leaf_hash, verify_consistency

LEAVES = [leaf_hash(f"block {i}".encode()) for i in range(70)]


def test_empty_log() -> None:
    log = ChainLog()
    assert log.size == 0
    assert log.root == EMPTY_ROOT == MerkleTree.from_leaf_hashes([]).root


@pytest.mark.parametrize("m", range(0, 34))
def test_extend_matches_reference_root_proof_and_frontier(m: int) -> None:
    old = ChainLog.from_leaf_hashes(LEAVES[:m])
    for n in range(m, 70, 3):
        new, proof = old.extend(LEAVES[m:n])
        reference = MerkleTree.from_leaf_hashes(LEAVES[:n])
        assert new.size == n
        assert new.root == reference.root
        assert new.frontier == ChainLog.from_leaf_hashes(LEAVES[:n]).frontier
        if 0 < m < n:
            assert proof == reference.consistency_proof(m)
            assert verify_consistency(m, n, proof, old.root, new.root)
        else:
            assert proof == []


@given(st.integers(0, 300), st.integers(0, 300))
def test_extend_property(m: int, extra: int) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(m + extra)]
    old = ChainLog.from_leaf_hashes(leaves[:m])
    new, proof = old.extend(leaves[m:])
    assert new.root == MerkleTree.from_leaf_hashes(leaves).root
    if 0 < m < m + extra:
        assert verify_consistency(m, m + extra, proof, old.root, new.root)


def test_one_block_at_a_time() -> None:
    log = ChainLog()
    for n, leaf in enumerate(LEAVES, start=1):
        previous = log
        log, proof = log.extend([leaf])
        assert log.root == MerkleTree.from_leaf_hashes(LEAVES[:n]).root
        if n > 1:
            assert verify_consistency(n - 1, n, proof, previous.root, log.root)


def test_custom_subtree_root_is_used() -> None:
    calls: list[int] = []

    def root(leaves: object) -> bytes:
        seq = list(leaves)  # type: ignore[call-overload]
        calls.append(len(seq))
        return MerkleTree.from_leaf_hashes(seq).root

    log = ChainLog.from_leaf_hashes(LEAVES[:13], root)
    assert calls == [8, 4, 1]
    assert log.root == MerkleTree.from_leaf_hashes(LEAVES[:13]).root


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ChainLogError):
        ChainLog.from_leaf_hashes([b"short"])
    with pytest.raises(ChainLogError):
        ChainLog().extend([b"short"])
    with pytest.raises(ChainLogError):
        ChainLog([(0, 3, bytes(32))])
    with pytest.raises(ChainLogError):
        ChainLog([(0, 1, bytes(32)), (1, 3, bytes(32))])
