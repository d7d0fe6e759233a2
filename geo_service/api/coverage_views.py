"""Walking routes' work: call the :class:`~geo_service.service.walking.WalkingService` and shape
its answers into response models (routes stay one call long).

``/nearby`` and ``/reach`` do not build their models per request: each resource's GeoJSON
Feature is serialised once per version (:mod:`geo_service.api.features`) and the answer is
spliced from those bytes and the walk's numbers. This is deliberate and measured — it is part
of what took ``/nearby`` from 219 ms to under 50 ms p95 at 20 clients (README, "Speed");
``tests/api/test_api_list_json.py`` and the recorded demo answers check that the bytes are
those the models would write."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic_core import to_json
from shapely.geometry import mapping

from geo_service.api.features import feature_cache, splice
from geo_service.api.schemas.resources import (
    AreaCollection,
    AreaFeature,
    AreaLayerInfo,
    AreaProperties,
    BandFeature,
    BandProperties,
    CategoryCoverage,
    CategoryReach,
    IndicatorCollection,
    NearbyCollection,
    NearbyPublic,
    NearbyStaff,
    PointGeometry,
    ReachCollection,
    ResourcePublic,
    ResourceReach,
    ResourceStaff,
)
from geo_service.api.views import to_feature
from geo_service.layers import load_vocabulary
from geo_service.registry.store import NotFoundError
from geo_service.service.walking import NoFoodStoresError, WalkingService

AnyNearby = NearbyCollection[NearbyStaff] | NearbyCollection[NearbyPublic]
AnyReach = ReachCollection[ResourceStaff] | ReachCollection[ResourcePublic]


def _categories(category: str | None) -> list[str] | None:
    if not category:
        return None
    vocab = load_vocabulary()
    return [vocab.category_key(c.strip()) for c in category.split(",") if c.strip()]


def nearby(walking: WalkingService, lat: float, lon: float, *, category: str | None,
           minutes: float, staff: bool) -> bytes:
    """Resources reachable on foot from (lat, lon) within ``minutes``, nearest first:
    a ``NearbyCollection`` of the viewer's role, as JSON, each feature's properties
    ending with ``walk_distance_m`` and ``walk_minutes``."""
    results = walking.nearby(lon, lat, minutes=minutes, staff=staff,
                            categories=_categories(category))
    numbers = to_json([x for w in results
                       for x in (round(w.distance_m, 1), round(w.minutes, 2))])[1:-1].split(b",")
    cache = feature_cache(walking.store)
    # a Feature's JSON ends with its properties: "}}" closes them and the Feature
    features = [cache.feature_json(w.resource, staff=staff)[:-2]
                + b',"walk_distance_m":' + numbers[2 * k] + b',"walk_minutes":'
                + numbers[2 * k + 1] + b"}}" for k, w in enumerate(results)]
    cls = NearbyCollection[NearbyStaff] if staff else NearbyCollection[NearbyPublic]
    return splice(cls(origin=PointGeometry(coordinates=(lon, lat)), minutes=minutes,
                      features=[]), features)


def reach(walking: WalkingService, lat: float, lon: float, *, staff: bool) -> bytes:
    """Services covering (lat, lon) and the nearest walkable resource per category:
    a ``ReachCollection`` of the viewer's role, as JSON."""
    serving, walkable = walking.reach(lon, lat, staff=staff)
    cache = feature_cache(walking.store)
    services = [cache.feature_json(r, staff=staff) for r in serving]
    cls = ReachCollection[ResourceStaff] if staff else ReachCollection[ResourcePublic]
    return splice(cls(origin=PointGeometry(coordinates=(lon, lat)),
                      threshold_m=walking.threshold_m,
                      search_limit_m=walking.search_limit_m, features=[],
                      walkable=category_rows(walkable)), services)


def category_rows(walkable: list[dict]) -> list[CategoryReach]:
    """``WalkingService.reach``'s walkable categories as response rows (rounded)."""
    return [CategoryReach(
        category=c["category"], category_label=c["category_label"], count=c["count"],
        nearest_id=c["nearest"].id if c["nearest"] else None,
        nearest_name=c["nearest"].name if c["nearest"] else None,
        distance_m=None if c["distance_m"] is None else round(c["distance_m"], 1),
        minutes=None if c["minutes"] is None else round(c["minutes"], 2),
        within_threshold=c["within_threshold"],
    ) for c in walkable]


def resource_reach(walking: WalkingService, resource_id: str, *, minutes: Sequence[float],
                   staff: bool) -> ResourceReach:
    """A resource's reach polygons with the people 65+ inside."""
    resource = walking.store.get(resource_id)
    if not staff:
        to_feature(resource, staff=False)  # 404 unless public
    out = walking.resource_reach(resource, minutes=minutes, staff=staff)
    return ResourceReach(resource_id=resource_id, kind=out["kind"], features=[
        BandFeature(geometry=mapping(b["geometry"]) if b["geometry"] is not None
                    and not b["geometry"].is_empty else None,
                    properties=BandProperties(minutes=b["minutes"],
                                              pop_65plus=round(b["pop_65plus"], 1)))
        for b in out["bands"]])


def _area_feature(a: dict) -> AreaFeature:
    return AreaFeature(id=a["area_id"], geometry=mapping(a["geometry"]),
                       properties=AreaProperties(
                           area_id=a["area_id"], name=a["name"],
                           pop_65plus=round(a["pop_65plus"], 1),
                           categories={k: CategoryCoverage(**v)
                                       for k, v in a["categories"].items()}))


def area_layers(walking: WalkingService) -> list[AreaLayerInfo]:
    """The region's area layers, with their ASCII ids and numbers of areas."""
    return [AreaLayerInfo(**x) for x in walking.area_layers()]


def areas(walking: WalkingService, layer: str, *, staff: bool) -> AreaCollection:
    """Coverage of every area of ``layer`` (a layer's name or id)."""
    name = _lookup(lambda: walking.area_layer(layer)).name
    rows = walking.area_coverage(name, staff=staff)
    return AreaCollection(layer=name, threshold_m=walking.threshold_m,
                          features=[_area_feature(a) for a in rows])


def area(walking: WalkingService, layer: str, area_id: str, *, staff: bool) -> AreaFeature:
    """Coverage of one area."""
    rows = _lookup(lambda: walking.area_coverage(layer, staff=staff, area_id=area_id))
    return _area_feature(rows[0])


def difficulty(walking: WalkingService, layer: str, *, lang: str = "ja"
               ) -> IndicatorCollection:
    """The engine's shopping-difficulty indicators per area of ``layer`` (``note`` in
    ``lang`` when the region has no food stores)."""
    name = _lookup(lambda: walking.area_layer(layer)).name
    table, source, n_stores = _lookup(lambda: walking.difficulty(name))
    features = json.loads(table.to_json(na="null", drop_id=True))["features"]
    note = NoFoodStoresError().args[0].text(lang) if source == "none" else None
    return IndicatorCollection(layer=name, threshold_m=walking.threshold_m,
                               stores_source=source, stores=n_stores, note=note,
                               features=features)


def _lookup(call):  # type: ignore[no-untyped-def]
    try:
        return call()
    except LookupError as e:
        raise NotFoundError("area layer or area", "", e.args[0]) from None
