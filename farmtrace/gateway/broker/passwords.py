"""Mosquitto password-file entries, written the way ``mosquitto_passwd`` (2.0) writes them.

A line is ``USER:$7$ITERATIONS$SALT$HASH``: ``7`` is Mosquitto's ``sha512-pbkdf2`` type, SALT
the base64 (standard alphabet, padded) of 12 random bytes and HASH the base64 of the 64-byte
PBKDF2-HMAC-SHA512 of the UTF-8 password with that salt. Mosquitto 2.0 requires a 12-byte salt
and ``mosquitto_passwd`` uses 101 iterations, which we keep: the passwords we generate are 256
random bits, so a slower hash would add nothing against guessing, only CPU per connection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = ["ITERATIONS", "SALT_BYTES", "hash_password", "new_password", "verify_password"]

ITERATIONS = 101
SALT_BYTES = 12
_HASH_BYTES = 64
_PREFIX = "$7$"


def new_password() -> str:
    """A random password: 32 bytes as URL-safe base64 (no ':', '@' or '/', so it also fits
    into a broker URL and an environment file unquoted)."""
    return secrets.token_urlsafe(32)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The ``$7$...`` field of a password-file line for ``password`` (a fresh salt unless
    given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"Mosquitto needs a {SALT_BYTES}-byte salt, got {len(salt)}")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ITERATIONS)
    return f"{_PREFIX}{ITERATIONS}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``encoded`` (a ``$7$`` field, any iteration count) is the hash of ``password``;
    ``False`` for anything that is not such a field."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return False
    iterations = int(parts[2])
    if not 0 < iterations <= 1_000_000 or len(expected) != _HASH_BYTES:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
