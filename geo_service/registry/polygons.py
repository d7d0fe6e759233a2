"""A service area's drawn outline as GeoJSON, checked where it enters: RFC 7946 nesting,
numbers, closed rings, a vertex cap for new input, a valid lon/lat (Multi)Polygon.

The resource model (:mod:`geo_service.registry.resources`) calls these when it validates a
:class:`~geo_service.registry.resources.ServiceArea`; the messages name
``service_area.geometry``, in English and Japanese.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry import shape

from geo_service._errors import ServiceAreaError
from geo_service.i18n import Message, msg

MAX_POLYGON_VERTICES = 10_000  # of a new service area's outline; more slows every query


def polygon_from_geojson(geometry: Mapping[str, Any] | None, *,
                         max_vertices: int | None = None) -> shapely.Geometry:
    """Return a valid (Multi)Polygon in lon/lat from a GeoJSON mapping, or raise.

    ``max_vertices`` caps the number of coordinates (for new input; a resource already in
    the registry is read as it is, with ``context=STORED``).
    """
    try:
        geom = shape(geometry)
    except Exception as e:  # shapely raises several types for bad GeoJSON
        raise ServiceAreaError(msg("malformed polygon: {error}", error=e),
                               column="service_area.geometry",
                               value=short_value(geometry)) from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise ServiceAreaError(msg("service area geometry must be a non-empty Polygon or "
                                   "MultiPolygon"), column="service_area.geometry",
                               value=geom.geom_type)
    vertices = shapely.get_num_coordinates(geom)
    if max_vertices is not None and vertices > max_vertices:
        raise ServiceAreaError(msg("polygon has {vertices:,} vertices, more than the {most:,} "
                                   "allowed; simplify it", vertices=vertices, most=max_vertices),
                               column="service_area.geometry")
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        raise ServiceAreaError(msg("malformed polygon: {why}; draw the outline again so that "
                                   "it does not cross itself", why=why),
                               column="service_area.geometry", value=short_value(geometry))
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ServiceAreaError(msg("polygon coordinates are not lon/lat degrees"),
                               column="service_area.geometry", value=geom.bounds)
    return geom


_RING_DEPTH = {"Polygon": 1, "MultiPolygon": 2}  # array levels above a ring


def check_polygon_geojson(geometry: Any) -> None:
    """Raise unless ``geometry`` is a GeoJSON Polygon or MultiPolygon as RFC 7946 writes
    it (arrays also as tuples, as ``shapely.geometry.mapping`` writes them): rings of at
    least four [lon, lat] positions of numbers, the last the first (shapely's ``shape``
    would read numbers written as text, and fail on a missing type with a message about
    Python objects)."""
    def refuse(reason: Message, value: Any) -> ServiceAreaError:
        return ServiceAreaError(reason, column="service_area.geometry", value=short_value(value))

    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in _RING_DEPTH:
        raise refuse(msg("a service area's geometry must be a GeoJSON Polygon or "
                         "MultiPolygon ({example})",
                         example='{"type": "Polygon", "coordinates": [[[lon, lat], …]]}'),
                     kind if isinstance(geometry, Mapping) else geometry)
    level = [geometry.get("coordinates")]
    for _ in range(_RING_DEPTH[kind]):  # down to the rings, each level a non-empty array
        if not all(isinstance(item, list | tuple) and item for item in level):
            raise refuse(msg("the coordinates are not nested as a {kind} needs (arrays of "
                             "rings of [lon, lat] positions)", kind=kind),
                         geometry.get("coordinates"))
        level = [inner for item in level for inner in item]
    for ring in level:
        if not isinstance(ring, list | tuple) or not all(
                isinstance(p, list | tuple) and len(p) in (2, 3) for p in ring):
            raise refuse(msg("each ring must be an array of [lon, lat] positions"), ring)
        bad = [c for p in ring for c in p
               if isinstance(c, bool) or not isinstance(c, int | float)]
        if bad:
            raise refuse(msg("coordinates must be numbers (longitude, latitude), not "
                             "{value!r}", value=bad[0]), bad[0])
        if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
            raise refuse(msg("each ring needs at least 4 positions, the last the same as "
                             "the first"), ring)


def short_value(value: Any) -> str:
    """``value`` as text, cut to 120 characters for an error message."""
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."
