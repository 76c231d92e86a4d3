"""The one error type of the cold-chain layer."""

from __future__ import annotations

__all__ = ["ColdChainError"]


class ColdChainError(ValueError):
    """A series, rule or acknowledgement that is malformed; the message says what was wrong."""
