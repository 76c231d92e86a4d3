"""The API's one error type and its mapping to JSON responses (mapped once, in ``main``)."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "Unauthorized"]


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
