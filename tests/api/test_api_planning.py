"""The planning routes (issue 10, item 7): gaps, siting, scenarios — answers known by hand
on the grid region and equal to the cores' for the same inputs; who may do what.

The grid (tests/utils/grid.py): 11 × 11 nodes 100 m apart, one person 65+ on each, the
only food store on the north-east corner (10, 10), three strips W (columns 0–2), M (3–7),
E (8–10). Within 500 m of the store on the streets (Manhattan distance): the 21 nodes with
(10 − i) + (10 − j) ≤ 5, of which 15 in E and 6 in M.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from geo_service.planning import siting as siting_core
from geo_service.planning.gaps import find_gaps
from geo_service.registry.resources import ResourceFields
from tests.api.test_api_coverage import app_parts  # noqa: F401  (the grid app fixture)
from tests.api.test_api_errors import detail
from tests.utils.grid import lonlat


def _facility(store, name, x, y, **kw):
    lon, lat = lonlat(x, y)
    return store.add(ResourceFields(name=name, category="public_facility", lon=lon, lat=lat,
                                    **kw))


# ------------------------------------------------------------------------------ gaps

def test_gaps_known_by_hand_and_equal_to_the_core(app_parts):  # noqa: F811
    client, _, _ = app_parts
    r = client.get("/gaps/elementary", params={"need": "food_store"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["layer"] == "小学校区" and body["threshold_m"] == 500
    rows = {a["area_id"]: a for a in body["areas"]}
    assert [a["area_id"] for a in body["areas"]] == ["M", "W", "E"]  # largest gap first
    assert {k: rows[k]["gap_65plus"] for k in rows} == {"W": 33, "M": 49, "E": 18}
    assert rows["W"]["gap_share"] == 1.0 and rows["M"]["gap_share"] == round(49 / 55, 4)
    assert {k: rows[k]["rank_share"] for k in rows} == {"W": 1, "M": 2, "E": 3}
    assert body["summary"]["gap_65plus"] == 100
    assert rows["W"]["geometry"]["type"] == "Polygon"
    walking = client.app.state.geo.walking
    core = find_gaps(walking, "小学校区", "food_store").table
    assert [a["area_id"] for a in body["areas"]] == list(core["area_id"])
    for a, (_, row) in zip(body["areas"], core.iterrows(), strict=True):
        assert a["gap_65plus"] == pytest.approx(row["gap_65plus"])
        assert a["covered_any"] == pytest.approx(row["covered_any"])
        assert a["rank_count"] == row["rank_count"]


def test_gaps_count_an_alternative_and_staff_only_ones_for_staff(app_parts):  # noqa: F811
    client, store, admin = app_parts
    lon, lat = lonlat(100, 100)
    store.add(ResourceFields(name="移動販売 西", category="mobile_sales", visibility="staff",
                             schedule={"stops": [{"lon": lon, "lat": lat, "weekday": "mon",
                                                  "time": "10:00"}]}))
    public = client.get("/gaps/小学校区").json()
    staff = client.get("/gaps/小学校区", headers=admin).json()
    assert public["summary"]["gap_65plus"] == 100
    # the stop at (1, 1) covers the nodes within 300 m: (1 + a, 1 + b) with |a| + |b| ≤ 3
    # (25) inside the grid (less 4 west of it and 4 south of it): 17, all beyond the store
    assert staff["summary"]["covered_mobile_sales"] == 17
    assert staff["summary"]["gap_65plus"] == 83
    # the answer for the public is not the staff's (cached per viewer)
    assert client.get("/gaps/小学校区").json()["summary"]["gap_65plus"] == 100
    alone = client.get("/gaps/小学校区", params={"alternatives": "none"}, headers=admin).json()
    assert alone["alternatives"] == [] and alone["summary"]["gap_65plus"] == 100


def test_gaps_reasons_in_the_language_asked_for(app_parts):  # noqa: F811
    """The notes and the alternatives' details come from the message catalogue: Japanese
    unless Accept-Language prefers English; the same cached answer serves both."""
    client, store, admin = app_parts
    lon, lat = lonlat(100, 100)
    store.add(ResourceFields(name="移動販売 西", category="mobile_sales", lon=lon, lat=lat,
                             schedule={"stops": [{"name": "西", "lon": lon, "lat": lat,
                                                  "weekday": "wed", "time": "10:00"}]}))
    ja = client.get("/gaps/小学校区").json()
    en = client.get("/gaps/小学校区", headers={"Accept-Language": "en-US,en;q=0.9"}).json()
    assert ja["summary"] == en["summary"]
    assert ("ここではバス停を数えていません（このサービスは GTFS データを読み込みません）"
            in ja["notes"])
    assert "bus stops are not counted here: the service reads no GTFS feed" in en["notes"]
    assert ja["notes"][0] == "食料品店：地域データの資源まで道のりで 500 m 以内を徒歩圏としています"
    assert en["notes"][0] == ("Food store: the region's resources, within 500 m on the "
                              "network")
    mobile = {a["id"]: a["detail"] for a in ja["alternatives"]}["mobile_sales"]
    assert mobile == "1件：300 m 以内の停留所 2か所"  # its location and its one stop
    mobile = {a["id"]: a["detail"] for a in en["alternatives"]}["mobile_sales"]
    assert mobile == "1 resource: 2 stops within 300 m"


def test_gaps_bad_input_names_the_field(app_parts):  # noqa: F811
    client, _, _ = app_parts
    assert client.get("/gaps/nowhere").status_code == 404
    body = detail(client.get("/gaps/小学校区", params={"need": "カラオケ"}))
    assert body["field"] == "need" and body["value"] == "カラオケ"
    body = detail(client.get("/gaps/小学校区", params={"need": "meal_delivery"}))
    assert body["field"] == "need"
    assert detail(client.get("/gaps/小学校区", params={"threshold": 0}))["field"] == "threshold"


# ------------------------------------------------------------------------------ siting

def test_siting_is_staff_only(app_parts):  # noqa: F811
    client, _, _ = app_parts
    r = client.get("/siting", params={"need": "food_store", "k": 1})
    assert r.status_code == 401


def test_siting_known_by_hand(app_parts):  # noqa: F811
    """Candidates at (500, 500) and (0, 0): the first newly serves its 61-node diamond
    less the 6 nodes the store already serves (55), the second its 21 nodes less the 6
    it shares with the first (15)."""
    client, store, admin = app_parts
    _facility(store, "公民館 中央", 500, 500)
    _facility(store, "集会所 南西", 0, 0)
    r = client.get("/siting", headers=admin, params={
        "need": "food_store", "k": 2, "candidates": "registry:public_facility"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["name"] for s in body["sites"]] == ["公民館 中央", "集会所 南西"]
    assert [s["order"] for s in body["sites"]] == [1, 2]
    assert [s["new_65plus"] for s in body["sites"]] == [55, 15]
    assert [s["cumulative_new_65plus"] for s in body["sites"]] == [55, 70]
    assert body["share_before"] == round(21 / 121, 4)
    assert body["share_after"] == round(91 / 121, 4)
    assert [p["covered_new_65plus"] for p in body["curve"]] == [55, 70]
    assert body["optimal"] and body["n_candidates"] == 2
    lon, lat = lonlat(500, 500)
    assert body["sites"][0]["lon"] == pytest.approx(lon) and body["sites"][0]["lat"] == (
        pytest.approx(lat))


def test_siting_equals_the_core_on_a_grid_of_candidates(app_parts):  # noqa: F811
    client, _, admin = app_parts
    r = client.get("/siting", headers=admin, params={"need": "food_store", "k": 3,
                                                     "candidates": "grid:250"})
    assert r.status_code == 200, r.text
    body = r.json()
    walking = client.app.state.geo.walking
    region = walking.region
    cands = siting_core.grid_candidates(walking.net, 250)
    existing = region.attach(region.resources["food_stores"], source="stores")
    problem = siting_core.SitingProblem.from_network(
        walking.net, region.demand_attachment, region.demand["pop_65plus"].to_numpy(float),
        cands, threshold_m=500, existing=existing)
    core = problem.maximal_covering(3, curve=True)
    assert body["n_candidates"] == len(cands)
    assert [s["id"] for s in body["sites"]] == [str(cands.ids[c]) for c in core.chosen]
    assert [s["new_65plus"] for s in body["sites"]] == pytest.approx(list(core.gains))
    assert body["covered_new"] == pytest.approx(core.covered_new)
    assert [p["covered_new_65plus"] for p in body["curve"]] == pytest.approx(
        [p.covered_new for p in core.curve])


def test_siting_bounds_and_bad_input(app_parts):  # noqa: F811
    client, store, admin = app_parts
    _facility(store, "公民館", 500, 500)
    params = {"need": "food_store", "k": 3, "candidates": "registry:public_facility"}
    body = detail(client.get("/siting", headers={**admin, "Accept-Language": "en"},
                             params=params))
    assert body["field"] == "k" and body["value"] == 3 and "1 candidate site;" in body["reason"]
    body = detail(client.get("/siting", headers=admin, params=params))  # Japanese by default
    assert body["reason"] == ("拠点の数 3 が候補地の数 1 を超えています。候補地を増やすか、"
                              "拠点の数を減らしてください")
    assert detail(client.get("/siting", headers=admin, params={
        "need": "food_store", "k": 21}))["field"] == "k"
    body = detail(client.get("/siting", headers=admin, params={
        "need": "food_store", "candidates": "grid:10"}))
    assert body["field"] == "candidates" and body["value"] == "grid:10"
    body = detail(client.get("/siting", headers=admin, params={
        "need": "food_store", "candidates": "registry:salon"}))
    assert body["field"] == "candidates" and "候補地がありません" in body["reason"]
    assert detail(client.get("/siting", headers=admin, params={
        "need": "meal_delivery"}))["field"] == "need"
    set_cover = client.get("/siting", headers=admin, params={
        "need": "food_store", "candidates": "registry:public_facility", "target_share": 0.99})
    assert set_cover.status_code == 200
    assert set_cover.json()["feasible"] is False and set_cover.json()["mode"] == "set_covering"


# ------------------------------------------------------------------------------ scenarios

def test_scenario_create_get_delete_and_the_baseline_stays(app_parts, tmp_path):  # noqa: F811
    client, _, admin = app_parts
    listing = client.get("/scenarios").json()
    assert listing["scenarios"] == []
    assert [s["id"] for s in listing["stores"]] == ["F1"]
    difficulty_before = client.get("/difficulty/elementary").json()
    body = {"name": "角の店閉店", "description": "閉店の影響",
            "changes": [{"kind": "close_store", "store": "F1"}]}
    assert client.post("/scenarios", json=body).status_code == 401
    r = client.post("/scenarios", json=body, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    rows = {a["area_id"]: a for a in made["areas"]}
    assert {k: rows[k]["beyond_65plus_before"] for k in rows} == {"W": 33, "M": 49, "E": 18}
    assert {k: rows[k]["beyond_65plus_after"] for k in rows} == {"W": 33, "M": 55, "E": 33}
    assert {k: rows[k]["beyond_65plus_change"] for k in rows} == {"W": 0, "M": 6, "E": 15}
    assert rows["E"]["beyond_share_change_pt"] == pytest.approx(100 * 15 / 33, abs=1e-3)
    assert made["before"]["beyond_65plus"] == 100 and made["after"]["beyond_65plus"] == 121
    assert [s["id"] for s in made["closed"]] == ["F1"]
    saved = tmp_path / "scenarios" / client.app.state.geo.walking.region.key / "角の店閉店.json"
    assert json.loads(saved.read_text(encoding="utf-8"))["changes"] == body["changes"]
    # listed, shown again (the same numbers), publicly readable
    assert [s["name"] for s in client.get("/scenarios").json()["scenarios"]] == ["角の店閉店"]
    shown = client.get("/scenarios/角の店閉店").json()
    assert shown["areas"] == made["areas"]
    assert client.post("/scenarios", json=body, headers=admin).status_code == 409
    # the baseline is not modified: the region still has its store, /difficulty the same
    region = client.app.state.geo.walking.region
    assert list(region.resources["food_stores"]["store_id"]) == ["F1"]
    assert client.get("/difficulty/elementary").json() == difficulty_before
    again = client.get("/scenarios").json()["stores"]
    assert [s["id"] for s in again] == ["F1"]
    # deleted: staff only, then gone
    assert client.delete("/scenarios/角の店閉店").status_code == 401
    assert client.delete("/scenarios/角の店閉店", headers=admin).status_code == 204
    assert client.get("/scenarios/角の店閉店").status_code == 404
    assert client.delete("/scenarios/角の店閉店", headers=admin).status_code == 404
    assert not saved.exists()


def test_the_public_sees_file_names_not_server_paths(app_parts, tmp_path):  # noqa: F811
    """A scenario made with the CLI names files on the server (a projection CSV, a GTFS
    feed); anyone may list the scenarios, so the listing shows the files' names only."""
    from geo_service.planning.scenarios import Scenario, save_scenario

    client, _, _ = app_parts
    folder = tmp_path / "scenarios" / client.app.state.geo.walking.region.key
    save_scenario(Scenario.from_dict({"name": "将来", "changes": [
        {"kind": "projection", "file": "/srv/geo/secret/projection_2040.csv", "year": 2040},
        {"kind": "cut_route", "feed": "/srv/geo/secret/gtfs_route3.zip"}]}), folder)
    listing = client.get("/scenarios")
    assert listing.status_code == 200
    assert "/srv/geo/secret" not in listing.text
    changes = listing.json()["scenarios"][0]["changes"]
    assert [c.get("file") or c.get("feed") for c in changes] == ["projection_2040.csv",
                                                                  "gtfs_route3.zip"]


