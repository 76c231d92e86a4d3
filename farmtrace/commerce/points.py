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
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        if sign:
            return "it encodes x = 0 with the sign bit set (a non-canonical encoding)"
        return (0, y)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return "it is not a point on the curve"
    if x & 1 != sign:
        x = _P - x
    return (x, y)


def _double(point: tuple[int, int]) -> tuple[int, int]:
    x, y = point
    xy = x * y % _P
    t = _D * xy * xy % _P
    return (
        2 * xy * pow(1 + t, _P - 2, _P) % _P,
        (y * y + x * x) * pow(1 - t, _P - 2, _P) % _P,
    )


def address_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a usable public key, or ``None`` if it is."""
    if len(raw) != 32:
        return f"it is {len(raw)} bytes, not 32"
    point = _decode(raw)
    if isinstance(point, str):
        return point
    for _ in range(3):
        point = _double(point)
    if point == (0, 1):
        return "it is a point of small order (anyone could sign for it)"
    return None
