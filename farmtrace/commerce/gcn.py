"""GS1 Global Coupon Numbers (AI 255) and coupon identifiers.

A GCN is 13 digits: GS1 Company Prefix, coupon reference and a check digit computed like a
GTIN's over the first 12. One GCN names a campaign's coupon class; a coupon is that GCN followed
by its serial component (1 to 12 digits), as GS1 Digital Link writes it: ``/255/{gcn}{serial}``.
farmtrace serials are the decimal numbers 1, 2, 3... without leading zeros, so a coupon ID reads
back to exactly one (GCN, serial).
"""

from __future__ import annotations

import re

from farmtrace.commerce.errors import CommerceError

__all__ = ["MAX_SERIAL", "check_digit", "coupon_id", "parse_coupon_id", "validate_gcn"]

MAX_SERIAL = 10**12 - 1
"""The largest serial component (12 digits)."""

_GCN = re.compile(r"[0-9]{13}")
_COUPON = re.compile(r"([0-9]{13})([1-9][0-9]{0,11})")


def check_digit(data: str) -> str:
    """The GS1 mod-10 check digit of ``data`` (digits): weights 3, 1, 3, 1... from the rightmost
    digit, as for a GTIN; a GCN's is computed over its first 12 digits."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return str((10 - total % 10) % 10)


def validate_gcn(gcn: object) -> str:
    """Return ``gcn`` if it is 13 digits with a valid check digit; else :class:`CommerceError`."""
    if not isinstance(gcn, str) or not _GCN.fullmatch(gcn):
        raise CommerceError("gcn: expected 13 digits (GS1 Global Coupon Number without serial)")
    if check_digit(gcn[:12]) != gcn[12]:
        raise CommerceError(f"gcn: check digit of {gcn} should be {check_digit(gcn[:12])}")
    return gcn


def coupon_id(gcn: str, serial: int) -> str:
    """The coupon's AI (255) value: the GCN followed by its serial."""
    if not 1 <= serial <= MAX_SERIAL:
        raise CommerceError(f"coupon serial {serial} out of range 1..{MAX_SERIAL}")
    return f"{gcn}{serial}"


def parse_coupon_id(value: object) -> tuple[str, int]:
    """Split a coupon ID into ``(gcn, serial)``; :class:`CommerceError` naming the flaw."""
    if not isinstance(value, str):
        raise CommerceError("coupon: expected a string of digits (GCN and serial)")
    match = _COUPON.fullmatch(value)
    if match is None:
        raise CommerceError(
            "coupon: expected the 13-digit GCN followed by a serial of 1-12 digits without "
            "leading zeros"
        )
    return validate_gcn(match.group(1)), int(match.group(2))
