"""An area's 地域カルテ and 生活便利帳 as pages of the service: the numbers known by hand on
the grid region, public data for the public, every string escaped, clear 404s.

The grid (tests/utils/grid.py): 11 × 11 people 65+ 100 m apart, the only food store on
the north-east corner; strip M (columns 3–7, 55 people) has 49 beyond 500 m on the streets.
"""

from __future__ import annotations

from geo_service.registry.resources import ResourceFields
from tests.api.test_api_coverage import app_parts  # noqa: F401  (the grid app fixture)
from tests.utils.grid import lonlat

XSS = "<img src=x onerror=alert(1)>"


def _salon(store, name: str, x: float, y: float, **kw) -> str:
    lon, lat = lonlat(x, y)
    return store.add(ResourceFields(name=name, category="salon", lon=lon, lat=lat, **kw)).id


def test_karte_page_numbers_known_by_hand(app_parts):  # noqa: F811
    client, _, _ = app_parts
    r = client.get("/karte/elementary/M")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<h1>地域カルテ：中小学校" in r.text
    assert '<td class="n">49</td><td class="n">89.1%</td>' in r.text  # 49 of 55 beyond
    assert client.get("/karte/小学校区/M").text == r.text  # the layer's name or its id


def test_public_karte_and_booklet_hide_staff_only_resources_and_escape_names(
        app_parts):  # noqa: F811
    client, store, admin = app_parts
    _salon(store, "職員だけが知るサロン", 400, 500, visibility="staff")
    _salon(store, XSS, 500, 500, schedule={"weekdays": ["wed"], "start": "10:00",
                                           "end": "11:30"})
    for page in ("/karte/elementary/M", "/booklet/elementary/M"):
        public = client.get(page).text
        assert "職員だけが知るサロン" not in public, page
        assert XSS not in public and "&lt;img src=x onerror=alert(1)&gt;" in public, page
        assert "<script" not in public, page
        staff = client.get(page, headers=admin).text
        assert "職員だけが知るサロン" in staff, page
    assert "毎週水曜 10:00〜11:30" in client.get("/booklet/elementary/M").text


def test_unknown_area_or_layer_is_404(app_parts):  # noqa: F811
    client, _, _ = app_parts
    r = client.get("/karte/elementary/NOPE")
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    r = client.get("/booklet/no_such_layer/M")
    assert r.status_code == 404 and "no_such_layer" in r.json()["detail"]
