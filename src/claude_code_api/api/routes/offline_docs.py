"""``/docs`` (Swagger UI) and ``/redoc`` with their JavaScript and CSS served by the service.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and stay blank without internet.
The assets come from the ``fastapi-offline`` package (a maintained PyPI package that ships
Swagger UI 5 and ReDoc 2 builds, MIT); only its files are used, through FastAPI's own
``get_swagger_ui_html`` / ``get_redoc_html``, so the pages are FastAPI's. Create the app with
``docs_url=None, redoc_url=None`` and call :func:`install`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the assets are served from.
ASSETS_URL = "/docs-assets"
#: The directory of ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``.
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
#: Nothing but this service: ReDoc's footer logo points at its vendor's CDN, and an offline
#: page should not try (or hang on) any outside address. Inline script/style are FastAPI's.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local assets."""
    oauth2_redirect = f"{docs_url}/oauth2-redirect"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def _base(request: Request) -> str:
        root: str = request.scope.get("root_path", "")
        return root

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _base(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        page.headers["Content-Security-Policy"] = CSP
        return page

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _base(request)
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = CSP
        return page
