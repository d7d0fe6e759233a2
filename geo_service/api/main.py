"""Application factory: settings → store, signing key and region services → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from geo_service import __version__
from geo_service._errors import ConflictError, InputError
from geo_service.api.deps import AppState
from geo_service.api.limits import MESSAGE_CHARS, BodySizeLimit, clip, clip_error
from geo_service.api.routes import auth, coverage, health, resources, users
from geo_service.api.uploads import UploadTooLargeError
from geo_service.api.views import etag
from geo_service.auth import (
    AuthenticationError,
    PermissionDeniedError,
    TooManyLoginsError,
    load_or_create_secret,
)
from geo_service.config import ServiceSettings
from geo_service.region import Region
from geo_service.store import NotFoundError, PreconditionFailedError, ResourceStore, open_store
from geo_service.walking import WalkingService


def _input_error(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, InputError)
    code = 413 if isinstance(e, UploadTooLargeError) else (
        409 if isinstance(e, ConflictError) else 422)
    detail = {"message": clip(str(e), MESSAGE_CHARS), "reason": e.reason, "field": e.column,
              "value": clip(e.value if isinstance(e.value, str | int | float | None)
                            else str(e.value))}
    if getattr(e, "errors", None):
        detail["problems"] = [{"field": f, "value": clip(str(v)), "reason": r}
                              for f, v, r in e.errors]  # type: ignore[attr-defined]
    return JSONResponse(status_code=code, content={"detail": detail})


def _validation_error(_: Request, e: Exception) -> JSONResponse:
    """FastAPI's 422 body, with long inputs clipped instead of echoed whole."""
    assert isinstance(e, RequestValidationError)
    errors = [clip_error(err) for err in e.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _not_found(_: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(e)})


def _precondition_failed(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, PreconditionFailedError)
    tag = etag(e.current)
    return JSONResponse(status_code=412, content={"detail": {"message": str(e), "etag": tag}},
                        headers={"ETag": tag})


def _unauthenticated(_: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=401, content={"detail": str(e)},
                        headers={"WWW-Authenticate": "Bearer"})


def _forbidden(_: Request, e: Exception) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": str(e)})


def _too_many_logins(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, TooManyLoginsError)
    return JSONResponse(status_code=429, content={"detail": str(e)},
                        headers={"Retry-After": str(e.retry_after)})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Size the worker's thread pool for the (synchronous, CPU-bound) routes."""
    to_thread.current_default_thread_limiter().total_tokens = app.state.geo.settings.threads
    yield


def create_app(settings: ServiceSettings | None = None, *, store: ResourceStore | None = None,
               walking: WalkingService | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Deployment settings (default: from the environment, see :mod:`geo_service.config`).
    store
        An open store; default :func:`~geo_service.store.open_store` on the region's
        registry (``settings.registry_url``; a SQLite file is created on first start).
    walking
        The coverage service of a region, for the walking routes; default: loaded from
        ``settings.region_dir`` when set.
    """
    settings = settings or ServiceSettings()
    region = (Region.load(settings.region_dir)
              if walking is None and settings.region_dir is not None else None)
    store = store or open_store(settings.registry_url(region.key if region else None))
    secret = settings.secret_key or load_or_create_secret(settings.data_dir / "secret_key")
    if region is not None:
        walking = WalkingService(region, store, threshold_m=settings.threshold_m,
                                 area_layer=settings.area_layer)
    # FastAPIOffline: FastAPI whose /docs and /redoc load their scripts from the service,
    # not from a CDN (municipal office networks are often closed)
    app = FastAPIOffline(
        title="geo-service",
        version=__version__,
        description="Community-resource (地域資源) registry and walking-coverage API. "
                    "Responses are GeoJSON (RFC 7946, lon/lat).",
        lifespan=_lifespan,
    )
    app.state.geo = AppState(settings=settings, store=store, secret=secret, walking=walking)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(PreconditionFailedError, _precondition_failed)
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(PermissionDeniedError, _forbidden)
    app.add_exception_handler(TooManyLoginsError, _too_many_logins)
    for module in (health, auth, users, resources):
        app.include_router(module.router)
    # uploads: the file limit plus room for the form's other fields and framing
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, per_path={
        app.url_path_for("import_file"): settings.max_upload_bytes + 64_000})
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    if walking is not None:
        app.include_router(coverage.router)
    return app


def app_from_env() -> FastAPI:
    """The app as configured by the environment (uvicorn factory for ``geo-service serve``)."""
    return create_app(ServiceSettings())
