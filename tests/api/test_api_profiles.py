"""GET /profiles/{layer}: how far the covering services reach, checked by hand on the grid.

The grid region (``tests/utils/grid.py``): one person 65+ on every node of an 11 × 11 grid
(100 m apart); 小学校区 W (columns 0–2, 33 people), M (3–7, 55), E (8–10, 33).
"""

from __future__ import annotations

import numpy as np
import pytest

from geo_service.registry.store import open_store
from geo_service.service.service_coverage import shares_in_area, status
from geo_service.service.walking import WalkingService
from tests.utils.clients import api_client, client_with_admin
from tests.utils.grid import grid_region, lonlat


def test_shares_on_tiny_arrays():
    """Four people-weighted points, two in the area; two overlapping services."""
    pop = np.array([10.0, 30.0, 5.0, 100.0])
    in_area = np.array([True, True, False, False])
    a = np.array([True, False, True, True])   # reaches 10 of the area's 40
    b = np.array([True, True, False, False])  # reaches all 40
    each, union = shares_in_area(in_area, pop, [a])
    assert each == [0.25] and union == 0.25 and status(1, union) == "partly"
    each, union = shares_in_area(in_area, pop, [a, b])
    assert each == [0.25, 1.0] and union == 1.0 and status(2, union) == "covered"
    assert shares_in_area(in_area, pop, []) == ([], None) and status(0, None) == "none"
    # no one 65+ in the area: a covering service is "partly", never "covered"
    each, union = shares_in_area(in_area, np.zeros(4), [b])
    assert each == [None] and union is None and status(1, union) == "partly"


@pytest.fixture
def client(tmp_path, fast_hashes):
    store = open_store("sqlite://")
    c, admin = client_with_admin(store, tmp_path, walking=WalkingService(grid_region(), store))
    c.headers_admin = admin
    return c


def _add(c, body):
    r = c.post("/resources", json=body, headers=c.headers_admin)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_profiles_by_hand(client):
    c = client
    lon, lat = lonlat(500, 500)  # node (5, 5), in M
    # 配食 for all of W (by area id): everyone in W
    meals = _add(c, {"name": "西の配食", "category": "配食",
                     "service_area": {"kind": "areas", "layer": "小学校区", "area_ids": ["W"]}})
    # 見守り within 150 m of node (5, 5): it and its 8 neighbours (diagonals 141 m) = 9 of M's 55
    watch = _add(c, {"name": "<img src=x onerror=alert(1)>見守り", "category": "見守り",
                     "lon": lon, "lat": lat, "service_area": {"kind": "radius", "radius_m": 150}})
    # a salon on node (10, 0) with a 2-minute walking area (1 m/s: 120 m, so the node and
    # its two neighbours on the grid) = 3 of E's 33
    slon, slat = lonlat(1000, 0)
    salon = _add(c, {"name": "角のサロン", "category": "サロン", "lon": slon, "lat": slat,
                     "service_area": {"kind": "walk", "minutes": 2}})
    body = c.get("/profiles/elementary").json()
    assert body["layer"] == "小学校区" and body["threshold_m"] == 500
    by = {a["area_id"]: a for a in body["areas"]}
    assert [by[k]["pop_65plus"] for k in "WME"] == [33, 55, 33]
    w = by["W"]["categories"]["meal_delivery"]
    assert w["covering"] == [{"id": meals, "name": "西の配食", "share_65plus": 1.0}]
    assert w["status"] == "covered" and w["share_65plus_covered"] == 1.0
    assert "meal_delivery" not in by["M"]["categories"]
    m = by["M"]["categories"]["watching"]
    assert m["covering"][0]["id"] == watch
    assert m["covering"][0]["share_65plus"] == pytest.approx(9 / 55)
    assert m["status"] == "partly"
    e = by["E"]["categories"]["salon"]
    assert e["covering"][0]["id"] == salon
    assert e["share_65plus_covered"] == pytest.approx(3 / 33) and e["status"] == "partly"
    assert e["located"] == [{"id": salon, "name": "角のサロン"}]
    assert m["covering"][0]["name"] == "<img src=x onerror=alert(1)>見守り"  # JSON, as is
    assert c.get("/profiles/nope").status_code == 404


def test_profiles_without_a_region_is_404(tmp_path):
    c = api_client(open_store("sqlite://"), tmp_path)
    r = c.get("/profiles/elementary")
    assert r.status_code == 404 and r.json()["detail"] == "地域が読み込まれていません"
