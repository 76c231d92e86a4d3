"""Security and caching headers on every HTTP answer, errors included.

:class:`SecurityHeaders` is the outermost layer of the app (``create_app`` wraps Starlette's
whole stack in it), so the 500 that Starlette's ``ServerErrorMiddleware`` writes for an
unexpected exception carries the headers too. A header a route set itself is left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CACHE_DEFAULT", "CACHE_ERROR", "HSTS", "SECURITY_HEADERS", "SecurityHeaders"]

SECURITY_HEADERS = {
    # Scripts and styles only from our own files: no inline script, style or event handler
    # (the page has none; tests/access/test_api_security.py checks the HTML).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Sent with every response (harmless on JSON, required on the HTML page)."""

HSTS = "max-age=31536000"
"""``Strict-Transport-Security``, sent only on answers over https (a proxy's
``X-Forwarded-Proto: https`` counts when ``trust_forwarded_for`` is on)."""

CACHE_DEFAULT = "no-cache"
"""Successful answers without their own ``Cache-Control``: a cache must revalidate, because
lots, events and the latest checkpoint change. Immutable answers (a checkpoint by size) set
their own ``public, max-age=31536000, immutable``."""

CACHE_ERROR = "no-store"
"""Errors are never stored: a 404 for an entry not yet appended, a 429 or a 503 is transient,
and a 401/403 concerns one client's credentials."""

_FIXED = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS`, HSTS over https, and a
    ``Cache-Control`` (:data:`CACHE_DEFAULT`; :data:`CACHE_ERROR` for status 400 and up, and
    for answers to anything but GET and HEAD) to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [(k, v) for k, v in _FIXED if k not in present]
                if b"cache-control" not in present:
                    stored = message["status"] < 400 and scope["method"] in ("GET", "HEAD")
                    extra.append(
                        (b"cache-control", (CACHE_DEFAULT if stored else CACHE_ERROR).encode())
                    )
                if scope.get("scheme") == "https" and b"strict-transport-security" not in present:
                    extra.append((b"strict-transport-security", HSTS.encode()))
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
