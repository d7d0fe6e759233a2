"""Staff-only resources and fields never appear in any public response, export or map data.

The test walks every GET route the app declares (so a new route cannot escape it) and
searches each public response for marker strings that exist only in staff-only data.
"""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from geo_service.api import views
from geo_service.registry.store.testing import BACKENDS
from geo_service.service.walking import WalkingService
from tests.utils.clients import client_with_admin
from tests.utils.grid import grid_region, lonlat
from tests.utils.stores import backend_store

HIDDEN_LON, HIDDEN_LAT = lonlat(620, 640)  # the public resource's staff-only location
VISIBLE_LON, VISIBLE_LAT = lonlat(300, 300)  # the staff-only resource's location
NEAR_HIDDEN = dict(zip(("lon", "lat"), lonlat(610, 640), strict=True))  # query points
NEAR_VISIBLE = dict(zip(("lon", "lat"), lonlat(300, 310), strict=True))
MARKERS = ("SECRET-RESOURCE", "SECRET-TEL-0815", "SECRET-NOTE", "SECRET-COORD",
           "SECRET-ADDRESS", "SECRET-SOURCE", "SECRET-SCHEDULE", "SECRET-FEE", "4242",
           "hidden-1", repr(HIDDEN_LON), repr(HIDDEN_LAT), repr(VISIBLE_LON), repr(VISIBLE_LAT))


def staff_only_data():
    """One staff-only resource, a public resource with a staff-only location (its route's
    stops too) and contact, and one without a location whose schedule and fee are
    staff-only."""
    hidden = {"id": "hidden-1", "name": "SECRET-RESOURCE 見守り会", "category": "見守り",
              "visibility": "staff", "lon": VISIBLE_LON, "lat": VISIBLE_LAT, "area": "A",
              "contact": {"tel": "SECRET-TEL-0815"}, "service_area": {"kind": "municipality"}}
    public = {"id": "public-1", "name": "公開サロン", "category": "サロン", "area": "A",
              "lon": HIDDEN_LON, "lat": HIDDEN_LAT, "address": "SECRET-ADDRESS 1-2-3",
              "contact": {"tel": "SECRET-TEL-0815", "email": "open@example.jp"},
              "staff_fields": ["contact.tel", "address", "location"],
              "staff_notes": "SECRET-NOTE", "coordinator": "SECRET-COORD",
              "source": "SECRET-SOURCE",
              "service_area": {"kind": "radius", "radius_m": 400},
              "schedule": {"stops": [{"lon": HIDDEN_LON, "lat": HIDDEN_LAT, "weekday": "mon",
                                      "time": "10:00"}]}}
    unlocated = {"id": "public-2", "name": "公開配食", "category": "配食", "area": "W",
                 "schedule": {"weekdays": ["tue"], "text": "SECRET-SCHEDULE 火曜"},
                 "fee": {"kind": "paid", "amount_yen": 4242, "text": "SECRET-FEE 4242円"},
                 "staff_fields": ["schedule", "fee"]}
    return hidden, public, unlocated


@pytest.fixture(params=BACKENDS)
def client(request, tmp_path, fast_hashes):
    store = backend_store(request.param, tmp_path)
    c, admin = client_with_admin(store, tmp_path, walking=WalkingService(grid_region(), store))
    c.headers_admin = admin
    for body in staff_only_data():
        assert c.post("/resources", json=body, headers=c.headers_admin).status_code == 201
    return c


# Example parameters for every GET route; a route missing here fails the test.
SAMPLES: dict[str, list[dict]] = {
    "/health": [{}],
    "/ui/config": [{}],
    "/basemap": [{"zoom": 16}, {"zoom": 10}],
    "/resources": [{}, {"q": "SECRET"}, {"category": "見守り"}, {"bbox": "130,33,131,34"},
                   {"bbox": "130.69,33.69,130.71,33.71"},
                   {"needs_location": "false"}, {"area": "A"}, {"deleted": "true"},
                   {"weekday": "tue"}, {"fee": "paid"}],
    "/resources/export": [{"format": "csv"}, {"format": "xlsx"}, {"format": "geojson"}],
    "/resources/{resource_id}": [{"resource_id": "hidden-1"}, {"resource_id": "public-1"}],
    "/resources/{resource_id}/history": [{"resource_id": "public-1"}],
    "/resources/{resource_id}/reach": [{"resource_id": "hidden-1"},
                                       {"resource_id": "public-1"}],
    "/nearby": [NEAR_HIDDEN | {"minutes": 30}, NEAR_VISIBLE | {"category": "見守り"}],
    "/reach": [NEAR_HIDDEN, NEAR_VISIBLE],
    "/isochrone": [NEAR_HIDDEN | {"minutes": 10}, NEAR_VISIBLE | {"minutes": 5}],
    "/areas": [{}],
    "/areas/{layer}": [{"layer": "小学校区"}, {"layer": "elementary"}],
    "/areas/{layer}/{area_id}/coverage": [{"layer": "小学校区", "area_id": a}
                                          for a in ("W", "M", "E")],
    "/difficulty/{layer}": [{"layer": "小学校区"}],
    "/karte/{layer}/{area_id}": [{"layer": "小学校区", "area_id": a} for a in ("W", "M", "E")],
    "/booklet/{layer}/{area_id}": [{"layer": "elementary", "area_id": a}
                                   for a in ("W", "M", "E")],
    "/geocode": [{"q": "飯塚市"}],  # no geocoder configured here: 404
    "/profiles/{layer}": [{"layer": "小学校区"}, {"layer": "elementary"}],
    "/gaps/{layer}": [{"layer": "小学校区"}, {"layer": "elementary", "need": "salon"},
                      {"layer": "elementary", "need": "見守り"}],
    "/siting": [{"need": "food_store", "k": 1, "candidates": "registry:サロン"}],
    "/scenarios": [{}],
    "/scenarios/{name}": [{"name": "none"}],
    "/resources/unverified": [{}],
    "/auth/me": [{}],
    "/users": [{}],
    "/openapi.json": [{}], "/docs": [{}], "/redoc": [{}], "/docs/oauth2-redirect": [{}],
    "/docs-assets/redoc.standalone.js": [{}],
}


