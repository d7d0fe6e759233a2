"""What the routes do, kept out of the route functions: filters, role views, edits.

Each function takes the store (and the user where it matters) and returns response
models; the routes only declare parameters and call one of these.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from datetime import date
from typing import Any, Literal

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from geo_service._errors import InputError
from geo_service.api.schemas.resources import (
    Feature,
    FeatureCollection,
    HistoryOut,
    ImportReportOut,
    PointGeometry,
    ResourceCreate,
    ResourcePublic,
    ResourceStaff,
    RowProblemOut,
)
from geo_service.i18n import msg
from geo_service.isolated import run_isolated
from geo_service.layers import load_vocabulary
from geo_service.memory import gc_paused
from geo_service.registry.auth import check_can_edit
from geo_service.registry.exports import MEDIA_TYPES, export_bytes
from geo_service.registry.import_rows import ImportContext
from geo_service.registry.imports import import_into, import_resources, read_resource_table
from geo_service.registry.resources import (
    Resource,
    ResourceFields,
    check_lonlat,
    parse_weekday,
    validate_resource,
)
from geo_service.registry.store import (
    Authorize,
    NotFoundError,
    Page,
    ResourceFilter,
    ResourceStore,
    User,
    spec_of,
)
from geo_service.registry.visibility import public_view
from geo_service.table_limits import ReadLimits

AnyFeature = Feature[ResourceStaff] | Feature[ResourcePublic]
AnyCollection = FeatureCollection[ResourceStaff] | FeatureCollection[ResourcePublic]
XLSX = MEDIA_TYPES["xlsx"]
#: How many steps below the server's CPU priority an upload's rows are checked and written
#: (``nice``): on a machine the server shares, its requests go first and the import takes
#: longer
IMPORT_NICE = 10


class GeoJSONResponse(JSONResponse):
    """A JSON answer served (and documented) as ``application/geo+json`` (RFC 7946)."""

    media_type = "application/geo+json"


def as_json(model: BaseModel | bytes) -> Response:
    """A GeoJSON response from an already validated, role-specific model, serialised once
    (or from that model's JSON, already serialised).

    The model was built from the role's schema (``ResourcePublic`` forbids every field the
    public may not see), so FastAPI's second validation against the route's union
    ``response_model`` (kept for the OpenAPI documentation) is skipped.
    """
    content = model if isinstance(model, bytes) else model.model_dump_json()
    return Response(content=content, media_type=GeoJSONResponse.media_type)


def to_feature(resource: Resource, *, staff: bool) -> AnyFeature:
    """A resource as a GeoJSON Feature for staff, or for the public.

    The public sees a location only when one is recorded and public, and cannot tell
    these apart: ``geometry``, ``lon`` and ``lat`` are null in both cases and there is no
    ``needs_location`` (staff see it).

    Raises
    ------
    NotFoundError
        For the public, when the resource is staff-only or deleted.
    """
    label = load_vocabulary().by_id[resource.category].label
    shown = resource.model_dump() if staff else public_view(resource)
    if shown is None:
        raise NotFoundError("resource", resource.id)
    data: dict[str, Any] = shown
    data["category_label"] = label
    if staff:
        data["needs_location"] = resource.needs_location
    geometry = (PointGeometry(coordinates=(data["lon"], data["lat"]))
                if data["lon"] is not None and data["lat"] is not None else None)
    if staff:
        return Feature[ResourceStaff](id=resource.id, geometry=geometry,
                                      properties=ResourceStaff.model_validate(data))
    return Feature[ResourcePublic](id=resource.id, geometry=geometry,
                                   properties=ResourcePublic.model_validate(data))


def etag(version: int | None) -> str:
    """The ``ETag`` of a resource's responses: its version, as a strong entity tag."""
    return f'"{version}"'


def if_match_versions(header: str | None) -> Collection[int] | None:
    """The versions an ``If-Match`` header accepts (RFC 9110, strong comparison): None —
    any — when it is absent or ``*``; otherwise those its entity tags name (a weak or
    foreign tag names none, so it never matches)."""
    if header is None or header.strip() == "*":
        return None
    # a version is a 64-bit integer: a tag of more digits names none (int() of 4,301
    # digits would raise)
    return frozenset(int(v) for v in re.findall(r'(?<!W/)"([1-9][0-9]{0,18})"', header))


