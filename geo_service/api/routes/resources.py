"""``/resources``: list, read, create, update, delete, undo, history, import, export."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, File, Header, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from geo_service.api import features, views
from geo_service.api.deps import Staff, State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.resources import (
    FeatureCollection,
    HistoryOut,
    ImportReportOut,
    ResourceCreate,
    ResourcePublic,
    ResourceStaff,
    ResourceUpdate,
)
from geo_service.api.uploads import read_upload
from geo_service.registry.store import SortKey, months_before

router = APIRouter(prefix="/resources", tags=["resources"], route_class=StrictJSONRoute)
GeoJSON = views.GeoJSONResponse

AnyCollection = FeatureCollection[ResourceStaff] | FeatureCollection[ResourcePublic]
StaffCollection = FeatureCollection[ResourceStaff]
MAX_OFFSET = 2**31 - 1  # far beyond any registry; bounds what reaches the database

IfMatch = Annotated[str | None, Header(
    description='the ETag of the version you edited (e.g. "3"); 412 if the resource has '
                "changed since. Absent or * : no check")]
_TAGGED = {"headers": {"ETag": {"description": "the resource's version",
                                "schema": {"type": "string"}}}}
_SINGLE = {200: {"headers": {"ETag": {
    "description": 'staff: the resource\'s version (e.g. "3"), for If-Match; the public: '
                   "a tag of what the public sees, changing only when that does",
    "schema": {"type": "string"}}}}}
_EDIT = {200: _TAGGED, 412: {"description": "If-Match names a version the resource no "
                                            "longer has; nothing was changed"}}


# Async on purpose, like /nearby: on SQLite a page is one indexed query of a local file
# plus feature JSON cached per resource version (~0.3 ms in all), less than the thread-pool
# round trip would add; a page's features edited since are built once, on the loop. A
# PostgreSQL round trip must not stall the event loop: there the work runs in the pool.
@router.get("", response_model=AnyCollection, response_class=GeoJSON,
            responses=error_responses(401, 422))
async def list_resources(
    state: State, viewer: Viewer,
    category: Annotated[str | None, Query(description="key, label or alias")] = None,
    area: Annotated[str | None, Query(description="responsible or served area id")] = None,
    weekday: Annotated[str | None, Query(description="mon … sun or 月 … 日")] = None,
    fee: Annotated[Literal["free", "paid", "unknown"] | None, Query()] = None,
    q: Annotated[str | None, Query(description="keyword in 名称, カナ, 内容")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north (degrees)")] = None,
    needs_location: Annotated[bool | None, Query(description="staff only")] = None,
    deleted: Annotated[bool, Query(description="staff only: the soft-deleted resources, "
                                               "to restore with /undo")] = False,
    mine: Annotated[bool, Query(description="staff only: those whose responsible area is "
                                            "one of the caller's areas")] = False,
    visibility: Annotated[Literal["public", "staff"] | None, Query(
        description="staff only: public or staff-only resources")] = None,
    unverified_months: Annotated[int | None, Query(
        ge=1, le=120, description="staff only: not verified for this many months (or "
                                  "never)")] = None,
    sort: Annotated[SortKey, Query(description="order: カナ/名称 (name), category, area, "
                                               "last_verified or updated_at")] = "name",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Resources as a GeoJSON FeatureCollection, filtered, sorted and paged (staff see
    all). ``q`` searches 名称, カナ, 内容 and category names (staff: also 住所 and
    運営主体)."""
    staff = viewer is not None
    area = state.store.resolve_area(area) if area else None  # an id or a name (川西小学校)
    f = views.build_filter(staff=staff, category=category, area=area, weekday=weekday,
                           fee=fee, q=q, bbox=bbox, needs_location=needs_location,
                           deleted=deleted, visibility=visibility,
                           responsible_areas=tuple(viewer.areas) if mine and viewer else None,
                           unverified_since=months_before(unverified_months)
                           if unverified_months else None)
    work = partial(features.collection_json, state.store, f, limit=limit, offset=offset,
                   staff=staff, sort=sort, descending=order == "desc")
    return views.as_json(await run_in_threadpool(work) if state.store.postgis else work())


@router.get("/unverified", response_model=StaffCollection, response_class=GeoJSON,
            responses=error_responses(401, 422))
def unverified(state: State, _: Staff,
               months: Annotated[int, Query(ge=1, le=120)] = 12) -> views.AnyCollection:
    """Resources not verified for ``months`` months, oldest first (the yearly round)."""
    return views.unverified_collection(state.store, months=months)


