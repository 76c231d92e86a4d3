"""The commerce layer's one error type."""

from __future__ import annotations

from typing import Literal

__all__ = ["CommerceError", "ErrorKind"]

ErrorKind = Literal["invalid", "not-found", "conflict"]


class CommerceError(ValueError):
    """Input or state that commerce rules refuse; the message names what was wrong.

    ``kind`` says how a caller should answer: ``invalid`` (malformed input: HTTP 422),
    ``not-found`` (an unknown campaign, pledge or coupon: 404) or ``conflict`` (valid input
    that the current state refuses, such as a stale coupon state or a closed campaign: 409).
    """

    def __init__(self, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