def test_scenario_adding_a_store_and_bad_input(app_parts):  # noqa: F811
    client, _, admin = app_parts
    lon, lat = lonlat(50, 0)  # on a street, 50 m from a node: no walk ends at exactly 500 m
    r = client.post("/scenarios", headers=admin, json={"name": "南西に新店", "changes": [
        {"kind": "add_store", "id": "N1", "name": "新しい店", "lon": lon, "lat": lat,
         "category": "supermarket"}]})
    assert r.status_code == 201, r.text
    rows = {a["area_id"]: a for a in r.json()["areas"]}
    # the new store serves (0, j ≤ 4) and i + j ≤ 5 for i ≥ 1: 5 + 5 + 4 in W, 3 + 2 + 1 in M
    assert rows["W"]["beyond_65plus_change"] == -14 and rows["M"]["beyond_65plus_change"] == -6
    assert rows["E"]["beyond_65plus_change"] == 0
    assert [s["id"] for s in r.json()["added"]] == ["N1"]
    folder = client.app.state.geo.settings.data_dir / "scenarios"
    before = sorted(p.name for p in folder.rglob("*.json"))
    unknown = detail(client.post("/scenarios", headers=admin, json={
        "name": "x", "changes": [{"kind": "close_store", "store": "NOPE"},
                                 {"kind": "close_store", "store": "F1"}]}))
    assert unknown["field"] == "store" and unknown["value"] == "NOPE"
    files = detail(client.post("/scenarios", headers=admin, json={
        "name": "y", "changes": [{"kind": "projection", "file": "/etc/passwd", "year": 2035}]}))
    assert files["field"].startswith("changes.0")
    bad_name = detail(client.post("/scenarios", headers=admin, json={
        "name": "<img src=x onerror=alert(1)>", "changes": [{"kind": "threshold",
                                                             "metres": 400}]}))
    assert bad_name["field"] == "name"
    far = detail(client.post("/scenarios", headers=admin, json={
        "name": "遠い", "changes": [{"kind": "add_stop", "id": "S", "lon": lon + 1,
                                     "lat": lat}]}))
    assert far["field"] == "changes.0.lon/lat" and far["value"] == f"{lon + 1}, {lat}"
    assert "add_stop S" in far["reason"]
    assert detail(client.post("/scenarios", headers=admin, json={"name": "z",
                                                                 "changes": []}))
    assert sorted(p.name for p in folder.rglob("*.json")) == before  # nothing half-written
    assert client.get("/scenarios/none-such").status_code == 404
    assert client.get("/scenarios/角の店閉店", params={"layer": "nowhere"}).status_code == 404


