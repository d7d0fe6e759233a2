"""/nearby and /reach splice pre-serialised features: the bytes equal the models' JSON."""

from __future__ import annotations

import numpy as np

from geo_service.api import coverage_views as cv
from geo_service.api.schemas.resources import (
    Feature,
    NearbyCollection,
    NearbyPublic,
    NearbyStaff,
    PointGeometry,
    ReachCollection,
    ResourcePublic,
    ResourceStaff,
)
from geo_service.api.views import to_feature
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region, lonlat


def model_nearby(access, lon, lat, staff):
    role = NearbyStaff if staff else NearbyPublic
    feats = []
    for w in access.nearby(lon, lat, minutes=12, staff=staff):
        f = to_feature(w.resource, staff=staff)
        props = role(**f.properties.model_dump(), walk_distance_m=round(w.distance_m, 1),
                     walk_minutes=round(w.minutes, 2))
        feats.append(Feature[role](id=f.id, geometry=f.geometry, properties=props))
    return NearbyCollection[role](origin=PointGeometry(coordinates=(lon, lat)), minutes=12,
                                  features=feats).model_dump_json().encode()


def model_reach(access, lon, lat, staff):
    role = ResourceStaff if staff else ResourcePublic
    serving, walkable = access.reach(lon, lat, staff=staff)
    rows = cv.category_rows(walkable)
    return ReachCollection[role](
        origin=PointGeometry(coordinates=(lon, lat)), threshold_m=access.threshold_m,
        search_limit_m=access.search_limit_m,
        features=[to_feature(r, staff=staff) for r in serving],
        walkable=rows).model_dump_json().encode()


def test_spliced_json_equals_model_json(tmp_path):
    store = fresh_store("sqlite", tmp_path)
    access = WalkingService(grid_region(slope=0.03), store)
    rng = np.random.default_rng(2)
    cats = ["サロン", "配食", "見守り", "認知症カフェ", "食料品店"]
    for k in range(60):
        lon, lat = lonlat(*rng.uniform(0, 1000, 2))
        extra = {"service_area": {"kind": "radius", "radius_m": 300.0}} if k % 6 == 1 else {}
        store.add(ResourceFields(name=f"資源 {k} \"quoted\"", kana=f"シゲン{k % 9}",
                                 category=cats[k % 5], lon=lon, lat=lat,
                                 description="説明\\n" * (k % 3),
                                 visibility="staff" if k % 7 == 0 else "public",
                                 staff_fields=["location"] if k % 11 == 3 else [],
                                 **extra))
    store.add(ResourceFields(name="全域", category="見守り",
                             service_area={"kind": "municipality"}))
    seen = 0
    for x, y in rng.uniform(0, 1000, size=(25, 2)):
        lon, lat = lonlat(x, y)
        for staff in (False, True):
            got = cv.nearby(access, lat, lon, category=None, minutes=12, staff=staff)
            assert got == model_nearby(access, lon, lat, staff)
            assert cv.reach(access, lat, lon, staff=staff) == model_reach(access, lon, lat,
                                                                          staff)
            seen += got.count(b'"walk_minutes"')
    assert seen > 50
    empty = cv.nearby(access, *lonlat(500, 500)[::-1], category="配食", minutes=0.01,
                      staff=False)
    assert empty.endswith(b'"features":[]}')


def test_health_count_follows_registry_edits(tmp_path):
    from fastapi.testclient import TestClient

    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    store = fresh_store("sqlite", tmp_path)
    access = WalkingService(grid_region(), store)
    client = TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                                   secret_key="k" * 40),
                                   store=store, walking=access))
    assert client.get("/health").json()["resources"] == 0
    r = store.add(ResourceFields(name="a", category="サロン", lon=lonlat(0, 0)[0],
                                 lat=lonlat(0, 0)[1]))
    assert client.get("/health").json()["resources"] == 1
    store.delete(r.id)
    assert client.get("/health").json()["resources"] == 0


def test_threads_setting_sizes_the_thread_pool(tmp_path):
    from anyio import to_thread
    from fastapi.testclient import TestClient

    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    settings_ = ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                secret_key="k" * 40, threads=3)
    with TestClient(create_app(settings_, store=fresh_store("sqlite", tmp_path))) as client:
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter()
                                    .total_tokens)
        assert tokens == 3
        assert client.get("/health").status_code == 200
