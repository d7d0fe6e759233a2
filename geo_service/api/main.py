"""Application factory: settings → store, signing key and region services → routes."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from geo_service import __version__, isolated
from geo_service._errors import InputError
from geo_service.api.deps import AppState, answer_language, document_optional_login
from geo_service.api.docs_pages import add_docs_pages
from geo_service.api.errors import (
    errors_as_json,
    input_error,
    method_not_allowed,
    precondition_message,
    prefers_english,
    registry_busy,
    validation_error,
)
from geo_service.api.headers import SecurityHeaders
from geo_service.api.limits import BodySizeLimit, BodyTooLargeError
from geo_service.api.routes import auth, coverage, health, pages, profiles, resources, users
from geo_service.api.routes import basemap as basemap_routes
from geo_service.api.routes import geocode as geocode_routes
from geo_service.api.routes import planning as planning_routes
from geo_service.api.views import etag
from geo_service.config import ServiceSettings
from geo_service.engine.region import Region
from geo_service.i18n import text_of
from geo_service.registry.auth import (
    AuthenticationError,
    PermissionDeniedError,
    TooManyLoginsError,
    load_or_create_secret,
)
from geo_service.registry.store import (
    NotFoundError,
    PreconditionFailedError,
    RegistryBusyError,
    ResourceStore,
    open_store,
)
from geo_service.service.registry_state import one_state
from geo_service.service.walking import WalkingService


def _not_found(request: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": _detail(request, e)})


def _precondition_failed(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, PreconditionFailedError)
    tag = etag(e.current)
    message = precondition_message(e.resource_id, e.current, e.expected,
                                   english=prefers_english(request))
    return JSONResponse(status_code=412, content={"detail": {"message": message, "etag": tag}},
                        headers={"ETag": tag})


def _detail(request: Request, e: Exception) -> str:
    """An exception's message (a catalogue message or text) in the request's language."""
    return text_of(e.args[0], answer_language(request)) if e.args else ""


def _unauthenticated(request: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=401, content={"detail": _detail(request, e)},
                        headers={"WWW-Authenticate": "Bearer"})


def _forbidden(request: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": _detail(request, e)})


def _body_too_large(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, BodyTooLargeError)
    return e.response(request)


def _too_many_logins(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, TooManyLoginsError)
    return JSONResponse(status_code=429, content={"detail": _detail(request, e)},
                        headers={"Retry-After": str(e.retry_after)})


#: How long (s) a thread holding Python's lock runs before it must hand it to another
#: thread waiting for it (:func:`sys.setswitchinterval`; Python's default is 5 ms). While
#: the registry's walking state is rebuilt in a worker thread (seconds of parsing after a
#: large import), a request waits for the lock each time it comes back from I/O or from
#: another thread, up to this long each time: at 5 ms a request's few dozen such steps
#: added up to seconds (``benchmarks/bench_api_live.py``).
SWITCH_INTERVAL_S = 0.0005


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Size the worker's thread pool for the (synchronous, CPU-bound) routes, hand
    Python's lock between threads often (:data:`SWITCH_INTERVAL_S`), start the fork server
    of the upload readers (a second or two, in the background), and build the registry's
    first walking state with every category's distance field before the first request (a
    few seconds at 250,000 nodes), so that no request waits for one."""
    to_thread.current_default_thread_limiter().total_tokens = app.state.geo.settings.threads
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        threading.Thread(target=isolated.warm_up, name="warm-up", daemon=True).start()
        walking = app.state.geo.walking
        if walking is not None:
            await to_thread.run_sync(walking.live.warm_up)
        yield
    finally:
        sys.setswitchinterval(switch_interval)  # a test's process goes on


class OneRegistryState:
    """ASGI middleware: whatever a request asks the coverage service comes from one
    registry state, the one current when it first asks (a rebuild swapped in meanwhile
    serves the next requests; see :mod:`geo_service.service.registry_state`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with one_state():
            await self.app(scope, receive, send)


def create_app(settings: ServiceSettings | None = None, *, store: ResourceStore | None = None,
               walking: WalkingService | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Deployment settings (default: from the environment, see :mod:`geo_service.config`).
    store
        An open store; default :func:`~geo_service.registry.store.open_store` on the region's
        registry (``settings.registry_url``; a SQLite file is created on first start).
    walking
        The coverage service of a region, for the walking routes; default: loaded from
        ``settings.region_dir`` when set.
    """
    settings = settings or ServiceSettings()
    region = (Region.load(settings.region_dir)
              if walking is None and settings.region_dir is not None else None)
    store = store or open_store(settings.registry_url(region.key if region else None),
                                busy_seconds=settings.sqlite_busy_seconds)
    secret = settings.secret_key or load_or_create_secret(settings.data_dir / "secret_key")
    if region is not None:  # edits are taken in by a worker thread, not by the requests
        walking = WalkingService.from_settings(region, settings, store=store, background=True)
    # /docs and /redoc load everything from the service, not from a CDN (municipal office
    # networks are often closed): see docs_pages
    app = FastAPI(
        docs_url=None, redoc_url=None,
        title="geo-service",
        version=__version__,
        description="Community-resource (地域資源) registry and walking-coverage API. "
                    "Responses are GeoJSON (RFC 7946, lon/lat).",
        lifespan=_lifespan,
    )
    add_docs_pages(app)
    app.state.geo = AppState(settings=settings, store=store, secret=secret, walking=walking)
    app.add_exception_handler(InputError, input_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(PreconditionFailedError, _precondition_failed)
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(PermissionDeniedError, _forbidden)
    app.add_exception_handler(TooManyLoginsError, _too_many_logins)
    app.add_exception_handler(RegistryBusyError, registry_busy)  # SQLite's write lock
    app.add_exception_handler(BodyTooLargeError, _body_too_large)  # a body streamed too long
    routers = [m.router for m in (pages, health, auth, users, resources, profiles, geocode_routes,
                                    planning_routes)]
    if walking is not None:
        routers += [coverage.router, basemap_routes.router]
    for router in routers:
        app.include_router(router)
    routes = [route for router in routers for route in router.routes]
    app.add_exception_handler(405, method_not_allowed(routes))
    # the pages' files, compressed (a phone on a slow line fetches a tenth of Leaflet's
    # bytes); the API's answers are not, to keep their latency
    app.mount("/static", GZipMiddleware(StaticFiles(directory=pages.STATIC_DIR)), name="static")
    app.mount("/vendor", GZipMiddleware(StaticFiles(directory=pages.VENDOR_DIR)), name="vendor")
    app.add_middleware(OneRegistryState)
    app.add_middleware(SecurityHeaders, image_origins=[b.origin for b in settings.basemaps])
    # uploads: the file limit plus room for the form's other fields and framing
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, per_path={
        app.url_path_for("import_file"): settings.max_upload_bytes + 64_000})
    if settings.cors_origins:  # outermost: a 413 carries the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    _complete_openapi(app, settings, routes)
    return app


def _complete_openapi(app: FastAPI, settings: ServiceSettings,
                      routes: list[BaseRoute]) -> None:
    """Make ``app.openapi()`` state the limits of these settings, where logging in is
    optional, and that error answers are JSON."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            coverage.document_settings(schema, settings)
            document_optional_login(schema, routes)
            errors_as_json(schema)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """The app as configured by the environment (uvicorn factory for ``geo-service serve``)."""
    return create_app(ServiceSettings())
