"""Bad arguments raise the documented exceptions with messages naming the problem; garbage never
crashes the interpreter, and rust_core and the Python reference agree on what garbage gives.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples
from support.merkle_impls import IMPLS, REFERENCE, RUST, MerkleImpl

from farmtrace import rust_core
from farmtrace.tlog import merkle as reference

ENTRIES = [b"a", b"b", b"c", b"d", b"e"]
HASH = reference.leaf_hash(b"x")
GARBAGE = settings(max_examples=examples(150), deadline=None)


def test_the_hierarchy_is_the_documented_one() -> None:
    assert issubclass(rust_core.MerkleError, ValueError)
    for name in ("InvalidHashLength", "IndexOutOfRange", "InvalidTreeSize", "InvalidBuffer"):
        assert issubclass(getattr(rust_core, name), rust_core.MerkleError)
    for impl in IMPLS:
        for error in (impl.invalid_hash_length, impl.index_out_of_range, impl.invalid_tree_size):
            assert issubclass(error, impl.error)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("index", [5, 6, 2**64, -1])
def test_index_out_of_range(impl: MerkleImpl, index: int) -> None:
    tree = impl.tree.from_entries(ENTRIES)
    message = rf"leaf index {index} is out of range for a tree of size 5"
    with pytest.raises(impl.index_out_of_range, match=message):
        tree.leaf_hash(index)
    with pytest.raises(impl.index_out_of_range, match=message):
        tree.inclusion_proof(index)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("size", [6, 2**64, -1])
def test_size_beyond_the_tree(impl: MerkleImpl, size: int) -> None:
    tree = impl.tree.from_entries(ENTRIES)
    with pytest.raises(impl.invalid_tree_size, match=rf"tree size {size} is invalid"):
        tree.consistency_proof(size)
    with pytest.raises(impl.invalid_tree_size, match=rf"tree size {size} is invalid"):
        tree.root_at(size)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
def test_consistency_proof_from_size_zero(impl: MerkleImpl) -> None:
    with pytest.raises(impl.invalid_tree_size, match="tree size 0 is invalid"):
        impl.tree.from_entries(ENTRIES).consistency_proof(0)


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("length", [0, 31, 33])
def test_leaf_hashes_of_the_wrong_length(impl: MerkleImpl, length: int) -> None:
    hashes = [HASH, HASH, b"\x07" * length, HASH]
    with pytest.raises(impl.invalid_hash_length, match=rf"\[2\] must be 32 bytes, got {length}"):
        impl.tree.from_leaf_hashes(hashes)
    with pytest.raises(impl.invalid_hash_length, match=rf"left must be 32 bytes, got {length}"):
        impl.node_hash(b"\x07" * length, HASH)
    with pytest.raises(impl.invalid_hash_length, match=rf"right must be 32 bytes, got {length}"):
        impl.node_hash(HASH, b"\x07" * length)


def test_leaf_hash_buffer_of_the_wrong_length() -> None:
    with pytest.raises(rust_core.InvalidBuffer, match="32-byte"):
        rust_core.MerkleTree.from_leaf_hash_buffer(HASH * 3 + b"\x00")


@pytest.mark.parametrize("impl", IMPLS, ids=str)
@pytest.mark.parametrize("length", [0, 31, 33])
def test_verification_with_hashes_of_the_wrong_length_is_a_rejection(
    impl: MerkleImpl, length: int
) -> None:
    tree = impl.tree.from_entries(ENTRIES)
    bad = b"\x07" * length
    leaf, proof, root = tree.leaf_hash(1), tree.inclusion_proof(1), tree.root
    assert impl.verify_inclusion(leaf, 1, 5, proof, root)
    assert impl.verify_inclusion(bad, 1, 5, proof, root) is False
    assert impl.verify_inclusion(leaf, 1, 5, proof, bad) is False
    assert impl.verify_inclusion(leaf, 1, 5, [*proof[:-1], bad], root) is False
    old = tree.root_at(3)
    assert impl.verify_consistency(3, 5, tree.consistency_proof(3), old, root)
    assert impl.verify_consistency(3, 5, tree.consistency_proof(3), bad, root) is False
    assert impl.verify_consistency(3, 5, tree.consistency_proof(3), old, bad) is False


def _offsets(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)


MALFORMED_OFFSETS = {
    "empty": (b"abc", b"", r"offsets must hold n \+ 1 .* got 0 bytes"),
    "fewer than n + 1": (b"abc", _offsets(0), r"offsets\[0\] = 0 must equal the length of data"),
    "not a multiple of 8 bytes": (b"abc", _offsets(0, 3) + b"\x00", r"multiple of 8 .* 17 bytes"),
    "first is not 0": (b"abc", _offsets(1, 3), r"offsets\[0\] must be 0, got 1"),
    "decreasing": (b"abcd", _offsets(0, 3, 2, 4), r"offsets\[2\] = 2 is less than offsets\[1\]"),
    "last is not len(data)": (b"abcd", _offsets(0, 2, 3), r"offsets\[2\] = 3 must equal the len"),
    "beyond the data": (b"abcd", _offsets(0, 9, 4), r"offsets\[1\] = 9 is beyond the end"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_OFFSETS))
def test_malformed_offsets(case: str) -> None:
    data, offsets, names = MALFORMED_OFFSETS[case]
    with pytest.raises(rust_core.InvalidBuffer, match=names):
        rust_core.MerkleTree.from_buffer(data, offsets)


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: rust_core.MerkleTree.from_entries([b"a", "b"]), r"entries\[1\]"),
        (lambda: rust_core.MerkleTree.from_entries(b"ab"), "entries"),
        (lambda: rust_core.MerkleTree.from_leaf_hashes([HASH, 7]), r"hashes\[1\]"),
        (lambda: rust_core.MerkleTree.from_buffer("text", _offsets(0, 4)), "data"),
        (lambda: rust_core.MerkleTree.from_buffer(b"abcd", [0, 4]), "offsets"),
        (lambda: rust_core.verify_inclusion(HASH, 0, 1, [HASH, "x"], HASH), r"proof\[1\]"),
        (lambda: rust_core.verify_inclusion(HASH, 0, 1, HASH, HASH), "proof"),
        (lambda: rust_core.verify_consistency(1, 2, None, HASH, HASH), "proof"),
        (lambda: reference.MerkleTree.from_entries([b"a", "b"]), r"entries\[1\]"),
        (lambda: reference.verify_inclusion(HASH, 0, 1, [HASH, "x"], HASH), r"proof\[1\]"),
        (lambda: reference.verify_inclusion(HASH, 0, 1, HASH, HASH), "proof"),
        (lambda: reference.verify_consistency(1, 2, None, HASH, HASH), "proof"),
    ],
)
def test_wrong_types_raise_type_error_naming_the_argument(call: Any, names: str) -> None:
    with pytest.raises(TypeError, match=names):
        call()


@pytest.mark.parametrize("threads", [0])
def test_zero_threads_is_refused(threads: int) -> None:
    with pytest.raises(rust_core.MerkleError, match="threads"):
        rust_core.MerkleTree.from_entries(ENTRIES, threads=threads)
    with pytest.raises(rust_core.MerkleError, match="threads"):
        rust_core.MerkleTree.from_buffer(b"ab", _offsets(0, 1, 2), threads=threads)


def test_offsets_as_array_and_as_bytes_are_the_same() -> None:
    data = b"".join(ENTRIES)
    native = array("Q", range(len(ENTRIES) + 1))
    assert (
        rust_core.MerkleTree.from_buffer(data, native).root
        == rust_core.MerkleTree.from_buffer(data, native.tobytes()).root
        == reference.MerkleTree.from_entries(ENTRIES).root
    )


# ---------------------------------------------------------------------------------------------
# Garbage in: never a crash, never an undocumented exception, the same answer on both sides.
# ---------------------------------------------------------------------------------------------

wide_ints = st.one_of(
    st.integers(min_value=-3, max_value=40),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**64)]),
)
blobs = st.one_of(st.binary(max_size=40), st.sampled_from([HASH, reference.EMPTY_ROOT]))


@GARBAGE
@given(leaf=blobs, index=wide_ints, size=wide_ints, proof=st.lists(blobs, max_size=6), root=blobs)
def test_garbage_inclusion_checks_agree(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    ours = rust_core.verify_inclusion(leaf, index, size, proof, root)
    theirs = reference.verify_inclusion(leaf, index, size, proof, root)
    assert ours is theirs


@GARBAGE
@given(size1=wide_ints, size2=wide_ints, proof=st.lists(blobs, max_size=6), r1=blobs, r2=blobs)
def test_garbage_consistency_checks_agree(
    size1: int, size2: int, proof: list[bytes], r1: bytes, r2: bytes
) -> None:
    ours = rust_core.verify_consistency(size1, size2, proof, r1, r2)
    theirs = reference.verify_consistency(size1, size2, proof, r1, r2)
    assert ours is theirs


@GARBAGE
@given(
    n=st.integers(0, 9),
    arg=wide_ints,
    method=st.sampled_from(["leaf_hash", "inclusion_proof", "consistency_proof", "root_at"]),
)
def test_garbage_tree_arguments_agree(n: int, arg: int, method: str) -> None:
    results = []
    for impl in (RUST, REFERENCE):
        tree = impl.tree.from_entries(ENTRIES[:n] + [b"z"] * max(0, n - 5))
        try:
            results.append(getattr(tree, method)(arg))
        except impl.error as error:
            documented = (impl.index_out_of_range, impl.invalid_tree_size)
            assert isinstance(error, documented), error
            results.append(type(error).__name__)
    assert results[0] == results[1]


def _valid_layout(data: bytes, offsets: list[int]) -> bool:
    return (
        len(offsets) >= 1
        and offsets[0] == 0
        and all(a <= b for a, b in itertools.pairwise(offsets))
        and offsets[-1] == len(data)
    )


@GARBAGE
@given(
    data=st.binary(max_size=24),
    offsets=st.lists(st.integers(0, 30), max_size=6),
    tail=st.binary(max_size=3),
)
def test_garbage_buffers_build_the_right_tree_or_raise_invalid_buffer(
    data: bytes, offsets: list[int], tail: bytes
) -> None:
    packed = struct.pack(f"<{len(offsets)}Q", *offsets) + tail
    if tail or not _valid_layout(data, offsets):
        with pytest.raises(rust_core.InvalidBuffer):
            rust_core.MerkleTree.from_buffer(data, packed)
        return
    entries = [data[a:b] for a, b in itertools.pairwise(offsets)]
    tree = rust_core.MerkleTree.from_buffer(data, packed)
    assert tree.size == len(entries)
    assert tree.root == reference.MerkleTree.from_entries(entries).root


@GARBAGE
@given(
    value=st.one_of(
        st.none(),
        st.floats(allow_nan=True),
        st.text(max_size=4),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    )
)
def test_garbage_types_raise_type_error(value: object) -> None:
    for impl in IMPLS:
        tree = impl.tree.from_entries(ENTRIES)
        calls: list[tuple[Any, tuple[object, ...]]] = [
            (tree.leaf_hash, (value,)),
            (tree.inclusion_proof, (value,)),
            (tree.consistency_proof, (value,)),
            (tree.root_at, (value,)),
            (impl.verify_inclusion, (value, 0, 1, [], HASH)),
            (impl.verify_inclusion, (HASH, value, 1, [], HASH)),
            (impl.verify_consistency, (1, value, [], HASH, HASH)),
            (impl.verify_consistency, (1, 1, [], HASH, value)),
            (impl.node_hash, (value, HASH)),
            (impl.leaf_hash, (value,)),
            (impl.tree.from_entries, ([b"a", value],)),
        ]
        for function, args in calls:
            with pytest.raises(TypeError):
                function(*args)