def _text(response) -> str:
    if "spreadsheetml" in response.headers.get("content-type", ""):
        wb = openpyxl.load_workbook(io.BytesIO(response.content))
        return "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row)
    return response.content.decode("utf-8-sig", errors="replace")


def test_staff_data_never_in_public_responses(client):
    documented = client.get("/openapi.json").json()["paths"]
    get_routes = sorted({p for p, ops in documented.items() if "get" in ops}
                        | {r.path for r in client.app.routes
                           if "GET" in (getattr(r, "methods", None) or ())})
    missing = [p for p in get_routes if p not in SAMPLES]
    assert not missing, f"add sample parameters for {missing}"
    checked = 0
    for path in get_routes:
        for sample in SAMPLES[path]:
            names = set(re.findall(r"{(\w+)}", path))
            url = path.format(**{k: v for k, v in sample.items() if k in names})
            params = {k: v for k, v in sample.items() if k not in names}
            r = client.get(url, params=params)
            assert r.status_code in (200, 401, 404, 422), (url, r.status_code, r.text)
            text = _text(r)
            for marker in MARKERS:
                if marker not in url:  # a 404 may repeat the id that was asked for
                    assert marker not in text, (url, params, marker)
            checked += 1
    assert checked >= 30
    # a location search must not reveal a hidden location either
    found = client.get("/resources", params={"bbox": "130.69,33.69,130.71,33.71"}).json()
    assert found["total"] == 0


def test_staff_sees_what_the_public_does_not(client):
    r = client.get("/resources/public-1", headers=client.headers_admin).json()
    assert r["properties"]["contact"]["tel"] == "SECRET-TEL-0815"
    assert r["properties"]["staff_notes"] == "SECRET-NOTE"
    public = client.get("/resources/public-1").json()
    assert public["geometry"] is None and public["properties"]["contact"]["tel"] is None
    assert public["properties"]["contact"]["email"] == "open@example.jp"
    assert public["properties"]["service_area"]["kind"] == "none"  # a circle would reveal it
    staff_csv = client.get("/resources/export", headers=client.headers_admin).text
    assert "SECRET-RESOURCE" in staff_csv and "SECRET-NOTE" in staff_csv


def _ids(client, headers=None, **params) -> set[str]:
    body = client.get("/resources", params=params | {"limit": 500}, headers=headers).json()
    return {f["id"] for f in body["features"]}


def _shown_days(props) -> set[str]:
    sched = props["schedule"]
    return {*sched["weekdays"], *(stop["weekday"] for stop in sched["stops"])}


def test_public_filters_match_only_what_the_public_sees(client):
    """Each public ``?weekday=``/``?fee=`` answer is exactly the public resources whose
    public view shows that day or fee: a staff-only schedule, fee, or a route's stops at
    a staff-only location never make a resource match (nor keep it from matching)."""
    shown = {f["id"]: f["properties"] for f in client.get("/resources").json()["features"]}
    assert shown.keys() == {"public-1", "public-2"}
    for day in ("mon", "tue", "wed", "月", "火曜"):
        key = views.parse_weekday(day)
        expected = {rid for rid, props in shown.items() if key in _shown_days(props)}
        assert _ids(client, weekday=day) == expected, day
    for fee in ("free", "paid", "unknown"):
        expected = {rid for rid, props in shown.items() if props["fee"]["kind"] == fee}
        assert _ids(client, fee=fee) == expected, fee
    # the probes themselves: staff-only days and fees are not found by the public ...
    assert _ids(client, weekday="tue") == set() and _ids(client, fee="paid") == set()
    assert _ids(client, weekday="mon") == set()  # the stop of the hidden location
    assert _ids(client, fee="unknown") == {"public-1", "public-2"}  # as both are shown
    # ... and are by staff
    assert _ids(client, client.headers_admin, weekday="tue") == {"public-2"}
    assert _ids(client, client.headers_admin, fee="paid") == {"public-2"}
    assert _ids(client, client.headers_admin, weekday="mon") == {"public-1"}


