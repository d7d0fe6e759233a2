"""A region without food stores (食料品店): what can be shown is shown, and what is missing
is said plainly, in Japanese with English available.

The grid region (``tests/utils/grid.py``) without its one store: 小学校区 W (columns 0–2),
M (3–7), E (8–10) of an 11 × 11 grid with one person 65+ (two people) on every node, so
33, 55 and 33 people 65+ (66, 110, 66 people).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region

NOTE_JA = "この地域には食料品店のデータがありません（--stores で追加できます）"


def grid_without_stores():
    """The grid region with its food-store layer taken away."""
    region = grid_region()
    del region.resources["food_stores"]
    return region


@pytest.fixture
def client(tmp_path):
    store = open_store("sqlite://")
    return TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                                 secret_key="k" * 40),
                                 store=store, walking=WalkingService(grid_without_stores(),
                                                                     store)))


def test_difficulty_gives_the_areas_and_their_people_and_says_why_nothing_else(client):
    r = client.get("/difficulty/小学校区")
    assert r.status_code == 200, r.text  # was 404 in English
    body = r.json()
    assert (body["stores_source"], body["stores"], body["note"]) == ("none", 0, NOTE_JA)
    props = {f["properties"]["area_id"]: f["properties"] for f in body["features"]}
    assert {k: (p["pop_total"], p["pop_65plus"]) for k, p in props.items()} == \
        {"W": (66, 33), "M": (110, 55), "E": (66, 33)}
    for p in props.values():  # unknown: neither 0 % nor everyone beyond the walk
        assert p["beyond_share"] is None and p["beyond_65plus"] is None
        assert p["median_m"] is None and p["beyond_share_straight"] is None
        assert (p["stores_in_area"], p["stores_near_area"]) == (0, 0)
    assert all(f["geometry"]["type"] == "Polygon" for f in body["features"])
    en = client.get("/difficulty/小学校区", headers={"Accept-Language": "en"}).json()
    assert en["note"] == "the region has no food store (食料品店) data (add them with --stores)"


def test_the_karte_renders_without_its_shopping_section_and_says_why(client):
    r = client.get("/karte/小学校区/M")
    assert r.status_code == 200, r.text  # was 404
    html = r.text
    assert "地域カルテ：中小学校" in html
    assert f"{NOTE_JA}。買い物の数字は出せません。" in html
    assert "食料品店まで徒歩" not in html and "徒歩圏外の割合" not in html  # no empty numbers
    assert "<b>110</b>" in html and "<b>55</b>" in html  # 人口, 65歳以上
    assert "データの出典" in html
    assert client.get("/booklet/小学校区/M").status_code == 200


def test_with_its_store_the_grid_still_measures_the_walk(tmp_path):
    """The same areas with the store: the indicators are there and no note is given."""
    store = open_store("sqlite://")
    c = TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                              secret_key="k" * 40),
                              store=store, walking=WalkingService(grid_region(), store)))
    body = c.get("/difficulty/小学校区").json()
    assert (body["stores_source"], body["stores"], body["note"]) == ("region", 1, None)
    # W: every node of columns 0–2 is ≥ 800 m from the north-east corner → all 33 beyond
    w = next(f["properties"] for f in body["features"] if f["properties"]["area_id"] == "W")
    assert w["beyond_65plus"] == 33 and w["beyond_share"] == 1.0
    assert "買い物の数字は出せません" not in c.get("/karte/小学校区/E").text


def test_gaps_for_food_stores_and_scenarios_say_what_is_missing(client):
    for path, field in (("/gaps/小学校区?need=food_store", "need"), ("/scenarios", "layer")):
        r = client.get(path)
        assert r.status_code == 422, path
        assert r.json()["detail"]["problems"][0] == {
            "field": field, "value": "food_store" if field == "need" else "food_stores",
            "reason": NOTE_JA}
    assert client.get("/gaps/小学校区?need=food_store", headers={"Accept-Language": "en"}
                      ).json()["detail"]["reason"].startswith("the region has no food store")


def test_ui_config_names_the_destinations_the_region_has(tmp_path):
    """The planner opens on a destination the region has: /ui/config's region.needs."""
    from geo_service.registry.resources import ResourceFields
    from tests.utils.grid import lonlat

    def client_of(region, store):
        return TestClient(create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                                     secret_key="k" * 40),
                                     store=store, walking=WalkingService(region, store)))

    store = open_store("sqlite://")
    c = client_of(grid_without_stores(), store)
    assert c.get("/ui/config").json()["region"]["needs"] == []  # no stores, empty registry
    lon, lat = lonlat(500, 500)
    store.add(ResourceFields(name="中央公民館", category="public_facility", lon=lon, lat=lat))
    store.add(ResourceFields(name="職員のみのサロン", category="salon", lon=lon, lat=lat,
                             staff_fields=["location"]))
    # the staff-only salon is no destination a public page may open on
    assert c.get("/ui/config").json()["region"]["needs"] == ["public_facility"]
    with_stores = client_of(grid_region(), open_store("sqlite://"))
    assert with_stores.get("/ui/config").json()["region"]["needs"] == ["food_store"]