def public_etag(feature: AnyFeature) -> str:
    """The ``ETag`` of the public's answer: a digest of what the public sees, so that it
    changes when the public view does and never with a staff-only edit (the version
    would tell that one happened). It names no version: an edit sent with it gets 412."""
    digest = hashlib.sha256(feature.model_dump_json().encode("utf-8")).hexdigest()
    return f'"p-{digest[:32]}"'


def tagged_feature(resource: Resource, response: Response, *, staff: bool) -> AnyFeature:
    """:func:`to_feature`, with its ``ETag``: the resource's version for staff, a digest
    of the public view for the public (:func:`public_etag`)."""
    feature = to_feature(resource, staff=staff)
    response.headers["ETag"] = etag(resource.version) if staff else public_etag(feature)
    return feature


def to_collection(page: Page, *, staff: bool) -> AnyCollection:
    """A page of resources as a FeatureCollection for the viewer's role."""
    features = [to_feature(r, staff=staff) for r in page.items]
    cls = FeatureCollection[ResourceStaff] if staff else FeatureCollection[ResourcePublic]
    return cls(features=features, total=page.total, limit=page.limit,  # type: ignore[arg-type]
               offset=page.offset)


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees → a tuple; raise naming the bad part."""
    if not text:
        return None
    parts = text.split(",")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise InputError(msg("bbox must be four numbers west,south,east,north"), column="bbox",
                         value=text) from None
    check_lonlat(w, s, column="bbox")
    check_lonlat(e, n, column="bbox")
    if w > e or s > n:
        raise InputError(msg("bbox must be west,south,east,north with west ≤ east, south ≤ north"),
                         column="bbox", value=text)
    return (w, s, e, n)


def build_filter(*, staff: bool, category: str | None = None, area: str | None = None,
                 weekday: str | None = None, fee: str | None = None,
                 q: str | None = None, bbox: str | None = None,
                 needs_location: bool | None = None, deleted: bool = False,
                 responsible_areas: tuple[str, ...] | None = None,
                 visibility: Literal["public", "staff"] | None = None,
                 unverified_since: date | None = None) -> ResourceFilter:
    """A store filter from query parameters, validated; the public never sees staff rows
    (nor filters by what only staff see: visibility, verification, own areas)."""
    if fee not in (None, "free", "paid", "unknown"):
        raise InputError(msg("fee must be free, paid or unknown"), column="fee", value=fee)
    return ResourceFilter(
        category=load_vocabulary().category_key(category) if category else None,
        area=area or None, weekday=parse_weekday(weekday) if weekday else None,
        fee=fee, keyword=q or None, bbox=parse_bbox(bbox),  # type: ignore[arg-type]
        needs_location=needs_location if staff else None, include_staff=staff,
        only_deleted=deleted and staff,
        responsible_areas=responsible_areas if staff else None,
        visibility=visibility if staff else None,
        unverified_since=unverified_since if staff else None,
    )


# The single-resource answers carry the resource's version as their ETag; the edits change
# the resource only if its version is one that ``if_match`` (the If-Match header) names.

def get_resource(store: ResourceStore, resource_id: str, response: Response, *,
                 staff: bool) -> AnyFeature:
    """One resource for the viewer; staff-only or deleted ones are 404 for the public."""
    return tagged_feature(store.get(resource_id), response, staff=staff)


def create_resource(store: ResourceStore, body: ResourceCreate, user: User,
                    response: Response) -> AnyFeature:
    """Store a new resource if ``user`` may edit its area."""
    data = body.model_dump()
    if not data.get("id"):
        data.pop("id")
    fields = validate_resource(data, Resource if "id" in data else ResourceFields)
    check_can_edit(user, [store.responsible_area(fields)])
    return tagged_feature(store.add(fields, user=user.username), response, staff=True)


def may_change(user: User) -> Authorize:
    """The check the store runs inside an edit's locked transaction: ``user`` may edit
    the resource's area before and after the change (an undo that would move it back
    out of their areas is refused too)."""
    def authorize(before: Resource, after: Resource) -> None:
        check_can_edit(user, [before.area, after.area])
    return authorize


def update_resource(store: ResourceStore, resource_id: str, changes: dict[str, Any],
                    user: User, response: Response, *, if_match: str | None) -> AnyFeature:
    """Apply a partial update if ``user`` may edit the old and the new area."""
    return tagged_feature(store.update(resource_id, changes, user=user.username,
                                       expected_versions=if_match_versions(if_match),
                                       authorize=may_change(user)),
                          response, staff=True)


def delete_resource(store: ResourceStore, resource_id: str, user: User, response: Response,
                    *, if_match: str | None) -> AnyFeature:
    """Soft-delete if ``user`` may edit the resource's area."""
    return tagged_feature(store.delete(resource_id, user=user.username,
                                       expected_versions=if_match_versions(if_match),
                                       authorize=may_change(user)),
                          response, staff=True)


