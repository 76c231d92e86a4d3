"""Canonical JSON for commerce entries: one encoding per value, reproducible in a browser.

Allowed values: objects with string keys, arrays, strings and integers with magnitude below
2**53 (exact in JavaScript numbers too). No floats, booleans or nulls: money and quantities are
integers of stated units, and an absent field is left out. Encoding: keys sorted by code point
(UTF-16 order equals code-point order for the ASCII keys used here), no whitespace, non-ASCII
text as UTF-8 rather than escaped (``JSON.stringify`` after sorting keys gives the same bytes).
"""

from __future__ import annotations

import json
from typing import Any

from farmtrace.commerce.errors import CommerceError

__all__ = ["MAX_INT", "canonical_json", "check_value", "parse_canonical"]

MAX_INT = 2**53 - 1


def check_value(value: Any, where: str = "body") -> None:
    """Raise :class:`CommerceError` naming the first value canonical JSON does not allow."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise CommerceError(f"{where}: only strings, integers, arrays and objects are allowed")
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise CommerceError(f"{where}: integer {value} is outside ±(2**53-1)")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise CommerceError(f"{where}: text with no UTF-8 form") from None
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_value(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CommerceError(f"{where}: object keys must be strings")
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                # Else json.dumps would fail on it below, uncaught, instead of naming it.
                raise CommerceError(f"{where}: an object key with no UTF-8 form") from None
            check_value(item, f"{where}.{key}")
    else:
        raise CommerceError(f"{where}: {type(value).__name__} is not allowed")


def canonical_json(value: Any) -> bytes:
    """The canonical encoding of ``value`` (checked with :func:`check_value`)."""
    check_value(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse ``data`` and insist it is canonical (re-encoding gives the same bytes)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommerceError(f"{what}: not valid UTF-8 JSON") from None
    if canonical_json(value) != data:
        raise CommerceError(f"{what}: JSON is not in canonical form")
    return value
