"""The coverage service without HTTP: threshold and speed from the region, margins in
metres, and the same answers the API gives."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from geo_service import settings
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store import ResourceFilter
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import X0, Y0, grid_region, lonlat


def test_threshold_comes_from_the_region_unless_configured(tmp_path):
    region = grid_region()
    region.threshold_m = 300.0
    store = fresh_store("sqlite", tmp_path)
    assert WalkingService(region, store).threshold_m == 300.0
    assert WalkingService(region, store, threshold_m=200.0).threshold_m == 200.0


def test_the_saved_threshold_reaches_the_api(tmp_path):
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    region = grid_region()
    region.threshold_m = 300.0
    region.save(tmp_path / "region")
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    for configured, expected in ((None, 300.0), (250.0, 250.0)):
        settings_ = ServiceSettings(database_url=url, region_dir=tmp_path / "region",
                                    data_dir=tmp_path, secret_key="k" * 40,
                                    threshold_m=configured)
        client = TestClient(create_app(settings_))
        lon, lat = lonlat(500, 500)
        body = client.get("/reach", params={"lat": lat, "lon": lon}).json()
        assert body["threshold_m"] == expected
        assert client.get("/areas/小学校区").json()["threshold_m"] == expected


def test_walking_time_service_areas_use_the_regions_speed(tmp_path):
    """10 minutes at the region's 0.5 m/s is a 300 m circle (the default speed would
    draw 600 m)."""
    region = grid_region()
    region.net = region.net.with_speed(0.5)
    store = fresh_store("sqlite", tmp_path)
    WalkingService(region, store)
    lon, lat = lonlat(500, 500)
    r = store.add(ResourceFields(name="見守り", category="見守り", lon=lon, lat=lat,
                                 service_area={"kind": "walk", "minutes": 10}))

    def served(dx: float, dy: float) -> bool:  # is (500 + dx, 500 + dy) in its area?
        found = store.list(ResourceFilter(serves=lonlat(500 + dx, 500 + dy))).items
        assert [x.id for x in found] in ([], [r.id])
        return bool(found)

    for dx, dy in ((290, 0), (-290, 0), (0, 290), (0, -290), (200, 200)):  # 290 m, 283 m
        assert served(dx, dy), (dx, dy)
    for dx, dy in ((310, 0), (-310, 0), (0, 310), (0, -310), (220, 220), (590, 0)):
        assert not served(dx, dy), (dx, dy)  # 310 m, 311 m and 590 m: in 600 m, not 300 m


def test_region_margin_is_measured_in_metres(tmp_path):
    """A place up to the snapping distance beyond the network's outermost node, in any
    direction, can be registered; one beyond it cannot (33.8° N: a degree of longitude is
    92.6 km, not 111 km)."""
    region = grid_region()
    store = fresh_store("sqlite", tmp_path)
    WalkingService(region, store)
    w, s, e, n = store.bounds
    pad = settings.max_snap_m
    tr = region.net.to_geographic
    for dx, dy in ((1000 + pad, 500), (-pad, 500), (500, 1000 + pad), (500, -pad)):
        inside = tr.transform(X0 + dx - np.sign(dx - 500) * 10, Y0 + dy - np.sign(dy - 500)
                              * 10)
        outside = tr.transform(X0 + dx + np.sign(dx - 500) * 30,
                               Y0 + dy + np.sign(dy - 500) * 30)
        assert w <= inside[0] <= e and s <= inside[1] <= n, (dx, dy)
        assert not (w <= outside[0] <= e and s <= outside[1] <= n), (dx, dy)


def test_service_answers_equal_the_api(tmp_path):
    """The route is one call into the service: same resources, same minutes."""
    from geo_service.api import create_app
    from geo_service.config import ServiceSettings

    region = grid_region()
    store = fresh_store("sqlite", tmp_path)
    walking = WalkingService(region, store)
    for k, (x, y) in enumerate([(100, 0), (400, 300), (900, 900)]):
        lon, lat = lonlat(x, y)
        store.add(ResourceFields(name=f"サロン{k}", category="サロン", lon=lon, lat=lat))
    settings_ = ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                secret_key="k" * 40)
    client = TestClient(create_app(settings_, store=store, walking=walking))
    lon, lat = lonlat(0, 0)
    direct = walking.nearby(lon, lat, minutes=15, staff=False)
    assert [w.resource.name for w in direct] == ["サロン0", "サロン1"]  # 100 m, 700 m
    assert [w.distance_m for w in direct] == pytest.approx([100, 700], abs=1e-6)
    body = client.get("/nearby", params={"lat": lat, "lon": lon, "minutes": 15}).json()
    assert [f["properties"]["name"] for f in body["features"]] == ["サロン0", "サロン1"]
    assert [f["properties"]["walk_minutes"] for f in body["features"]] == [
        round(w.minutes, 2) for w in direct]
    rows = walking.area_coverage("小学校区", staff=False)
    assert [r["area_id"] for r in rows] == ["W", "M", "E"]
    assert rows[0]["categories"]["salon"]["located"] == [direct[0].resource.id]
    assert shapely.equals(rows[0]["geometry"], region.areas[0].lonlat[0])


def test_reach_nearest_per_category_matches_a_full_search(tmp_path, monkeypatch):
    """Per category, ``reach`` names the nearest resource by walking distance, with the
    metres and minutes of a search over the whole network from the point, within the
    threshold or beyond it up to the search limit (and none farther)."""
    from geo_service.engine.access import PointSearch

    monkeypatch.setattr(settings, "nearest_search_m", 900.0)
    store = fresh_store("sqlite", tmp_path)
    walking = WalkingService(grid_region(slope=0.05), store)
    rng = np.random.default_rng(7)
    for k, (x, y) in enumerate(rng.uniform(0, 1000, size=(12, 2))):
        store.add(ResourceFields(name=f"r{k}", category=("サロン", "配食", "見守り")[k % 3],
                                 lon=lonlat(x, y)[0], lat=lonlat(x, y)[1]))
    loc = walking.located(staff=False)
    beyond = 0
    for x, y in rng.uniform(0, 1000, size=(40, 2)):
        lon, lat = lonlat(x, y)
        _, rows = walking.reach(lon, lat, staff=False)
        search = PointSearch(walking.net, walking.attach_lonlat(lon, lat))
        metres = search.metres(loc.attachment, np.inf)
        secs = search.seconds(loc.attachment, np.inf)
        for row in rows:
            mine = np.flatnonzero(loc.categories == row["category"])
            best = mine[np.argmin(metres[mine])]
            if metres[best] <= 900.0:
                assert row["nearest"].id == loc.resource_ids[best]
                assert row["distance_m"] == pytest.approx(metres[best])
                if secs[best] <= 2 * max(500, metres[best]):  # 1 m/s on the flat
                    assert row["minutes"] == pytest.approx(secs[best] / 60)
                assert row["within_threshold"] is bool(metres[best] <= 500)
                beyond += not row["within_threshold"]
            else:
                assert (row["nearest"], row["distance_m"]) == (None, None)
    assert beyond > 5


def test_resource_reach_outside_the_region_says_so(tmp_path):
    """A resource located outside the region is "outside the region", not "no location"."""
    from geo_service._errors import InputError

    store = fresh_store("sqlite", tmp_path)
    far = store.add(ResourceFields(name="遠くのサロン", category="サロン", lon=139.7, lat=35.6))
    nowhere = store.add(ResourceFields(name="場所不明のサロン", category="サロン"))
    walking = WalkingService(grid_region(), store)  # added before the region was known
    with pytest.raises(InputError, match="outside the region"):
        walking.resource_reach(far, minutes=[5], staff=True)
    with pytest.raises(InputError, match="no location"):
        walking.resource_reach(nowhere, minutes=[5], staff=True)