def test_public_filters_follow_edits_of_staff_fields(client):
    admin = client.headers_admin
    r = client.patch("/resources/public-2", json={"staff_fields": []}, headers=admin)
    assert r.status_code == 200, r.text
    assert _ids(client, weekday="tue") == {"public-2"} == _ids(client, fee="paid")
    client.patch("/resources/public-2", json={"staff_fields": ["fee"]}, headers=admin)
    assert _ids(client, weekday="tue") == {"public-2"} and _ids(client, fee="paid") == set()


def test_health_counts_what_the_caller_sees(client):
    assert client.get("/health").json()["resources"] == 2
    assert client.get("/health", headers=client.headers_admin).json()["resources"] == 3


def test_a_hidden_location_looks_like_none_to_the_public(client):
    hidden, missing = (client.get(f"/resources/{rid}").json() for rid in ("public-1",
                                                                          "public-2"))
    for feature in (hidden, missing):
        props = feature["properties"]
        assert feature["geometry"] is None and props["lon"] is None and props["lat"] is None
        assert "needs_location" not in props
    staff = {rid: client.get(f"/resources/{rid}", headers=client.headers_admin).json()
             for rid in ("public-1", "public-2")}
    assert not staff["public-1"]["properties"]["needs_location"]
    assert staff["public-2"]["properties"]["needs_location"]


def test_a_route_with_staff_only_stops_does_not_tell_its_district(client):
    """A 移動販売 route without a location takes its area from its first stop; with the
    stops staff-only (schedule), neither ``area`` nor ``?area=`` nor an export tells the
    public that district (issue 16, item 8)."""
    stop = dict(zip(("lon", "lat"), lonlat(620, 640), strict=True))  # in 中小学校 (M)
    body = {"id": "route-1", "name": "移動販売ふれあい号", "category": "移動販売",
            "schedule": {"stops": [stop | {"weekday": "fri", "time": "10:00"}]},
            "staff_fields": ["schedule"]}
    assert client.post("/resources", json=body, headers=client.headers_admin).status_code == 201
    staff = client.get("/resources/route-1", headers=client.headers_admin).json()
    assert staff["properties"]["area"] == "M"  # staff see where it runs
    assert client.get("/resources/route-1").json()["properties"]["area"] is None
    assert "route-1" not in _ids(client, area="M")
    assert "route-1" in _ids(client, client.headers_admin, area="M")
    exported = client.get("/resources/export", params={"format": "geojson"}).json()
    [feature] = [f for f in exported["features"] if f["id"] == "route-1"]
    assert feature["properties"]["area"] is None
    rows = client.get("/resources/export", params={"format": "csv"}).text.splitlines()
    [row] = [line for line in rows if line.startswith("route-1,")]
    assert row.split(",")[-1] == ""  # 担当圏域, the last column
    # with the stops public, the district is public too
    r = client.patch("/resources/route-1", json={"staff_fields": []},
                     headers=client.headers_admin)
    assert r.status_code == 200, r.text
    assert client.get("/resources/route-1").json()["properties"]["area"] == "M"
    assert "route-1" in _ids(client, area="M")


def test_the_public_etag_changes_only_with_the_public_view(client):
    """A staff-only edit leaves the public's ETag as it was (the version would tell that
    one happened); a public edit changes it; staff keep the version (issue 16, item 9)."""
    def tags():
        return (client.get("/resources/public-1").headers["ETag"],
                client.get("/resources/public-1", headers=client.headers_admin).headers["ETag"])

    public, staff = tags()
    for change in ({"staff_notes": "SECRET-NOTE 2"}, {"contact": {"tel": "SECRET-TEL-0816",
                                                                  "email": "open@example.jp"}}):
        r = client.patch("/resources/public-1", json=change, headers=client.headers_admin)
        assert r.status_code == 200, r.text
        new_public, new_staff = tags()
        assert new_public == public and new_staff != staff  # hidden fields only
        staff = new_staff
    assert staff == '"3"'
    client.patch("/resources/public-1", json={"name": "公開サロン（改名）"},
                 headers=client.headers_admin)
    assert tags()[0] != public
    # the public's tag names no version: an edit that sends it changes nothing
    r = client.patch("/resources/public-1", json={"name": "x"},
                     headers=client.headers_admin | {"If-Match": tags()[0]})
    assert r.status_code == 412
