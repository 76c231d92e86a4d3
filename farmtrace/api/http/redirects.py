"""Redirects never name the host a client claimed: every ``Location`` is relative or on
``--public-url``.

Starlette answers a path that matches a route only with (or without) a trailing slash with a
307 whose ``Location`` it builds from the request's ``Host`` header, so a forged ``Host`` (or
an HTTP/1.0 request through a cache) would send the client, or every client of that cache, to
another site. The API itself never redirects off its own site, so this middleware rewrites any
absolute ``Location`` an answer carries to its path and query: relative to the request, or on
the configured public URL when there is one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["OwnLocation", "own_location"]


def own_location(location: str, public_url: str | None) -> str:
    """``location`` without its scheme and host: ``/path?query#fragment``, on ``public_url``
    when given. A relative location is kept as it is."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        return location
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    rest = path + (f"?{parts.query}" if parts.query else "")
    rest += f"#{parts.fragment}" if parts.fragment else ""
    if rest.startswith("//"):  # a scheme-relative URL to another host: keep one slash
        rest = "/" + rest.lstrip("/")
    return (public_url.rstrip("/") + rest) if public_url else rest


class OwnLocation:
    """ASGI middleware applying :func:`own_location` to every answer's ``Location``."""

    def __init__(self, app: ASGIApp, public_url: str | None = None) -> None:
        self.app = app
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_own(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if any(name.lower() == b"location" for name, _ in headers):
                    message = dict(message)
                    message["headers"] = [
                        (
                            name,
                            own_location(value.decode("latin-1"), self.public_url).encode("latin-1")
                            if name.lower() == b"location"
                            else value,
                        )
                        for name, value in headers
                    ]
            await send(message)

        await self.app(scope, receive, send_own)
