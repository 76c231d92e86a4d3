"""Which 32-byte strings are usable Ed25519 public keys for a wallet (RFC 8032, section 5.1.3).

``cryptography`` accepts any 32 bytes as a public key and fails only when verifying, so a coupon
could be issued or sent to bytes nobody can ever sign for, or to a small-order point, for which
signatures can be made without any private key on some verifiers. A wallet address must decode
to a point on the curve, in canonical form (y < p), of more than small order. Plain integers:
one modular exponentiation per new address.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["address_problem"]

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P


# The eight points of small order (orders 1, 2, 4, 8) in their canonical encodings (Chalkias,
# Garillot and Nikolaenko, "Taming the many EdDSAs", 2020; libsodium's blocklist). Any other
# encoding of them has y >= p or x = 0 with the sign bit set, refused before this is consulted.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    )
)


@lru_cache(maxsize=65536)
def address_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a usable public key, or ``None`` if it is (cached: one holder's key
    is checked again at every transfer that names it)."""
    if len(raw) != 32:
        return f"it is {len(raw)} bytes, not 32"
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return "its y coordinate is not reduced modulo p (a non-canonical encoding)"
    # x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; one exponentiation gives the candidate root
    # (RFC 8032 5.1.3: x = u v^3 (u v^7)^((p-5)/8)).
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    v3 = v * v % _P * v % _P
    x = u * v3 % _P * pow(u * v3 % _P * v3 % _P * v % _P, (_P - 5) // 8, _P) % _P
    vx2 = v * x % _P * x % _P
    if vx2 != u and vx2 != (-u) % _P:
        return "it is not a point on the curve"
    if u == 0 and sign:
        return "it encodes x = 0 with the sign bit set (a non-canonical encoding)"
    if raw in _SMALL_ORDER:
        return "it is a point of small order (anyone could sign for it)"
    return None