@router.get("/export", response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/geo+json": {},
                                         views.XLSX: {}}}} | error_responses(401, 422))
def export(state: State, viewer: Viewer,
           format: Annotated[Literal["csv", "xlsx", "geojson"], Query()] = "csv",
           ) -> Response:
    """The registry as CSV (UTF-8 with BOM), Excel or GeoJSON; public data unless staff."""
    walking = state.walking
    data, media_type = views.export(
        state.store, format, staff=viewer is not None,
        region=walking.name if walking is not None else "",
        attributions=walking.region.attributions if walking is not None else None)
    return Response(content=data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="resources.{format}"'})


@router.post("/import", response_model=ImportReportOut,
             responses=error_responses(400, 401, 413, 422, 503))
async def import_file(
    state: State, user: Staff, file: Annotated[UploadFile, File()],
    dry_run: bool = False, partial: bool = False, default_category: str | None = None,
) -> ImportReportOut:
    """Import a CSV/Excel list (all or nothing unless ``partial``; ``dry_run`` reports).

    The file is read in a process of its own, within the limits of
    ``GEO_SERVICE_UPLOAD_*`` (413 naming the limit), and its rows are checked and written
    by another (one import at a time per server process), so that other requests are
    answered meanwhile.
    """
    data = await read_upload(file, state.settings.max_upload_bytes)
    return await to_thread.run_sync(lambda: views.import_table(
        state.store, data, file.filename or "upload.csv", user, dry_run=dry_run,
        partial=partial, default_category=default_category,
        limits=state.settings.read_limits, busy_seconds=state.settings.sqlite_busy_seconds),
        limiter=state.import_limiter)


@router.get("/{resource_id}", response_model=views.AnyFeature, response_class=GeoJSON,
            responses={**_SINGLE, **error_responses(401, 404, 422)})
def get_resource(state: State, viewer: Viewer, resource_id: str,
                 response: Response) -> views.AnyFeature:
    """One resource (404 for the public when it is staff-only)."""
    return views.get_resource(state.store, resource_id, response, staff=viewer is not None)


@router.post("", response_model=views.AnyFeature, status_code=status.HTTP_201_CREATED,
             response_class=GeoJSON,
             responses={201: _TAGGED, **error_responses(401, 403, 409, 413, 422, 503)})
def create_resource(state: State, user: Staff, body: ResourceCreate,
                    response: Response) -> views.AnyFeature:
    """Create a resource in one of your areas."""
    return views.create_resource(state.store, body, user, response)


@router.patch("/{resource_id}", response_model=views.AnyFeature, response_class=GeoJSON,
              responses={**_EDIT, **error_responses(401, 403, 404, 412, 413, 422, 503)})
def update_resource(state: State, user: Staff, resource_id: str, body: ResourceUpdate,
                    response: Response, if_match: IfMatch = None) -> views.AnyFeature:
    """Change the given fields of a resource in one of your areas."""
    return views.update_resource(state.store, resource_id, body.model_dump(exclude_unset=True),
                                 user, response, if_match=if_match)


@router.delete("/{resource_id}", response_model=views.AnyFeature, response_class=GeoJSON,
               responses={**_EDIT, **error_responses(401, 403, 404, 412, 422, 503)})
def delete_resource(state: State, user: Staff, resource_id: str, response: Response,
                    if_match: IfMatch = None) -> views.AnyFeature:
    """Soft-delete a resource (undo with ``POST /resources/{id}/undo``)."""
    return views.delete_resource(state.store, resource_id, user, response, if_match=if_match)


@router.post("/{resource_id}/undo", response_model=views.AnyFeature, response_class=GeoJSON,
             responses={**_EDIT, **error_responses(401, 403, 404, 412, 422, 503)})
def undo(state: State, user: Staff, resource_id: str, response: Response,
         if_match: IfMatch = None) -> views.AnyFeature:
    """Revert the last change of a resource (also undeletes)."""
    return views.undo_resource(state.store, resource_id, user, response, if_match=if_match)


@router.get("/{resource_id}/history", response_model=list[HistoryOut],
            responses=error_responses(401, 404, 422))
def history(state: State, _: Staff, resource_id: str) -> list[HistoryOut]:
    """Every recorded change of a resource: who, when, before, after."""
    return views.history(state.store, resource_id)


