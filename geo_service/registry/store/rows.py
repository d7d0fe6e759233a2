"""What a resource's row in ``resources`` holds: the resource as JSON, and the columns
its filters and spatial queries use, derived from it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import shapely

from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import (
    STORED,
    WEEKDAYS,
    Resource,
    ResourceFields,
    check_area_in_region,
    check_in_region,
    stored_context,
)
from geo_service.registry.service_areas import service_area_geometry
from geo_service.registry.visibility import public_view


def _search_text(r: ResourceFields) -> str:
    """What the public's keyword search matches: 名称, カナ and 内容 in NFKC, lower case."""
    parts = [r.name, r.kana or "", r.description or ""]
    return unicodedata.normalize("NFKC", " ".join(parts)).lower()


def staff_search_text(r: ResourceFields) -> str:
    """What the staff's keyword search matches: also 住所 and 運営主体 (which may be
    staff-only, so never searched for the public)."""
    parts = [_search_text(r), r.address or "", r.operator or ""]
    return unicodedata.normalize("NFKC", " ".join(parts)).lower()


def _weekday_mask(schedule: Mapping[str, Any]) -> int:
    """The days of a schedule (its days and its stops' days) as bits, Monday the lowest."""
    days = {*schedule["weekdays"], *(stop["weekday"] for stop in schedule["stops"])}
    return sum(1 << WEEKDAYS.index(d) for d in days)


def public_filter_values(r: Resource) -> dict[str, Any]:
    """The values the public's ``weekday`` and ``fee`` filters match, taken from the
    resource's public view (:func:`~geo_service.registry.visibility.public_view`): a staff-only
    schedule or fee, and the stops of a route whose location is staff-only, are not in it.
    A resource the public does not see has none (no day, fee ``unknown``)."""
    view = public_view(r)
    if view is None:
        return {"public_weekday_mask": 0, "public_fee_kind": "unknown"}
    return {"public_weekday_mask": _weekday_mask(view["schedule"]),
            "public_fee_kind": view["fee"]["kind"]}


def public_area(r: Resource) -> str | None:
    """The responsible area the public's ``?area=`` matches: the public view's, so none
    for a resource the public does not see or whose area would reveal a staff-only
    place (:func:`~geo_service.registry.visibility.area_reveals_hidden_place`)."""
    view = public_view(r)
    return None if view is None else view["area"]


def stored_resource(row: Any, context: Mapping[str, Any] = STORED) -> Resource:
    """The resource of a row with (at least) its ``data`` and ``version`` columns
    (validated with ``context``: :data:`~geo_service.registry.resources.STORED`, or
    :func:`~geo_service.registry.resources.stored_context` for many rows)."""
    return Resource.model_validate({**row.data, "version": row.version}, context=context)


#: rows of :func:`stored_resources` read and let go at a time
FREED_BLOCK = 1000


def stored_resources(rows: list[Any]) -> list[Resource]:
    """The resources of many such rows, the vocabulary read once for all
    (:func:`~geo_service.registry.resources.stored_context`).

    ``rows`` is emptied as it is read, :data:`FREED_BLOCK` rows at a time, so that their
    data is freed a block at a time: freeing 40,000 rows' data at once is one step that
    holds Python's lock (a waiting thread waited 81 ms for 40,000 rows).
    """
    context = stored_context()
    out = []
    while rows:
        block = rows[:FREED_BLOCK]
        del rows[:FREED_BLOCK]
        out += [stored_resource(row, context) for row in block]
    return out


def resource_row(r: Resource, *, layers: Mapping[str, AreaLayer],
                 bounds: tuple[float, float, float, float] | None,
                 walking_speed_mps: float | None) -> dict[str, Any]:
    """The row of ``r`` but its version; its locations and service area checked to lie in
    the region's ``bounds``, the service area drawn with ``layers`` at the region's
    walking speed."""
    if r.lon is not None and r.lat is not None:
        check_in_region(r.lon, r.lat, bounds)
    for stop in r.schedule.stops:
        check_in_region(stop.lon, stop.lat, bounds, column="schedule.stops")
    geom = service_area_geometry(r, layers, walking_speed_mps=walking_speed_mps)
    check_area_in_region(geom, bounds)
    bbox = geom.bounds if geom is not None else (None,) * 4
    data = r.model_dump(mode="json", exclude={"version"})  # the column has it
    sa = r.service_area
    return {
        "id": r.id, "name": r.name, "kana": r.kana, "category": r.category,
        "area": r.area, "coordinator": r.coordinator, "visibility": r.visibility,
        "deleted": r.deleted, "lon": r.lon, "lat": r.lat,
        "location_hidden": "location" in r.staff_fields,
        "needs_location": r.needs_location, "weekday_mask": _weekday_mask(data["schedule"]),
        "fee_kind": r.fee.kind, "search_text": _search_text(r),
        "staff_search_text": staff_search_text(r),
        "last_verified": r.last_verified, "sa_kind": sa.kind, "sa_layer": sa.layer,
        "sa_areas": "," + ",".join(sa.area_ids) + "," if sa.area_ids else None,
        "sa_minx": bbox[0], "sa_miny": bbox[1], "sa_maxx": bbox[2], "sa_maxy": bbox[3],
        "location": shapely.Point(r.lon, r.lat) if r.lon is not None else None,
        "service_geom": geom, "data": data, **public_filter_values(r),
        "public_area": public_area(r),
        "created_at": r.created_at, "updated_at": r.updated_at,
    }
