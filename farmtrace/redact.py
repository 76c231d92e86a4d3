"""Hiding secrets in URLs before they reach a message, a log line or an exception.

``redact_url`` is the one helper for every URL that can carry a password: database URLs
(``postgresql://user:password@host/db``) and broker URLs (``mqtt://user:password@host``). It
works on text that does not parse as a URL too (a bad port, a stray path), because the messages
that echo a URL are mostly about URLs that failed to parse.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_url"]

MASK = "***"
"""What stands where a password was."""

# scheme://user:password@  -- the password runs to the last '@' before the host part, so a
# password holding '@', ':' or '/' (unescaped, as people do type them) is hidden whole.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*):(?P<pw>[^\s]*)@")
_SECRET_QUERY = re.compile(r"(?i)(?P<key>[?&](?:password|passwd|pwd|sslpassword|secret)=)[^&#\s]*")


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info and any password-like query value masked.

    ``redact_url("postgresql://u:s3cret@db/x")`` is ``"postgresql://u:***@db/x"``; a URL
    without a password comes back unchanged. Never raises.
    """
    masked = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", url)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{MASK}", masked)
