"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, with nothing external.

Their scripts, stylesheet and icon are the copies that the ``fastapi-offline`` package
ships, served under :data:`ASSETS` (municipal office networks are often closed, and the
pages' Content-Security-Policy allows no other origin). Two things in those bundles would
still reach out, and are switched off here:

- ReDoc's footer shows a logo loaded from ``cdn.redoc.ly``: the bundle is served with that
  address emptied (an image without a source shows nothing and loads nothing);
- Swagger UI shows a badge from ``validator.swagger.io`` for specifications it can reach:
  the page sets ``validatorUrl`` to null.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

ASSETS = "/docs-assets"  # where the pages' scripts, stylesheet and icon are served
BUNDLES = Path(str(files("fastapi_offline") / "static"))
#: external addresses in the bundles that a page would load, and what replaces them
EXTERNAL_LOADS = {"https://cdn.redoc.ly/redoc/logo-mini.svg": ""}
REDOC_JS = "redoc.standalone.js"


@cache
def _redoc_script() -> bytes:
    text = (BUNDLES / REDOC_JS).read_text(encoding="utf-8")
    for address, replacement in EXTERNAL_LOADS.items():
        text = text.replace(address, replacement)
    return text.encode("utf-8")


def add_docs_pages(app: FastAPI) -> None:
    """Serve ``/docs``, its OAuth2 redirect page and ``/redoc`` on ``app`` (made with
    ``docs_url=None, redoc_url=None``), their files under :data:`ASSETS`."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get(f"{ASSETS}/{REDOC_JS}", include_in_schema=False)
    def redoc_script() -> Response:  # before the mount below, which would serve it as is
        return Response(_redoc_script(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS, StaticFiles(directory=BUNDLES), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url,
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None})

    @app.get(redirect_url, include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{ASSETS}/{REDOC_JS}",
                              redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
                              with_google_fonts=False)
