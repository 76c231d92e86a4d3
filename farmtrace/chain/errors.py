"""Errors of the chain layer (``farmtrace.chain``).

::

    ChainError(ValueError)        anything wrong with a block header or the chain log
    ├── BlockHeaderError          a block header that is not in its one canonical encoding
    └── ChainLogError             a chain-log operation given arguments it cannot work with

The storage layer (``farmtrace.store``) maps these to its own errors where it needs to; the audit
reports them by block height.
"""

from __future__ import annotations

__all__ = ["BlockHeaderError", "ChainError", "ChainLogError"]


class ChainError(ValueError):
    """Base of every error raised by ``farmtrace.chain`` for bad input."""


class BlockHeaderError(ChainError):
    """A block header's bytes or fields are not valid (the message says which line or field)."""


class ChainLogError(ChainError):
    """The chain log was asked for something it cannot do (a size beyond the log, a bad hash)."""
