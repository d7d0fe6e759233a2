"""GET /isochrone (the walking-minutes preview of the staff editor) on the hand-made grid.

Walking on the grid is Manhattan distance at 1 m/s (tests/utils/grid.py): from the centre
node (500, 500), 3.5 minutes (210 s) reach the 13 nodes at most 200 m away by street; the
area is the streets between them, 40 m wide on each side (:func:`isochrone_polygon`).
"""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.clients import client_with_admin
from tests.utils.grid import grid_region, lonlat


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iso")
    store = fresh_store("sqlite", tmp)
    c, admin = client_with_admin(store, tmp, walking=WalkingService(grid_region(), store))
    c.headers_admin = admin
    return c


def _inside(geom, x: float, y: float) -> bool:
    return bool(geom.covers(shapely.Point(*lonlat(x, y))))


def test_isochrone_is_the_street_area_known_by_hand(client):
    lon, lat = lonlat(500, 500)
    r = client.get("/isochrone", params={"lat": lat, "lon": lon, "minutes": 3.5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "Feature" and body["properties"]["minutes"] == 3.5
    assert body["properties"]["pop_65plus"] == 13.0  # |Δi| + |Δj| ≤ 2: 1 + 4 + 8 nodes
    geom = shape(body["geometry"])
    for x, y in [(500, 500), (700, 500), (300, 500), (500, 700), (600, 600), (400, 400),
                 (730, 500)]:  # 200 m by street, and 30 m past the last node
        assert _inside(geom, x, y), (x, y)
    for x, y in [(800, 500), (500, 200), (760, 500),  # 300 m, and 60 m past the last node
                 (700, 700), (650, 650)]:  # 283 m / 212 m as the crow flies, 400 m / 300 m on foot
        assert not _inside(geom, x, y), (x, y)


def test_isochrone_is_what_a_saved_walk_service_area_reaches(client):
    lon, lat = lonlat(200, 800)
    preview = client.get("/isochrone", params={"lat": lat, "lon": lon, "minutes": 5}).json()
    created = client.post("/resources", headers=client.headers_admin, json={
        "name": "配食 徒歩5分", "category": "meal_delivery", "lon": lon, "lat": lat,
        "service_area": {"kind": "walk", "minutes": 5}})
    assert created.status_code == 201, created.text
    reach = client.get(f"/resources/{created.json()['id']}/reach").json()
    assert reach["kind"] == "isochrones" and len(reach["features"]) == 1
    saved = reach["features"][0]
    assert saved["properties"] == preview["properties"]
    assert shape(saved["geometry"]).equals(shape(preview["geometry"]))


@pytest.mark.parametrize("params", [
    {"minutes": 31}, {"minutes": 0}, {"minutes": -1}, {"lat": 35.0, "lon": 139.0},
])
def test_isochrone_refuses_bad_input(client, params):
    lon, lat = lonlat(500, 500)
    r = client.get("/isochrone", params={"lat": lat, "lon": lon, "minutes": 5} | params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] in ("minutes", "lat", "location")