def undo_resource(store: ResourceStore, resource_id: str, user: User, response: Response,
                  *, if_match: str | None) -> AnyFeature:
    """Revert the last change if ``user`` may edit the resource's area now and after."""
    return tagged_feature(store.undo(resource_id, user=user.username,
                                     expected_versions=if_match_versions(if_match),
                                     authorize=may_change(user)),
                          response, staff=True)


def import_table(store: ResourceStore, data: bytes, filename: str, user: User, *,
                 dry_run: bool, partial: bool, default_category: str | None,
                 limits: ReadLimits, busy_seconds: float) -> ImportReportOut:
    """Read and import an uploaded table (CSV or Excel by ``filename``); a coordinator's
    rows must all be in their areas. Seconds of work for a large file: call it in a worker
    thread, not on the event loop.

    The file is read in a process of its own, within ``limits`` (what it may expand to,
    checked before it is; and the reader's wall time and memory), so that a hostile file
    costs this process nothing but the wait; its rows are then checked and written by
    another process at a lower CPU priority (:data:`IMPORT_NICE`), so that this process's
    requests are answered meanwhile without waiting for Python's lock (a registry in
    memory, which only this process sees, is written here).
    """
    table = run_isolated(read_resource_table, data=data, filename=filename, limits=limits,
                         memory_bytes=limits.memory_bytes, seconds=limits.seconds)
    ctx = ImportContext(
        default_category=default_category, source=table.file,
        allowed_areas=None if user.role == "admin" else frozenset(user.areas),
    )
    spec = spec_of(store, busy_seconds=busy_seconds)
    if spec is None:
        with gc_paused():  # an import's rows would stall every request of the process
            report = import_resources(store, table, ctx=ctx, dry_run=dry_run,
                                      partial=partial, user=user.username)
        valid = len(report.accepted)
    else:
        try:
            report, valid = run_isolated(import_into, spec, table, ctx=ctx, dry_run=dry_run,
                                         partial=partial, user=user.username,
                                         memory_bytes=None, seconds=None, nice=IMPORT_NICE)
        finally:
            if not dry_run:  # whatever that process committed, this one's state catches up
                store.changed_elsewhere()
    return ImportReportOut(
        file=report.file, encoding=report.encoding, rows=report.rows,
        valid=valid, written=report.written, dry_run=dry_run,
        needs_location_rows=report.needs_location, ignored_columns=report.ignored_columns,
        problems=[RowProblemOut(row=p.row, column=p.column, value=p.value, reason=p.reason,
                                reason_ja=p.reason_ja) for p in report.problems],
    )


def unverified_collection(store: ResourceStore, *, months: int) -> AnyCollection:
    """Resources not verified for ``months`` months, for staff."""
    items = store.unverified(months=months)
    return to_collection(Page(items, len(items), len(items), 0), staff=True)


def history(store: ResourceStore, resource_id: str) -> list[HistoryOut]:
    """The change history of a resource (404 if it never existed)."""
    entries = store.history(resource_id)
    if not entries:
        raise NotFoundError("resource", resource_id)
    return entries


def export(store: ResourceStore, fmt: str, *, staff: bool, region: str = "",
           attributions: list[str] | None = None) -> tuple[bytes, str]:
    """The registry as a file for the viewer: (bytes, media type), with the region's name
    and its sources' attributions as metadata (GeoJSON, Excel)."""
    items = store.all(ResourceFilter(include_staff=staff))
    return export_bytes(items, fmt, public=not staff, layers=store.layers, region=region,  # type: ignore[arg-type]
                        attributions=attributions or []), MEDIA_TYPES[fmt]
