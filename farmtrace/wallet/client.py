"""The few API calls a wallet makes, over the standard library's HTTP client.

Every failure becomes a :class:`~farmtrace.wallet.keyfile.WalletError` with the server's own
words: an answer of 4xx is the API refusing the request (exit code 1, its ``detail`` quoted);
no answer, a 5xx or a body that is not JSON means the command could not run (exit code 2).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from farmtrace.wallet.keyfile import WalletError

__all__ = ["ApiClient", "ApiRefused", "check_api_url"]

TIMEOUT_S = 30.0
MAX_ANSWER = 16 * 1024 * 1024  # bytes read from one answer at most


class ApiRefused(WalletError):
    """The API answered 4xx; ``status`` is the HTTP status and the message its detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail, code=1)
        self.status = status


def check_api_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WalletError(f"--api: {url!r} is not an http:// or https:// URL of the API")
    if parts.query or parts.fragment:
        raise WalletError(f"--api: {url!r} has a query or fragment; give the API's base URL")
    return url.rstrip("/")


def _detail(body: bytes) -> str:
    """The ``detail`` of an error answer, as one line of text."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or "(no detail)"
    detail = data.get("detail") if isinstance(data, dict) else data
    if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


@dataclass(frozen=True)
class ApiClient:
    """JSON over HTTP to the API at ``base`` (``http://host:port``, no trailing slash)."""

    base: str
    timeout_s: float = TIMEOUT_S

    def get(self, path: str, **query: str) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return self._call(urllib.request.Request(url, headers={"Accept": "application/json"}))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        return self._call(request)

    def _call(self, request: urllib.request.Request) -> Any:
        what = f"{request.get_method()} {request.full_url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                body = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = _detail(exc.read(MAX_ANSWER))
            exc.close()
            if 400 <= status < 500:
                raise ApiRefused(status, detail) from None
            raise WalletError(f"{what}: the API failed (HTTP {status}): {detail}") from None
        except urllib.error.URLError as exc:
            raise WalletError(f"cannot reach the API at {self.base}: {exc.reason}") from None
        except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
            raise WalletError(f"cannot reach the API at {self.base}: {exc}") from None
        if len(body) > MAX_ANSWER:
            raise WalletError(f"{what}: the answer is larger than {MAX_ANSWER} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise WalletError(f"{what}: the answer is not JSON; is {self.base} the API?") from None
