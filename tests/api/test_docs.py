"""``/docs`` (``farmtrace.api.routes.docs``): Swagger UI from our own files under the API's CSP.

The page must reference only same-origin files, carry no inline script, style or event handler
(the CSP would block them), get the same headers as every other answer (no relaxation of the
CSP), be rate limited like the other pages, and its files must be served with their types.
The browser run is in ``test_docs_browser.py``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.api import Served

from farmtrace.api.http.headers import SECURITY_HEADERS
from farmtrace.api.http.ratelimit import RateLimiter
from farmtrace.api.routes import docs
from farmtrace.api.routes.docs import ASSETS_URL, INIT_SCRIPT, SwaggerAssets

ROOT = Path(__file__).resolve().parents[2]
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _Refs(HTMLParser):
    """The files a page loads, and what in it a ``script-src 'self'; style-src 'self'`` CSP
    would block (inline scripts, ``<style>``, ``style=`` and ``on*=`` attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.blocked += [f"<{tag} {k}=>" for k, _ in attrs if k == "style" or k.startswith("on")]
        if tag == "style":
            self.blocked.append("<style>")
        if tag == "script":
            self._in_script = True
            if not values.get("src"):
                self.blocked.append("<script> without src")
        for name in ("src", "href"):
            if values.get(name):
                self.files.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.blocked.append(f"inline script text {data.strip()[:40]!r}")


def test_docs_page_loads_only_our_own_files(served: Served) -> None:
    page = served.client.get("/docs")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    refs = _Refs()
    refs.feed(page.text)
    assert not refs.blocked, refs.blocked
    # Absolute paths on this origin: no scheme, no protocol-relative //host.
    assert refs.files and all(f.startswith("/") and not f.startswith("//") for f in refs.files)
    assert {
        f"{ASSETS_URL}/swagger-ui-bundle.js",
        f"{ASSETS_URL}/swagger-ui.css",
        INIT_SCRIPT,
    } <= set(refs.files)
    assert 'data-openapi-url="/openapi.json"' in page.text
    for path in refs.files:
        answer = served.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"].startswith(TYPES[Path(path).suffix]), path
        assert answer.headers["cache-control"] == "no-cache", path  # /static's convention
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert (
            answer.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )
    init = served.client.get(INIT_SCRIPT).content
    assert init == (ROOT / "farmtrace/api/web/static/docs/init.js").read_bytes()


def test_docs_page_has_every_security_header_and_the_unrelaxed_csp(served: Served) -> None:
    page = served.client.get("/docs")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value, name
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert page.headers["cache-control"] == "no-cache"


def test_swagger_files_are_the_packages_bytes_and_revalidate(served: Served) -> None:
    bundle = served.client.get(f"{ASSETS_URL}/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert b"SwaggerUIBundle" in bundle.content and len(bundle.content) > 100_000
    tag = bundle.headers["etag"]
    again = served.client.get(f"{ASSETS_URL}/swagger-ui-bundle.js", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        f"{ASSETS_URL}/index.html",  # the package's demo page (petstore, inline script)
        f"{ASSETS_URL}/index.j2",
        f"{ASSETS_URL}/swagger-initializer.js",
        f"{ASSETS_URL}/swagger-ui-bundle.js.map",
        f"{ASSETS_URL}/",
        "/redoc",  # FastAPI's CDN pages are off
        "/docs/oauth2-redirect",
    ],
)
def test_nothing_else_of_the_package_is_served(served: Served, path: str) -> None:
    answer = served.client.get(path)
    assert answer.status_code == 404, (path, answer.status_code)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["error"] == "http"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_and_schema_are_rate_limited(served: Served, path: str) -> None:
    state = served.client.app.state.farmtrace  # type: ignore[attr-defined]
    state.limiter = RateLimiter(rate=0.001, burst=2)
    assert [served.client.get(path).status_code for _ in range(2)] == [200, 200]
    limited = served.client.get(path)
    assert limited.status_code == 429 and limited.json()["error"] == "rate-limited"
    assert limited.headers["cache-control"] == "no-store"
    assert int(limited.headers["retry-after"]) >= 1


def test_the_schema_is_the_apps(served: Served) -> None:
    answer = served.client.get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    schema = answer.json()
    assert schema == served.client.app.openapi()  # type: ignore[attr-defined]
    assert schema["openapi"].startswith("3.") and "/checkpoint" in schema["paths"]
    assert "/openapi.json" not in schema["paths"] and "/docs" not in schema["paths"]


def test_a_broken_swagger_install_is_named_when_the_app_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "swagger-ui.css").write_text("")
    monkeypatch.setattr(docs, "swagger_ui_path", tmp_path)
    with pytest.raises(RuntimeError) as failure:
        SwaggerAssets()
    message = str(failure.value)
    assert "swagger-ui-bundle.js" in message and "favicon-32x32.png" in message
    assert "swagger-ui.css" not in message and str(tmp_path) in message
