"""A resource's service area (対象エリア) beyond its model: the text coordinators write
(「市内全域」「半径500m」「徒歩15分」「○○小学校区」) turned into a
:class:`~geo_service.registry.resources.ServiceArea`, and the lon/lat polygon an area covers
where it can be drawn without the engine."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Mapping

import shapely
from pyproj import Transformer

from geo_service import settings
from geo_service._errors import ServiceAreaError
from geo_service.i18n import Term, msg
from geo_service.inputs.boundaries import AreaLayer
from geo_service.inputs.crs import metric_crs_for, transform_geometry
from geo_service.registry.polygons import polygon_from_geojson
from geo_service.registry.resources import ResourceFields, ServiceArea

_WHOLE = ("市内全域", "町内全域", "村内全域", "区内全域", "全域", "市内一円", "市全域", "市内")
_RADIUS = re.compile(r"^半径\s*(\d+(?:\.\d+)?)\s*(m|ｍ|メートル|km|ｋｍ|キロ)")
_WALK = re.compile(r"^徒歩\s*(\d+(?:\.\d+)?)\s*分")


def parse_service_area_text(text: str, layers: Mapping[str, AreaLayer]) -> ServiceArea:
    """Turn service-area text as coordinators write it into a :class:`ServiceArea`.

    「市内全域」 → whole municipality; 「半径500m」 → radius; 「徒歩15分」 → walking time;
    「立岩小学校区、菰田小学校区」 → the areas of the first layer that knows every name.

    Raises
    ------
    ServiceAreaError
        Naming the parts that no loaded boundary layer can resolve.
    """
    raw = str(text).strip()
    t = unicodedata.normalize("NFKC", raw).strip()
    if not t:
        return ServiceArea()
    if t in _WHOLE:
        return ServiceArea(kind="municipality", text=raw)
    if m := _RADIUS.match(t):
        metres = float(m.group(1)) * (1000 if m.group(2).lower() in ("km", "キロ") else 1)
        return ServiceArea(kind="radius", radius_m=metres, text=raw)
    if m := _WALK.match(t):
        return ServiceArea(kind="walk", minutes=float(m.group(1)), text=raw)
    parts = [p for p in re.split(r"[、,，・/／\s]+|及び|および", t) if p]
    if not layers:
        raise ServiceAreaError(msg("service area names areas but no boundary layer is loaded "
                                   "to resolve them"), column="service_area", value=raw)
    best: tuple[str, list[str], list[str]] | None = None
    for layer in layers.values():
        ids = [layer.resolve_name(p) for p in parts]
        missing = [p for p, i in zip(parts, ids, strict=True) if i is None]
        if not missing:
            found = list(dict.fromkeys(i for i in ids if i is not None))
            return ServiceArea(kind="areas", layer=layer.name, area_ids=found, text=raw)
        if best is None or len(missing) < len(best[2]):
            best = (layer.name, [i for i in ids if i], missing)
    assert best is not None
    raise ServiceAreaError(
        msg("area name(s) {names} not found in the boundary layer(s) {layers}",
            names="、".join(best[2]), layers=Term("、".join(layers), ", ".join(layers))),
        column="service_area", value=raw)


def service_area_geometry(resource: ResourceFields, layers: Mapping[str, AreaLayer], *,
                          walking_speed_mps: float | None = None) -> shapely.Geometry | None:
    """The lon/lat polygon a service area covers, where it can be drawn without the engine.

    A walking-time area is drawn as the circle of the straight-line upper bound
    (minutes × speed); the engine refines it. Returns None for ``none`` and
    ``municipality`` areas, and for ``areas`` whose layer is not loaded.
    """
    sa = resource.service_area
    if sa.kind == "polygon":
        return polygon_from_geojson(sa.geometry)
    if sa.kind == "areas":
        layer = layers.get(sa.layer or "")
        return None if layer is None else layer.union(sa.area_ids)
    if sa.kind in ("radius", "walk") and resource.lon is not None and resource.lat is not None:
        speed = walking_speed_mps or settings.walking_speed_mps
        metres = sa.radius_m if sa.kind == "radius" else (sa.minutes or 0) * 60 * speed
        return _geodesic_circle(resource.lon, resource.lat, float(metres or 0))
    return None


def _geodesic_circle(lon: float, lat: float, metres: float) -> shapely.Geometry:
    fwd, back = _zone_transformers(metric_crs_for(lon, lat).to_string())
    x, y = fwd.transform(lon, lat)
    circle = shapely.Point(x, y).buffer(metres, quad_segs=16)
    return transform_geometry(circle, back)


_ZONES = threading.local()


def _zone_transformers(crs: str) -> tuple[Transformer, Transformer]:
    """lon/lat → the zone's metres and back, made once per zone and thread (each takes
    milliseconds to make, and a registry draws hundreds of circles)."""
    made = _ZONES.__dict__.setdefault("made", {})
    if crs not in made:
        made[crs] = (Transformer.from_crs(4326, crs, always_xy=True),
                     Transformer.from_crs(crs, 4326, always_xy=True))
    return made[crs]
