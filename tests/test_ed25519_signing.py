"""rust_core's bulk Ed25519 signing makes byte for byte the signatures cryptography makes.

Ed25519 is deterministic (RFC 8032), so for any seed and messages the two must agree exactly, and
each signature must verify under the seed's public key.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace import rust_core

# RFC 8032 section 7.1, TEST 1-3: (secret key, message, signature), hex.
RFC8032_7_1 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
        "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
        "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "message", "signature"), RFC8032_7_1)
def test_rfc_8032_vectors(secret: str, message: str, signature: str) -> None:
    signed = rust_core.sign_ed25519(bytes.fromhex(secret), [bytes.fromhex(message)])
    assert signed == [bytes.fromhex(signature)]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    messages=st.lists(st.binary(max_size=300), max_size=40),
    threads=st.sampled_from([None, 1, 2]),
)
def test_same_signatures_as_cryptography(
    seed: bytes, messages: list[bytes], threads: int | None
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    signed = rust_core.sign_ed25519(seed, messages, threads=threads)
    assert signed == [key.sign(message) for message in messages]
    public = key.public_key().public_bytes_raw()
    failed = rust_core.verify_ed25519(
        [(public, m, s) for m, s in zip(messages, signed, strict=True)]
    )
    assert failed == []


def test_seed_may_be_any_byte_buffer_and_messages_any_iterable() -> None:
    seed = bytes(range(32))
    expected = rust_core.sign_ed25519(seed, [b"a", b"b"])
    assert rust_core.sign_ed25519(bytearray(seed), (m for m in [b"a", b"b"])) == expected
    assert rust_core.sign_ed25519(memoryview(seed), (b"a", b"b")) == expected
    assert rust_core.sign_ed25519(seed, []) == []


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_of_the_wrong_length(length: int) -> None:
    with pytest.raises(rust_core.MerkleError, match=f"seed must be 32 bytes, got {length}"):
        rust_core.sign_ed25519(b"\x01" * length, [b"m"])


def test_wrong_types_name_the_item() -> None:
    with pytest.raises(TypeError, match=r"messages\[1\] must be bytes, not str"):
        rust_core.sign_ed25519(bytes(32), [b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="messages must be a sequence of bytes, not bytes"):
        rust_core.sign_ed25519(bytes(32), b"ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed must be bytes or a byte buffer, not str"):
        rust_core.sign_ed25519("x" * 32, [b"a"])  # type: ignore[arg-type]
    with pytest.raises(rust_core.MerkleError, match="threads must be at least 1"):
        rust_core.sign_ed25519(bytes(32), [b"a"], threads=0)
