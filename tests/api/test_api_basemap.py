"""GET /basemap: the served region's own map per zoom, public, on the hand-made grid.

The grid (tests/utils/grid.py) at full detail: 216 street lines (220 edges joined where
only two meet, at the corners) and 6 outline lines of its 小学校区 (see
tests/engine/test_basemap.py).
"""

from __future__ import annotations

import pytest

from geo_service.api.routes import basemap as basemap_route
from geo_service.engine.basemap import MAX_ZOOM
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.clients import api_client, client_with_admin
from tests.utils.grid import grid_region, lonlat


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("basemap")
    store = fresh_store("sqlite", tmp)
    c, headers = client_with_admin(store, tmp, walking=WalkingService(grid_region(), store))
    lon, lat = lonlat(500, 500)
    r = c.post("/resources", headers=headers, json={
        "name": "秘密のサロン", "category": "salon", "lon": lon, "lat": lat,
        "staff_notes": "職員だけのメモ", "visibility": "staff"})
    assert r.status_code == 201, r.text
    return c


def _kinds(body: dict) -> dict[str, int]:
    """Lines (or polygons) per kind; a MultiLineString holds several."""
    counts: dict[str, int] = {}
    for f in body["features"]:
        g = f["geometry"]
        n = len(g["coordinates"]) if g["type"].startswith("Multi") else 1
        counts[f["properties"]["kind"]] = counts.get(f["properties"]["kind"], 0) + n
    return counts


def test_the_whole_region_at_full_detail_anonymously(client):
    r = client.get("/basemap", params={"zoom": 17})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    assert "public" in r.headers["cache-control"]
    assert r.headers["content-encoding"] == "gzip"  # the test client accepts it
    assert int(r.headers["content-length"]) < len(r.content) / 3
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert _kinds(body) == {"street": 216, "outline": 6}
    assert "秘密のサロン" not in r.text and "職員だけのメモ" not in r.text
    assert "西小学校" not in r.text  # outlines only: the pages name areas themselves


def test_fewer_features_at_a_low_zoom_and_zooms_beyond_share_the_nearest(client):
    high = client.get("/basemap", params={"zoom": 17}).json()
    low = client.get("/basemap", params={"zoom": 10}).json()
    assert _kinds(low)["street"] < _kinds(high)["street"]
    assert client.get("/basemap", params={"zoom": 19.4}).json() == high
    assert client.get("/basemap", params={"zoom": 2}).json() == low


def test_bbox_keeps_the_features_meeting_it(client):
    west, south = lonlat(-10, -10)
    east, north = lonlat(150, 150)
    body = client.get("/basemap", params={"zoom": 16,
                                          "bbox": f"{west},{south},{east},{north}"}).json()
    # the south-west corner: streets x = 0, 100 and y = 0, 100 (and the outline)
    assert 4 <= _kinds(body)["street"] < 20
    far = client.get("/basemap", params={"zoom": 16, "bbox": "139.7,35.6,139.8,35.7"}).json()
    assert far["features"] == []


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "131,34,130,35", "0,-95,1,1",
                                  "nan,1,2,3"])
def test_a_bad_bbox_is_refused_naming_it(client, bbox):
    r = client.get("/basemap", params={"zoom": 14, "bbox": bbox})
    assert r.status_code == 422, r.text
    assert "bbox" in r.text and "指定してください" in r.text
    en = client.get("/basemap", params={"zoom": 14, "bbox": bbox},
                    headers={"Accept-Language": "en"})
    assert "west" in en.text


def test_zoom_is_required(client):
    assert client.get("/basemap").status_code == 422
    assert client.get("/basemap", params={"zoom": 30}).status_code == 422


def test_a_box_too_dense_for_its_zoom_is_answered_coarser(client, monkeypatch):
    monkeypatch.setattr(basemap_route, "MAX_LINES", 100)
    body = client.get("/basemap", params={"zoom": 17}).json()
    assert body["zoom"] < MAX_ZOOM and sum(_kinds(body).values()) <= 100
    assert _kinds(body)["street"] > 0  # coarser, never empty
    west, south = lonlat(-10, -10)
    east, north = lonlat(150, 150)
    corner = client.get("/basemap", params={"zoom": 17,
                                            "bbox": f"{west},{south},{east},{north}"}).json()
    assert corner["zoom"] == MAX_ZOOM  # a small box keeps its detail


def test_no_region_no_basemap(tmp_path):
    c = api_client(fresh_store("sqlite", tmp_path), tmp_path)
    assert c.get("/basemap", params={"zoom": 14}).status_code == 404
