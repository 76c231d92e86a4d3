"""``/docs`` in headless Chromium against the real API on 127.0.0.1: Swagger UI renders every
operation of the schema under the API's Content-Security-Policy, with nothing blocked.

Chromium loads the page, Swagger UI's files and ``/openapi.json`` from the API (uvicorn in a
thread, the ``live`` fixture of ``test_page_browser``); the DOM is read after a virtual-time
budget (``--dump-dom``). Chromium writes every console message to stderr
(``--enable-logging=stderr``): a CSP violation (an inline script, ``eval``, a file from another
origin) and an uncaught error both appear there, so the page must log nothing. A control page
with an inline script proves such a violation does show. Without Chromium the test skips, or
fails under CI=true.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.responses import HTMLResponse
from support.api import Served
from support.chromium import load_page
from test_page_browser import live

pytestmark = pytest.mark.integration

__all__ = ["live"]  # the fixture, imported for its name

_OPERATION = re.compile(
    r'class="opblock-summary-method">([A-Z]+)</span>.*?'
    r'class="opblock-summary-path" data-path="([^"]+)"',
    re.S,
)


def test_docs_renders_every_operation_without_a_csp_violation(live: str, served: Served) -> None:
    schema = served.client.get("/openapi.json").json()
    expected = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert ("GET", "/checkpoint") in expected and len(expected) >= 15

    def control() -> HTMLResponse:
        return HTMLResponse("<!DOCTYPE html><title>c</title><script>document.title='x'</script>")

    # Added before the first request reaches the live server, so no route changes under it.
    app = served.client.app
    app.add_api_route("/probe/inline-script", control, include_in_schema=False)  # type: ignore[attr-defined]
    dom, console = load_page(f"{live}/docs", served.tmp / "profile", console=True)
    rendered = {(method, unescape(path)) for method, path in _OPERATION.findall(dom)}
    assert rendered == expected, (expected - rendered, rendered - expected, dom[:2000])
    assert 'data-path="/checkpoint"' in dom
    assert "farmtrace" in dom  # the schema's title, shown by Swagger UI's info section
    assert console == [], console

    # The detector works: the same browser reports a blocked inline script on our CSP.
    _, blocked = load_page(f"{live}/probe/inline-script", served.tmp / "profile", console=True)
    assert any("Content Security Policy" in line and "script-src" in line for line in blocked), (
        blocked
    )
