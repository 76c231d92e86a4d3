"""Ed25519 verification as written in RFC 8032, section 6 (the RFC's own Python reference code,
transcribed, with the one correction noted in ``_recover_x``; pure Python, slow, for tests
only).

It shares no code with OpenSSL, ed25519-dalek or Go. Like them it checks the cofactorless
equation ``[S]B = R + [k]A`` with ``S < L``; unlike them it decodes ``A`` strictly (section
5.1.3: a y coordinate that is not below p is a decoding failure), so it rejects a public key
whose encoding is not canonical (x = 0 with the sign bit set), which the others accept (see
tests/test_ed25519_edge_cases.py and docs/ed25519.md).

Code Components extracted from RFC 8032 are licensed under the Simplified BSD License
(Copyright (c) 2017 IETF Trust and the persons identified as the document authors).
"""

from __future__ import annotations

import hashlib

__all__ = ["verify"]

Point = tuple[int, int, int, int]

p = 2**255 - 19
d = -121665 * pow(121666, p - 2, p) % p
q = 2**252 + 27742317777372353535851937790883648493
modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def _sha512_modq(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % q


def _point_add(P: Point, Q: Point) -> Point:
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def _point_mul(s: int, P: Point) -> Point:
    Q: Point = (0, 1, 1, 0)  # neutral element
    while s > 0:
        if s & 1:
            Q = _point_add(Q, P)
        P = _point_add(P, P)
        s >>= 1
    return Q


def _point_equal(P: Point, Q: Point) -> bool:
    # x1 / z1 == x2 / z2  <==>  x1 * z2 == x2 * z1
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    return (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= p:
        return None
    # Reduced before the test: the RFC's printed code tests the unreduced product, so for
    # y = p - 1 (x = 0) with the sign bit set it would decode x = p instead of failing as
    # section 5.1.3, step 4 requires ("if x = 0, and x_0 = 1, decoding fails").
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
    if x2 == 0:
        if sign:
            return None
        return 0
    # Compute square root of x2
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


g_y = 4 * pow(5, p - 2, p) % p
_g_x = _recover_x(g_y, 0)
assert _g_x is not None
G: Point = (_g_x, g_y, 1, _g_x * g_y % p)


def _point_decompress(s: bytes) -> Point | None:
    if len(s) != 32:
        raise ValueError("Invalid input length for decompression")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


def verify(public: bytes, msg: bytes, signature: bytes) -> bool:
    """RFC 8032's ``verify``; a key or signature of the wrong length is a rejection here (the
    RFC's code raises)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    A = _point_decompress(public)
    if not A:
        return False
    Rs = signature[:32]
    R = _point_decompress(Rs)
    if not R:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= q:
        return False
    h = _sha512_modq(Rs + public + msg)
    sB = _point_mul(s, G)
    hA = _point_mul(h, A)
    return _point_equal(sB, _point_add(R, hA))
