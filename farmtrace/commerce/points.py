"""Which 32-byte strings are usable Ed25519 public keys for a wallet (RFC 8032, section 5.1.3).

``cryptography`` accepts any 32 bytes as a public key and fails only when verifying, so a coupon
could be issued or sent to bytes nobody can ever sign for, or to a small-order point, for which
signatures can be made without any private key on some verifiers. A wallet address must decode
to a point on the curve, in canonical form (y < p), of more than small order. Plain integers,
fast enough for addresses (a few per request), not for batch verification.
"""

from __future__ import annotations

__all__ = ["address_problem"]

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode(raw: bytes) -> tuple[int, int] | str:
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return "its y coordinate is not reduced modulo p (a non-canonical encoding)"
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # x = u v^3 (u v^7)^((p-5)/8) (RFC 8032, 5.1.3): the square root of u/v in one
    # exponentiation, no inversion; each costs as much as a few hundred multiplications.
    v3 = v * v * v % _P
    x = u * v3 * pow(u * v3 * v3 * v % _P, (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 != u:
        if vx2 != _P - u:
            return "it is not a point on the curve"
        x = x * _SQRT_M1 % _P
    if x == 0:
        if sign:
            return "it encodes x = 0 with the sign bit set (a non-canonical encoding)"
        return (0, y)
    if x & 1 != sign:
        x = _P - x
    return (x, y)


def _times_eight_is_neutral(point: tuple[int, int]) -> bool:
    """Whether 8 * ``point`` is the neutral element (0, 1): three doublings in projective
    coordinates (X : Y : Z), which need no inversion (dbl-2008-bbjlp with a = -1)."""
    x, y, z = point[0], point[1], 1
    for _ in range(3):
        b = (x + y) * (x + y) % _P
        c = x * x % _P
        d = y * y % _P
        f = (d - c) % _P
        j = (f - 2 * z * z) % _P
        x, y, z = (b - c - d) * j % _P, f * (-c - d) % _P, f * j % _P
    return x == 0 and (y - z) % _P == 0


def address_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a usable public key, or ``None`` if it is."""
    if len(raw) != 32:
        return f"it is {len(raw)} bytes, not 32"
    point = _decode(raw)
    if isinstance(point, str):
        return point
    if _times_eight_is_neutral(point):
        return "it is a point of small order (anyone could sign for it)"
    return None
