"""Wallet addresses must be canonical curve points of more than small order."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from support import rfc8032
from support.fast import examples

from farmtrace.commerce.entries import parse_address
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.points import address_problem

# The small-order points' encodings (orders 1, 2, 4 and 8), as listed by Chalkias, Garillot and
# Nikolaenko, "Taming the many EdDSAs" (2020), and libsodium's blocklist.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


def test_generated_keys_are_usable() -> None:
    for _ in range(100):
        raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert address_problem(raw) is None
        assert parse_address(raw.hex()) == raw


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_small_order_points_are_refused(encoded: str) -> None:
    with pytest.raises(CommerceError, match="small order"):
        parse_address(encoded)


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        ("ff" * 31 + "7f", "not reduced"),  # y = 2**255 - 1 >= p
        (
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "not reduced",
        ),  # y = p
        ("02" + "00" * 31, "not a point on the curve"),
        ("01" + "00" * 30 + "80", "sign bit"),  # x = 0 written with its sign bit set
        ("AB" * 32, "64 lowercase hex"),
        ("ab" * 31, "64 lowercase hex"),
    ],
)
def test_malformed_addresses_name_the_flaw(encoded: str, why: str) -> None:
    with pytest.raises(CommerceError, match=why):
        parse_address(encoded)


def _reference_problem(raw: bytes) -> bool:
    """RFC 8032's reference: decoding fails, or 8 times the point is the neutral element."""
    point = rfc8032._point_decompress(raw)
    if point is None:
        return True
    return rfc8032._point_equal(rfc8032._point_mul(8, point), (0, 1, 1, 0))


@settings(max_examples=examples(300))
@given(
    st.one_of(
        st.binary(min_size=32, max_size=32),
        st.builds(lambda: Ed25519PrivateKey.generate().public_key().public_bytes_raw()),
        st.integers(0, 2**255 - 1).map(lambda y: y.to_bytes(32, "little")),
        st.sampled_from([bytes.fromhex(h) for h in SMALL_ORDER]),
    )
)
def test_agrees_with_the_rfc_8032_reference(raw: bytes) -> None:
    assert (address_problem(raw) is not None) == _reference_problem(raw)
