"""The API's one error type, and the one mapping from store errors to it (both answered by the
handlers ``main`` registers once, as ``{"error": code, "detail": message}``).

A route raises :class:`ApiError` for what it judges itself (a malformed GTIN, a missing key)
and lets every ``farmtrace.store`` error through: :func:`from_store_error` maps it, so that a
missing thing is always 404 and only a database that cannot be reached is 503. Commerce rules
refuse with :class:`~farmtrace.commerce.errors.CommerceError`, mapped by its ``kind`` in
:func:`from_commerce_error` (422 malformed, 404 unknown, 409 refused by the current state).
"""

from __future__ import annotations

from typing import ClassVar

from farmtrace.commerce.errors import CommerceError
from farmtrace.store.errors import (
    ChainMismatchError,
    DatabaseError,
    DeviceRegistryError,
    InconsistentCheckpointError,
    InvalidEntryError,
    NotFoundError,
    StateConflictError,
    StoreError,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "StoreInconsistent",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "from_commerce_error",
    "from_store_error",
]


class ApiError(Exception):
    """An error answered as ``{"error": code, "detail": message}`` with ``status``."""

    status = 500
    code = "internal"
    headers: ClassVar[dict[str, str] | None] = None
    """Extra response headers (``WWW-Authenticate`` on 401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ApiError):
    status = 400
    code = "bad-request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {
        "WWW-Authenticate": 'Bearer realm="farmtrace"'
    }  # RFC 6750 section 3


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not-found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    """Well-formed JSON whose values a rule refuses (a bad check digit, an unknown currency)."""

    status = 422
    code = "invalid"


class StoreInconsistent(ApiError):
    """The stored chain contradicts what was signed (a server fault, not a transient one)."""

    status = 500
    code = "inconsistent-store"


class Unavailable(ApiError):
    """The database cannot be reached or read; the detail never says more (no URLs)."""

    status = 503
    code = "storage"


_STORE_ERRORS: dict[type[StoreError], tuple[type[ApiError], str | None]] = {
    NotFoundError: (NotFound, None),
    InvalidEntryError: (BadRequest, None),
    DeviceRegistryError: (Conflict, None),
    StateConflictError: (Conflict, None),
    DatabaseError: (Unavailable, "the database is unavailable; try again"),
    ChainMismatchError: (StoreInconsistent, "the stored chain does not match what was signed"),
    InconsistentCheckpointError: (
        StoreInconsistent,
        "the stored chain does not match what was signed",
    ),
}
"""Each store error class the API can meet, the answer it gets and, for a server error, the
fixed detail it shows instead of its message (which may name files or database URLs). Any other
``StoreError`` (a ``KeyFileError``: the server's own files) is a 500 ``internal``."""


def from_store_error(exc: StoreError) -> ApiError:
    """The answer to ``exc`` (by its nearest class in :data:`_STORE_ERRORS`): a client error
    carries the store's message, a server error only a fixed detail (the message is for the
    server's log)."""
    for cls in type(exc).__mro__:
        if cls in _STORE_ERRORS:
            answer, detail = _STORE_ERRORS[cls]
            return answer(str(exc) if detail is None else detail)
    return ApiError("internal error")


_COMMERCE_ERRORS: dict[str, type[ApiError]] = {
    "invalid": Unprocessable,
    "not-found": NotFound,
    "conflict": Conflict,
}


def from_commerce_error(exc: CommerceError) -> ApiError:
    """The answer to a refusal of the commerce rules, by its ``kind``; the detail is its
    message, which names the field or the state at fault (never a secret)."""
    return _COMMERCE_ERRORS.get(exc.kind, Unprocessable)(str(exc))
