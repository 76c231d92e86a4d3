"""``/docs``: the interactive API reference (Swagger UI), served whole by the API itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN and starts it with an inline script, which
the API's Content-Security-Policy (``farmtrace.api.http.headers``: ``script-src 'self'``, no
``'unsafe-inline'``) blocks. This page instead loads Swagger UI's files from the
``swagger-ui-bundle-v2`` package (the unmodified ``swagger-ui-dist`` release, Apache-2.0),
mounted at :data:`ASSETS_URL`, and starts it with :data:`INIT_SCRIPT`, a file of our own. It
works offline and under the same CSP as every other answer: no relaxation.

Page contract (read by ``farmtrace/api/web/static/docs/init.js``): ``#swagger-ui`` carries
``data-openapi-url``, the schema Swagger UI renders.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from farmtrace.api.deps import rate_limit

__all__ = ["ASSETS", "ASSETS_URL", "INIT_SCRIPT", "OPENAPI_URL", "SwaggerAssets", "router"]

ASSETS_URL = "/static/swagger-ui"
"""Where :class:`SwaggerAssets` is mounted (before ``/static``, which would shadow it)."""

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
"""The package's files the page uses; the rest of it (its demo ``index.html`` pointing at the
petstore, Jinja templates, source maps, the standalone preset) is not served."""

INIT_SCRIPT = "/static/docs/init.js"

OPENAPI_URL = "/openapi.json"
"""The schema, served by :func:`openapi_schema` (FastAPI's own route has no rate limit)."""

router = APIRouter(dependencies=[Depends(rate_limit)])


class SwaggerAssets(StaticFiles):
    """The files of :data:`ASSETS` from the installed Swagger UI, with the conditional GETs
    (``ETag``/``Last-Modified``) of :class:`StaticFiles`; any other name is a 404.

    Raises :class:`RuntimeError` naming the file when the package lacks one of them, so a
    broken install fails when the app is built rather than as a blank page.
    """

    def __init__(self) -> None:
        directory = Path(str(swagger_ui_path))
        missing = [name for name in ASSETS if not (directory / name).is_file()]
        if missing:
            raise RuntimeError(
                f"Swagger UI files missing from {directory}: {', '.join(missing)} "
                "(reinstall the swagger-ui-bundle-v2 package)"
            )
        super().__init__(directory=directory)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in ASSETS:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def render_docs_page(title: str, openapi_url: str) -> str:
    """The ``/docs`` document: Swagger UI's stylesheet and script and :data:`INIT_SCRIPT`, all
    same-origin files; no inline script, style or event handler."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} API reference</title>
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_URL}/favicon-32x32.png">
<script src="{ASSETS_URL}/swagger-ui-bundle.js" defer></script>
<script src="{INIT_SCRIPT}" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url, quote=True)}"></div>
</body>
</html>
"""


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """The interactive reference of the app's OpenAPI schema."""
    return HTMLResponse(render_docs_page(request.app.title, OPENAPI_URL))


@router.get(OPENAPI_URL, include_in_schema=False)
def openapi_schema(request: Request) -> JSONResponse:
    """The app's OpenAPI schema (built once by FastAPI and cached), charged to the client's
    rate limit like every other read."""
    return JSONResponse(request.app.openapi())
