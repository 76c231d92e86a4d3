"""The demo's one error type: something the demo could not start or keep running."""

from __future__ import annotations

__all__ = ["DemoError"]


class DemoError(Exception):
    """A failure of the demo itself; the message names what failed and where its log is."""
