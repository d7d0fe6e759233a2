"""Walking routes on a grid whose answers are known by hand; property tests vs the engine."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.engine.access import DistanceField, attach_points
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.clients import client_with_admin
from tests.utils.grid import grid_region, lonlat


@pytest.fixture
def app_parts(tmp_path, fast_hashes):
    store = fresh_store("sqlite", tmp_path)
    client, admin = client_with_admin(store, tmp_path,
                                      walking=WalkingService(grid_region(), store))
    return client, store, admin


def place(store, name, x, y, category="サロン", **kw):
    lon, lat = lonlat(x, y)
    return store.add(ResourceFields(name=name, category=category, lon=lon, lat=lat, **kw))


def q(x, y, **params):
    lon, lat = lonlat(x, y)
    return {"lon": lon, "lat": lat, **params}


def test_nearby_known_distances_sorted_by_time(app_parts):
    client, store, _ = app_parts
    place(store, "corner salon", 0, 0)
    place(store, "cafe next door", 500, 400, category="認知症カフェ")
    place(store, "far salon", 1000, 1000)
    # origin half-way along the edge (300,400)–(400,400)
    r = client.get("/nearby", params=q(350, 400, minutes=15))
    assert r.status_code == 200, r.text
    got = [(p["name"], p["walk_distance_m"], p["walk_minutes"])
           for p in (f["properties"] for f in r.json()["features"])]
    assert got == [("cafe next door", 150.0, 2.5), ("corner salon", 750.0, 12.5)]
    r = client.get("/nearby", params=q(350, 400, minutes=15, category="認知症カフェ"))
    assert [f["properties"]["name"] for f in r.json()["features"]] == ["cafe next door"]


def test_nearby_answer_read_by_geopandas_keeps_the_walk_figures(app_parts, tmp_path):
    """GIS tools (QGIS, geopandas, Leaflet) read properties and drop foreign members."""
    import geopandas as gpd

    client, store, admin = app_parts
    place(store, "corner salon", 0, 0)
    place(store, "cafe next door", 500, 400, category="認知症カフェ")
    for headers in ({}, admin):
        r = client.get("/nearby", params=q(350, 400, minutes=15), headers=headers)
        path = tmp_path / "nearby.geojson"
        path.write_bytes(r.content)
        frame = gpd.read_file(path)
        assert list(zip(frame["name"], frame["walk_distance_m"], frame["walk_minutes"],
                        strict=True)) == [("cafe next door", 150.0, 2.5),
                                          ("corner salon", 750.0, 12.5)]
        assert all("walk" not in f for f in r.json()["features"])


def test_nearby_same_edge_is_walked_directly(app_parts):
    client, store, _ = app_parts
    place(store, "on my street", 380, 400)
    r = client.get("/nearby", params=q(320, 400, minutes=5))
    assert [f["properties"]["walk_distance_m"] for f in r.json()["features"]] == [60.0]


def test_nearby_bad_input(app_parts):
    client, _, _ = app_parts
    lon, lat = lonlat(500, 500)
    r = client.get("/nearby", params={"lon": lon + 1, "lat": lat})
    assert r.status_code == 422 and "地域の外" in r.text
    r = client.get("/nearby", params={"lon": lon + 1, "lat": lat},
                   headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "outside the region" in r.text
    r = client.get("/nearby", params={"lon": lat, "lat": lon})
    assert r.status_code == 422 and "lat" in r.text
    r = client.get("/nearby", params=q(500, 500, category="カラオケ"))
    assert r.status_code == 422 and "カラオケ" in r.text
    assert client.get("/nearby", params=q(500, 500, minutes=0)).status_code == 422
    r = client.get("/nearby", params=q(500, 500, minutes=500))
    assert r.status_code == 422 and "分までです（サービスの NEARBY_MAX_MINUTES）" in r.text
    assert client.get("/nearby", params={"lat": 33.8}).status_code == 422


def test_nearby_hides_staff_only_resources_from_the_public(app_parts):
    client, store, admin = app_parts
    place(store, "staff only", 500, 500, visibility="staff")
    place(store, "hidden location", 500, 600, staff_fields=["location"])
    public = client.get("/nearby", params=q(500, 550)).json()["features"]
    staff = client.get("/nearby", params=q(500, 550), headers=admin).json()["features"]
    assert public == []
    assert sorted(f["properties"]["name"] for f in staff) == ["hidden location", "staff only"]


def test_reach_services_and_walkable_categories(app_parts):
    client, store, _ = app_parts
    place(store, "corner salon", 0, 0)
    store.add(ResourceFields(name="全域の見守り", category="見守り",
                             service_area={"kind": "municipality"}))
    place(store, "家事 radius 250", 0, 0, category="家事支援",
          service_area={"kind": "radius", "radius_m": 250})
    place(store, "配食 walk 4 min", 0, 0, category="配食",
          service_area={"kind": "walk", "minutes": 4})
    # (100, 100): 141 m straight, 200 m on foot (200 s): inside the radius and the walk area
    body = client.get("/reach", params=q(100, 100)).json()
    assert sorted(f["properties"]["name"] for f in body["features"]) == [
        "全域の見守り", "家事 radius 250", "配食 walk 4 min"]
    # (150, 150): 212 m straight, inside the 240 m circle, but 300 m (300 s) on foot
    body = client.get("/reach", params=q(150, 150)).json()
    assert sorted(f["properties"]["name"] for f in body["features"]) == [
        "全域の見守り", "家事 radius 250"]
    salon = next(w for w in body["walkable"] if w["category"] == "salon")
    assert (salon["nearest_name"], salon["distance_m"], salon["count"],
            salon["within_threshold"]) == ("corner salon", 300.0, 1, True)


def test_only_what_comes_to_people_serves_a_home(app_parts):
    """A 通いの場 given an area (a salon's catchment drawn by a coordinator) is a place to
    walk to, not a service that comes to the home; a 配食 with the same area is one."""
    client, store, _ = app_parts
    area = {"kind": "radius", "radius_m": 400}
    place(store, "サロン（範囲つき）", 0, 0, service_area=area)
    place(store, "配食（同じ範囲）", 0, 0, category="配食", service_area=area)
    body = client.get("/reach", params=q(100, 100)).json()
    assert [f["properties"]["name"] for f in body["features"]] == ["配食（同じ範囲）"]
    salon = next(w for w in body["walkable"] if w["category"] == "salon")
    assert salon["nearest_name"] == "サロン（範囲つき）"


def test_reach_names_the_nearest_beyond_the_threshold(app_parts, monkeypatch):
    """Nothing within 500 m: the nearest is still named, with its walk, as beyond."""
    client, store, _ = app_parts
    place(store, "corner salon", 0, 0)
    place(store, "far salon", 0, 100)
    place(store, "near cafe", 900, 1000, category="認知症カフェ")
    far = client.get("/reach", params=q(1000, 1000)).json()
    assert (far["threshold_m"], far["search_limit_m"]) == (500.0, 2000.0)
    rows = {w["category"]: w for w in far["walkable"]}
    assert {k: (w["count"], w["nearest_name"], w["distance_m"], w["minutes"],
                w["within_threshold"]) for k, w in rows.items()} == {
        "salon": (0, "far salon", 1900.0, 31.67, False),
        "dementia_cafe": (1, "near cafe", 100.0, 1.67, True)}
    monkeypatch.setattr("geo_service.settings.nearest_search_m", 1500.0)
    far = client.get("/reach", params=q(1000, 1000)).json()
    salon = next(w for w in far["walkable"] if w["category"] == "salon")
    assert (far["search_limit_m"], salon["nearest_id"], salon["distance_m"],
            salon["within_threshold"]) == (1500.0, None, None, False)


def test_school_district_service_area_from_import_covers_exactly_those(app_parts):
    client, store, admin = app_parts
    csv = "名称,種別,対応エリア\n西と東の配食,配食,西小学校区、東小学校区\n".encode("cp932")
    r = client.post("/resources/import", headers=admin,
                    files={"file": ("list.csv", csv, "text/csv")})
    assert r.status_code == 200 and r.json()["written"] == 1, r.text
    for x, expected in ((100, True), (500, False), (900, True), (240, True), (260, False)):
        names = [f["properties"]["name"] for f in
                 client.get("/reach", params=q(x, 500)).json()["features"]]
        assert ("西と東の配食" in names) is expected, x
    body = client.get("/areas/小学校区").json()
    covering = {f["id"]: f["properties"]["categories"].get("meal_delivery", {}).get(
        "covering", []) for f in body["features"]}
    assert {k: len(v) for k, v in covering.items()} == {"W": 1, "M": 0, "E": 1}
    bad = "名称,種別,対応エリア\n幻の配食,配食,幻小学校区\n".encode()
    r = client.post("/resources/import", headers=admin,
                    files={"file": ("bad.csv", bad, "text/csv")})
    assert r.json()["written"] == 0 and "幻小学校区" in r.json()["problems"][0]["reason"]


def test_resource_reach_isochrones_count_people(app_parts):
    client, store, _ = app_parts
    r = place(store, "centre", 500, 500)
    body = client.get(f"/resources/{r.id}/reach").json()
    assert body["kind"] == "isochrones"
    i, j = np.meshgrid(np.arange(11), np.arange(11))
    manhattan = 100 * (np.abs(i - 5) + np.abs(j - 5))
    expected = [float((manhattan <= m * 60).sum()) for m in (5, 10, 15)]
    assert [f["properties"]["pop_65plus"] for f in body["features"]] == expected
    assert [f["properties"]["minutes"] for f in body["features"]] == [5.0, 10.0, 15.0]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in body["features"])


def test_resource_reach_service_area_and_stops(app_parts):
    client, store, _ = app_parts
    west = store.add(ResourceFields(name="西の配食", category="配食", service_area={
        "kind": "areas", "layer": "小学校区", "area_ids": ["W"]}))
    body = client.get(f"/resources/{west.id}/reach").json()
    assert body["kind"] == "service_area"
    assert body["features"][0]["properties"]["pop_65plus"] == 33.0  # 3 columns × 11 nodes
    lon1, lat1 = lonlat(0, 0)
    lon2, lat2 = lonlat(1000, 0)
    truck = store.add(ResourceFields(name="移動販売", category="移動販売", schedule={"stops": [
        {"lon": lon1, "lat": lat1, "weekday": "mon", "time": "10:00"},
        {"lon": lon2, "lat": lat2, "weekday": "tue", "time": "11:00"}]}))
    body = client.get(f"/resources/{truck.id}/reach").json()
    assert body["kind"] == "stops"
    # within 5 min (300 m) of either corner stop: 10 nodes around each corner
    assert body["features"][0]["properties"]["pop_65plus"] == 20.0


def test_resource_reach_not_found_and_hidden(app_parts):
    client, store, admin = app_parts
    assert client.get("/resources/nope/reach").status_code == 404
    r = place(store, "staff", 500, 500, visibility="staff")
    assert client.get(f"/resources/{r.id}/reach").status_code == 404
    assert client.get(f"/resources/{r.id}/reach", headers=admin).status_code == 200


def test_areas_coverage_shares(app_parts):
    client, store, _ = app_parts
    place(store, "corner salon", 0, 0)
    body = client.get("/areas/小学校区").json()
    assert [f["id"] for f in body["features"]] == ["W", "M", "E"]
    west = body["features"][0]["properties"]
    assert west["pop_65plus"] == 33.0
    # nodes of columns 0–2 within 500 m of (0, 0): i + j ≤ 5 → 6 + 5 + 4 = 15
    assert west["categories"]["salon"]["share_65plus_within_walk"] == pytest.approx(15 / 33)
    assert west["categories"]["salon"]["located"] == [store.list().items[0].id]
    one = client.get("/areas/小学校区/E/coverage").json()
    assert one["properties"]["categories"]["salon"]["share_65plus_within_walk"] == 0.0
    assert client.get("/areas/nope").status_code == 404
    assert client.get("/areas/小学校区/nope/coverage").status_code == 404


def test_area_layers_listed_and_named_by_ascii_id(app_parts):
    client, _, _ = app_parts
    assert client.get("/areas").json() == [{"name": "小学校区", "id": "elementary", "areas": 3}]
    by_id = client.get("/areas/elementary")
    assert by_id.status_code == 200
    assert by_id.content == client.get("/areas/小学校区").content
    assert client.get("/areas/elementary/E/coverage").json()["id"] == "E"
    assert client.get("/difficulty/elementary").json()["layer"] == "小学校区"
    r = client.get("/areas/mesh250")
    assert r.status_code == 404
    assert r.json()["detail"] == "区域レイヤ 'mesh250' はありません。レイヤ：小学校区 (elementary)"
    r = client.get("/areas/mesh250", headers={"Accept-Language": "en"})
    assert r.json()["detail"] == "no area layer 'mesh250'; layers: 小学校区 (elementary)"
    r = client.get("/areas/elementary/nope/coverage")
    assert r.json()["detail"] == "区域レイヤ 'elementary' に区域 'nope' はありません"
    r = client.get("/areas/elementary/nope/coverage", headers={"Accept-Language": "en"})
    assert r.json()["detail"] == "no area 'nope' in layer 'elementary'"


def test_difficulty_indicators(app_parts):
    client, _, _ = app_parts
    body = client.get("/difficulty/小学校区").json()
    assert (body["stores_source"], body["stores"]) == ("region", 1)
    east = next(f for f in body["features"] if f["properties"]["area_id"] == "E")
    # store on the NE corner: 15 of the 33 east nodes are within 500 m
    assert east["properties"]["beyond_share"] == pytest.approx(18 / 33)
    assert client.get("/difficulty/nope").status_code == 404


def test_difficulty_follows_the_registrys_food_stores(app_parts):
    """Once the registry has 食料品店, they are counted: a new store and a closing one
    show in the indicators at once (the planner's "what if this store closes")."""
    client, store, admin = app_parts

    def shares():
        body = client.get("/difficulty/小学校区").json()
        return body["stores_source"], body["stores"], {
            f["properties"]["area_id"]: f["properties"]["beyond_share"]
            for f in body["features"]}

    west = place(store, "西のスーパー", 0, 0, category="食料品店")
    staff_only = place(store, "職員だけが知る店", 1000, 1000, category="食料品店",
                       visibility="staff")
    source, n, got = shares()
    assert (source, n) == ("registry", 1)  # the staff-only store is not counted
    # only the SW-corner store: the 15 west nodes with i + j ≤ 5 are within 500 m
    assert got["W"] == pytest.approx(1 - 15 / 33)
    assert got["E"] == 1.0
    store.update(staff_only.id, {"visibility": "public"})
    source, n, got = shares()
    assert (source, n) == ("registry", 2)
    assert got["E"] == pytest.approx(18 / 33)
    assert client.delete(f"/resources/{west.id}", headers=admin).status_code == 200
    source, n, got = shares()
    assert (source, n) == ("registry", 1)
    assert got["W"] == 1.0  # the west store closed: nobody in the west is within 500 m


def test_health_reports_the_region(app_parts):
    client, _, _ = app_parts
    body = client.get("/health").json()
    assert body["region"] == "grid" and body["walk_nodes"] == 121


# ---------------------------------------------------------------- property tests

@pytest.fixture(scope="module")
def sloped(tmp_path_factory):
    store = fresh_store("sqlite", tmp_path_factory.mktemp("sloped"))
    return WalkingService(grid_region(slope=0.08), store), store


coords = st.tuples(st.floats(0, 1000), st.floats(0, 1000))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(origin=coords, spots=st.lists(coords, min_size=1, max_size=4))
def test_nearby_agrees_with_the_engine_and_grows_with_distance(sloped, origin, spots):
    access, store = sloped
    from geo_service.registry.store.schema import history, resources

    with store.engine.begin() as conn:
        conn.execute(resources.delete())
        conn.execute(history.delete())
    made = [place(store, f"s{k}", x, y) for k, (x, y) in enumerate(spots)]
    lon, lat = lonlat(*origin)
    results = access.nearby(lon, lat, minutes=60, staff=True)
    minutes = [w.minutes for w in results]
    assert minutes == sorted(minutes)
    net = access.net
    to_metric = net.from_geographic.transform  # the same coordinates the service sees

    def attach(x, y):
        return attach_points(net, np.array([to_metric(*lonlat(x, y))]))

    o = attach(*origin)
    by_id = {w.resource.id: w for w in results}
    for r, (x, y) in zip(made, spots, strict=True):
        engine = DistanceField(net, attach(x, y)).at(o)
        if engine.seconds[0] <= 3600:
            w = by_id[r.id]
            assert w.minutes == pytest.approx(engine.seconds[0] / 60, rel=1e-9, abs=1e-6)
            assert w.distance_m == pytest.approx(engine.distance_m[0], rel=1e-9, abs=1e-6)
            straight = float(np.hypot(x - origin[0], y - origin[1]))
            assert w.distance_m >= straight - 1e-6
        else:
            assert r.id not in by_id


def test_locations_outside_the_region_are_refused(app_parts):
    client, store, admin = app_parts
    lon, lat = lonlat(500, 500)
    body = {"name": "遠いサロン", "category": "サロン", "lon": lon + 0.5, "lat": lat}
    r = client.post("/resources", json=body, headers=admin)
    assert r.status_code == 422 and "地域の外" in r.text
    r = client.post("/resources", json=body | {"lon": lat, "lat": lon}, headers=admin)
    assert r.status_code == 422 and "緯度と経度が逆" in r.text
    ok = client.post("/resources", json=body | {"lon": lon}, headers=admin)
    assert ok.status_code == 201
    r = client.patch(f"/resources/{ok.json()['id']}", json={"lat": lat + 1}, headers=admin)
    assert r.status_code == 422 and store.get(ok.json()["id"]).lat == pytest.approx(lat)
    csv = (f"名称,種別,緯度,経度\n中のサロン,サロン,{lat},{lon}\n"
           f"外のサロン,サロン,{lat},{lon + 0.5}\n")
    r = client.post("/resources/import", headers=admin, params={"partial": True},
                    files={"file": ("x.csv", csv.encode(), "text/csv")})
    body = r.json()
    assert body["written"] == 1 and [p["row"] for p in body["problems"]] == [3]
    assert "outside the region" in body["problems"][0]["reason"]


@pytest.fixture(scope="module")
def flat_client(tmp_path_factory):
    store = fresh_store("sqlite", tmp_path_factory.mktemp("flat"))
    settings_ = ServiceSettings(database_url="sqlite://", secret_key="k" * 40,
                                data_dir=tmp_path_factory.mktemp("flat_data"),
                                nearby_max_minutes=60)  # the test asks for up to an hour
    return TestClient(create_app(settings_, store=store,
                                 walking=WalkingService(grid_region(), store))), store


@settings(max_examples=15, deadline=None)
@given(origin=coords, spots=st.lists(coords, min_size=2, max_size=6))
@example(origin=(0.0, 988.0), spots=[(0.0, 0.0), (806.0, 6.0)])  # 30 min: past the default cap
def test_nearby_route_times_grow_with_distance_on_flat_ground(flat_client, origin, spots):
    client, store = flat_client
    from geo_service.registry.store.schema import history, resources

    with store.engine.begin() as conn:
        conn.execute(resources.delete())
        conn.execute(history.delete())
    for k, (x, y) in enumerate(spots):
        place(store, f"s{k}", x, y)
    body = client.get("/nearby", params=q(*origin, minutes=60)).json()
    walks = [(f["properties"]["walk_distance_m"], f["properties"]["walk_minutes"])
             for f in body["features"]]
    assert len(walks) == len(spots)  # 1 km grid: everything is within an hour
    assert [m for _, m in walks] == sorted(m for _, m in walks)
    assert [d for d, _ in walks] == sorted(d for d, _ in walks)
    for d, m in walks:  # 1 m/s on flat ground (both rounded for the response)
        assert m == pytest.approx(d / 60, abs=0.01)
