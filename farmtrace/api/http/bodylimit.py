"""A cap on request bodies, so that no client makes the API buffer more than it can use.

FastAPI reads a body whole before any dependency runs, the key check included; without a cap a
stranger could make the server hold a body of any size in memory. The largest useful body (a
lot of 64 stages of 64 device IDs) stays well under :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

MAX_BODY_BYTES = 1 << 20
"""The largest request body accepted (1 MiB); larger ones are answered 413."""


class BodyLimit:
    """Pure ASGI middleware: a body over ``limit`` bytes, announced by ``Content-Length`` or
    counted as it streams in, makes the read fail with 413 (mapped like any HTTP error)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope.get("headers", [])).get(b"content-length", b"0")
        too_big = HTTPException(413, f"request body over {self.limit} bytes")
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            if announced.isdigit() and int(announced) > self.limit:
                raise too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_big
            return message

        await self.app(scope, limited_receive, send)
