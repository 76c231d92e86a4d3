"""The error of ``farmtrace.gateway.broker``: one type, whose message names what was wrong."""

from __future__ import annotations

__all__ = ["BrokerFilesError"]


class BrokerFilesError(Exception):
    """The broker's access files cannot be made: an unreadable registry, an unusable output
    directory or credentials file, or a device ID the broker's files cannot express."""
