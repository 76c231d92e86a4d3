"""rust_core's bulk Ed25519 check names exactly the triples that cryptography rejects one by one."""

from __future__ import annotations

import random
from array import array
from functools import cache

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace import rust_core

Triple = tuple[bytes, bytes, bytes]  # public key, message, signature

# The order of the Ed25519 group; a signature whose S half is >= L is not canonical.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


@cache
def signing_keys() -> list[Ed25519PrivateKey]:
    return [Ed25519PrivateKey.generate() for _ in range(8)]


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def valid_triple(rng: random.Random) -> Triple:
    key = rng.choice(signing_keys())
    message = rng.randbytes(rng.randrange(0, 200))
    return public_bytes(key), message, key.sign(message)


def _flip(value: bytes, rng: random.Random) -> bytes:
    out = bytearray(value)
    out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _non_canonical(signature: bytes) -> bytes:
    # S + L still fits in 32 bytes (S < L < 2**253) and verifies the same equation modulo L.
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    return signature[:32] + s.to_bytes(32, "little")


TAMPERINGS = {
    "bad signature": lambda t, rng: (t[0], t[1], _flip(t[2], rng)),
    "wrong key": lambda t, rng: (_other_key(t[0]), t[1], t[2]),
    "altered message": lambda t, rng: (t[0], t[1] + b"!", t[2]),
    "key not on the curve": lambda t, rng: (b"\xff" * 32, t[1], t[2]),
    "all-zero key": lambda t, rng: (bytes(32), t[1], t[2]),
    "all-zero signature": lambda t, rng: (t[0], t[1], bytes(64)),
    "S not reduced": lambda t, rng: (t[0], t[1], _non_canonical(t[2])),
}


def _other_key(public: bytes) -> bytes:
    return next(p for p in map(public_bytes, signing_keys()) if p != public)


def cryptography_accepts(triple: Triple) -> bool:
    public, message, signature = triple
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def pack(triples: list[Triple]) -> tuple[bytes, bytes, bytes, array[int]]:
    offsets = array("Q", [0])
    for _, message, _ in triples:
        offsets.append(offsets[-1] + len(message))
    return (
        b"".join(t[0] for t in triples),
        b"".join(t[2] for t in triples),
        b"".join(t[1] for t in triples),
        offsets,
    )


def bulk_failures(triples: list[Triple], threads: int | None) -> list[int]:
    public, signatures, messages, offsets = pack(triples)
    packed = rust_core.verify_ed25519_batch(public, signatures, messages, offsets, threads=threads)
    listed = rust_core.verify_ed25519(triples, threads=threads)
    assert packed == listed
    return list(packed)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(0, 80),
    # One tampering per triple: two can cancel out (an all-zero key with an all-zero signature is
    # a valid pair for some messages, see test_small_order_key_and_signature).
    tampered=st.dictionaries(st.integers(0, 79), st.sampled_from(sorted(TAMPERINGS))),
)
def test_exactly_the_tampered_triples_fail(seed: int, count: int, tampered: dict[int, str]) -> None:
    rng = random.Random(seed)
    triples = [valid_triple(rng) for _ in range(count)]
    for index, how in tampered.items():
        if index < count:
            triples[index] = TAMPERINGS[how](triples[index], rng)
    expected = [i for i, t in enumerate(triples) if not cryptography_accepts(t)]
    assert expected == sorted(i for i in tampered if i < count)
    assert bulk_failures(triples, threads=1) == expected
    assert bulk_failures(triples, threads=None) == expected


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_each_tampering_alone_is_caught(how: str) -> None:
    rng = random.Random(how)
    triples = [valid_triple(rng) for _ in range(5)]
    triples[3] = TAMPERINGS[how](triples[3], rng)
    assert not cryptography_accepts(triples[3])
    assert bulk_failures(triples, threads=None) == [3]


def test_a_large_batch_with_a_few_bad_ones() -> None:
    """Split across threads (above rust_core's threshold of 16); indices stay the original ones."""
    rng = random.Random(7)
    triples = [valid_triple(rng) for _ in range(600)]
    bad = sorted(rng.sample(range(600), 25))
    for i in bad:
        triples[i] = TAMPERINGS["bad signature"](triples[i], rng)
    assert bulk_failures(triples, threads=1) == bad
    assert bulk_failures(triples, threads=None) == bad


def test_small_order_key_and_signature_get_cryptographys_verdict() -> None:
    """An all-zero key and an all-zero signature are small-order points: the cofactorless check
    accepts the pair for some messages. The verdict must be exactly cryptography's."""
    rng = random.Random(11)
    triples = [(bytes(32), rng.randbytes(20), bytes(64)) for _ in range(64)]
    expected = [i for i, t in enumerate(triples) if not cryptography_accepts(t)]
    assert 0 < len(expected) < len(triples)  # both verdicts occur, so the check means something
    assert bulk_failures(triples, threads=1) == expected
    assert bulk_failures(triples, threads=None) == expected


@pytest.mark.parametrize("length", [(31, 64), (33, 64), (32, 63), (32, 65)])
def test_keys_and_signatures_of_the_wrong_length_fail_in_the_list_api(
    length: tuple[int, int],
) -> None:
    rng = random.Random(3)
    triples = [valid_triple(rng) for _ in range(3)]
    key, message, signature = triples[1]
    triples[1] = ((key * 2)[: length[0]], message, (signature * 2)[: length[1]])
    assert rust_core.verify_ed25519(triples) == [1]


@pytest.mark.parametrize(
    ("keys", "signatures", "offsets", "names"),
    [
        (32 * 2, 64 * 3, [0, 1, 2, 3], r"signatures must hold .* 2 public keys .* got 192"),
        (32 * 3, 64 * 2, [0, 1, 2, 3], r"signatures must hold .* 3 public keys .* got 128"),
        (32 * 3 + 1, 64 * 3, [0, 1, 2, 3], r"public_keys must hold whole 32-byte keys"),
        (32 * 3, 64 * 3, [0, 1, 3], r"offsets describe 2 messages but there are 3 public keys"),
        (32 * 3, 64 * 3, [0, 2, 1, 3], r"offsets\[2\] = 1 is less than offsets\[1\]"),
    ],
)
def test_packed_buffers_that_disagree_raise_invalid_buffer(
    keys: int, signatures: int, offsets: list[int], names: str
) -> None:
    packed = array("Q", offsets).tobytes()
    with pytest.raises(rust_core.InvalidBuffer, match=names):
        rust_core.verify_ed25519_batch(bytes(keys), bytes(signatures), b"abc", packed)