def test_scenario_threshold_change_known_by_hand(app_parts):  # noqa: F811
    client, _, admin = app_parts
    r = client.post("/scenarios", headers=admin, json={
        "name": "閾値1000m", "changes": [{"kind": "threshold", "metres": 1000}]})
    assert r.status_code == 201, r.text
    # within 1000 m of (10, 10): a + b ≤ 10 → 66 nodes; beyond 55
    assert r.json()["after"]["beyond_65plus"] == 55
    assert np.isclose(r.json()["threshold_m_after"], 1000)


def test_scenario_walking_speed_below_any_walker_is_422(app_parts):  # noqa: F811
    """Issue 16, item 14 (found by the schemathesis run): a speed of 5e-324 m/s made every
    walk infinitely long and the scenario a 500; the document bounds the speed."""
    client, _, admin = app_parts
    for mps in (5e-324, 0.09):
        problem = detail(client.post("/scenarios", headers=admin, json={
            "name": "遅い", "changes": [{"kind": "speed", "mps": mps}]}))
        assert problem["field"] == "changes.0.mps", problem
    r = client.post("/scenarios", headers=admin, json={
        "name": "ゆっくり", "changes": [{"kind": "speed", "mps": 0.1}]})
    assert r.status_code == 201, r.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Change"]
    assert schema["properties"]["mps"]["anyOf"][0]["minimum"] == 0.1
