"""The gap ranking on the 11 × 11 grid (tests/utils/grid.py), answers known by hand.

On the grid walking is Manhattan distance: the person on node (i, j) (x = 100 i, y = 100 j)
is 100 × ((10 − i) + (10 − j)) m from the only food store, on the north-east corner. With
the 500 m threshold the 21 people with i + j ≥ 15 are within walking range, the other 100
beyond it: 33 in 西 (columns 0–2), 49 in 中 (3–7), 18 in 東 (8–10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service._errors import InputError
from geo_service.inputs.gtfs import read_bus_stops
from geo_service.planning.gaps import (
    find_gaps,
    gap_table,
    public_transport_defaults,
    walk_thresholds,
)
from geo_service.registry.resources import ResourceFields, Schedule, Stop
from geo_service.registry.store.testing import fresh_store
from geo_service.service.walking import WalkingService
from tests.utils.grid import grid_region, lonlat, west_meal_delivery
from tests.utils.gtfs import weekday_feed as _feed

BEYOND = {"W": 33, "M": 49, "E": 18}


def _service(tmp_path) -> WalkingService:
    return WalkingService(grid_region(), fresh_store("sqlite", tmp_path))


def _by_area(result) -> pd.DataFrame:
    return result.table.set_index("area_id")


def test_beyond_the_walk_with_no_alternative(tmp_path):
    result = find_gaps(_service(tmp_path), "小学校区", "食料品店", alternatives=[])
    t = _by_area(result)
    assert result.threshold_m == 500 and result.need == "food_store"
    assert t["pop_65plus"].to_dict() == {"M": 55, "W": 33, "E": 33}
    assert t["beyond_65plus"].to_dict() == {"M": 49, "W": 33, "E": 18}
    assert (t["gap_65plus"] == t["beyond_65plus"]).all()
    # by count 中 (49) > 西 (33) > 東 (18); by share 西 (100 %) > 中 (89 %) > 東 (55 %)
    assert list(result.table["area_id"]) == ["M", "W", "E"]
    assert t["rank_count"].to_dict() == {"M": 1, "W": 2, "E": 3}
    assert t["rank_share"].to_dict() == {"M": 2, "W": 1, "E": 3}
    assert t.loc["E", "gap_share"] == pytest.approx(18 / 33)


def test_a_bus_stop_counts_with_enough_weekday_departures(tmp_path):
    """A stop on node (10, 2): the person on (10, 4) is 600 m from the store and 200 m from
    the stop. Within 300 m of the stop are the 15 nodes with |i − 10| + |j − 2| ≤ 3; one of
    them, (10, 5), is within 500 m of the store, so 14 people beyond the walk are covered:
    13 in 東 and (7, 2) in 中. With 20 departures every weekday the stop counts; with 2 it
    does not (the default minimum is 10)."""
    walking = _service(tmp_path)
    stops = read_bus_stops([_feed(tmp_path, {"S": lonlat(1000, 200)}, 20)])
    assert stops.set_index("stop_id").loc["S", "weekday_departures"] == 20
    result = find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=stops)
    t = _by_area(result)
    assert t["covered_bus"].to_dict() == {"M": 1, "W": 0, "E": 13}
    assert t["gap_65plus"].to_dict() == {"M": 48, "W": 33, "E": 5}
    covers = result.alternatives[0].covers
    person = int(np.flatnonzero(walking.region.demand["point_id"] == f"p{4 * 11 + 10}")[0])
    assert covers[person]
    # the trips' terminal lies 14 km east, off the grid: left out, and said so
    assert "1 of 1 stops with ≥ 10 departures every weekday" in result.alternatives[0].detail
    notes = " ".join(result.notes)
    assert "1 of 2 bus stops lie outside the region" in notes
    assert "gtfs: the regular week of its services, which run from 2026-01-01 to " \
           "2026-12-31" in notes
    sparse = read_bus_stops([_feed(tmp_path, {"S": lonlat(1000, 200)}, 2, name="sparse")])
    result = find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=sparse)
    assert _by_area(result)["covered_bus"].sum() == 0
    # the minimum and the walk are options
    result = find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=sparse,
                       min_departures=2, bus_threshold_m=100)
    # within 100 m: (10, 1), (10, 2), (10, 3), (9, 2), all beyond the walk, all in 東
    assert _by_area(result)["covered_bus"].to_dict() == {"M": 0, "W": 0, "E": 4}


def test_a_meal_delivery_polygon_and_a_mobile_sales_stop(tmp_path):
    """配食 with a polygon over columns 0–4 (55 people, all beyond the walk: 西 33, 中 22);
    a 移動販売 stop on (0, 0) reaches the 10 nodes with i + j ≤ 3 within 300 m (9 in 西 and
    (3, 0) in 中, all already covered by the 配食)."""
    walking = _service(tmp_path)
    walking.store.add(west_meal_delivery())
    lon, lat = lonlat(0, 0)
    walking.store.add(ResourceFields(
        name="移動スーパー", category="移動販売",
        schedule=Schedule(stops=[Stop(name="角", lon=lon, lat=lat, weekday="tue",
                                      time="10:00")])))
    walking.refresh()
    result = find_gaps(walking, "小学校区", "food_store")
    assert [a.id for a in result.alternatives] == ["meal_delivery", "home_delivery",
                                                   "mobile_sales"]
    assert "bus stops not counted" in " ".join(result.notes)
    t = _by_area(result)
    assert t["covered_meal_delivery"].to_dict() == {"M": 22, "W": 33, "E": 0}
    assert t["covered_mobile_sales"].to_dict() == {"M": 1, "W": 9, "E": 0}
    assert t["covered_any"].to_dict() == {"M": 22, "W": 33, "E": 0}
    assert t["gap_65plus"].to_dict() == {"M": 27, "W": 0, "E": 18}
    assert list(result.table["area_id"]) == ["M", "E", "W"]
    # a smaller catchment for the mobile-sales stop: (0, 0) and its two neighbours
    result = find_gaps(walking, "小学校区", alternatives=["mobile_sales"],
                       thresholds={"mobile_sales": 100})
    assert _by_area(result)["covered_mobile_sales"].to_dict() == {"M": 0, "W": 3, "E": 0}


def test_the_need_s_threshold_comes_from_the_layers(tmp_path):
    """A salon on (0, 0): 800 m (layers/) reaches the 45 nodes with i + j ≤ 8 — 西 24,
    中 20, 東 1 — so 76 people are beyond it; --threshold overrides."""
    assert walk_thresholds()["salon"] == 800 and walk_thresholds()["food_store"] == 500
    assert public_transport_defaults() == (300.0, 10)
    walking = _service(tmp_path)
    lon, lat = lonlat(0, 0)
    walking.store.add(ResourceFields(name="サロン", category="通いの場", lon=lon, lat=lat))
    walking.refresh()
    result = find_gaps(walking, "elementary", "salon")
    assert result.threshold_m == 800 and result.alternatives == []
    assert _by_area(result)["beyond_65plus"].to_dict() == {"M": 35, "W": 9, "E": 32}
    assert find_gaps(walking, "小学校区", "salon", threshold_m=100).table[
        "beyond_65plus"].sum() == 121 - 3


def test_bad_input(tmp_path):
    walking = _service(tmp_path)
    with pytest.raises(InputError, match="neither the registry nor the region has located"):
        find_gaps(walking, "小学校区", "salon")
    with pytest.raises(InputError, match="comes to people"):
        find_gaps(walking, "小学校区", "配食")
    with pytest.raises(InputError, match="unknown category"):
        find_gaps(walking, "小学校区", "宇宙旅行")
    with pytest.raises(LookupError, match="no area layer"):
        find_gaps(walking, "村", "food_store")
    with pytest.raises(InputError, match="needs a GTFS feed"):
        find_gaps(walking, "小学校区", alternatives=["bus"])
    with pytest.raises(InputError, match="an alternative is a service"):
        find_gaps(walking, "小学校区", alternatives=["食料品店"])
    with pytest.raises(InputError, match="positive number"):
        find_gaps(walking, "小学校区", threshold_m=0)


def test_bus_stops_outside_the_network(tmp_path):
    walking = _service(tmp_path)
    tokyo = read_bus_stops([_feed(tmp_path, {"T": (139.77, 35.68)}, 20)])
    with pytest.raises(InputError, match="none of the 2 bus stops lies within 1000 m"):
        find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=tokyo, source="t.zip")
    both = read_bus_stops([_feed(tmp_path, {"T": (139.77, 35.68),
                                            "S": lonlat(1000, 200)}, 20, name="both")])
    result = find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=both)
    assert "2 of 3 bus stops lie outside the region" in " ".join(result.notes)
    assert result.table["covered_bus"].sum() == 14


def test_gap_table_by_hand():
    """Three areas, one without people; a person outside every area counts nowhere."""
    demand_area = np.array([0, 0, 0, 1, 1, -1])
    pop = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 9.0])
    beyond = np.array([True, True, False, True, True, True])
    t = gap_table(["a", "b", "c"], ["A", "B", "C"], demand_area, pop, beyond,
                  {"x": np.array([True, False, False, False, True, True]),
                   "y": np.array([True, False, True, False, False, True])})
    assert list(t["area_id"]) == ["b", "a", "c"]
    t = t.set_index("area_id")
    assert t["beyond_65plus"].to_dict() == {"b": 4, "a": 3, "c": 0}
    assert t["covered_x"].to_dict() == {"b": 0, "a": 1, "c": 0}
    assert t["covered_y"].to_dict() == {"b": 0, "a": 1, "c": 0}
    assert t["covered_any"].to_dict() == {"b": 0, "a": 1, "c": 0}
    assert t["gap_65plus"].to_dict() == {"b": 4, "a": 2, "c": 0}
    assert t.loc["b", "gap_share"] == 1 and t.loc["a", "gap_share"] == pytest.approx(1 / 3)
    assert np.isnan(t.loc["c", "gap_share"])
    assert t["rank_count"].to_dict() == {"b": 1, "a": 2, "c": 3}
    assert t["rank_share"].to_dict() == {"b": 1, "a": 2, "c": 3}


def test_departures_on_a_date(tmp_path):
    """The feed's weekday service runs in 2026: on a Wednesday of 2026 the stop on (10, 2)
    counts, on a Wednesday of 2027 (after the calendar's end) and on a Sunday it does not."""
    from datetime import date

    walking = _service(tmp_path)
    feed = _feed(tmp_path, {"S": lonlat(1000, 200)}, 20)
    for day, covered in ((date(2026, 6, 3), 14), (date(2027, 6, 2), 0),
                         (date(2026, 6, 7), 0)):
        stops = read_bus_stops([feed], on=day)
        result = find_gaps(walking, "小学校区", alternatives=["bus"], bus_stops=stops, on=day)
        assert result.table["covered_bus"].sum() == covered, day
        assert f"on {day.isoformat()}" in result.alternatives[0].detail
    with pytest.raises(InputError, match="no 'departures_on_date' column"):
        find_gaps(walking, "小学校区", alternatives=["bus"],
                  bus_stops=read_bus_stops([feed]), on=date(2026, 6, 3))


@settings(deadline=None, max_examples=60)  # pandas' first calls are slow on a busy machine
@given(st.data())
def test_gap_table_invariants(data):
    """Per area: gap + covered by any = beyond ≤ people 65+; every alternative covers at
    most those covered by any; one more alternative never widens a gap; the totals are
    the people in some area."""
    n = data.draw(st.integers(1, 40))
    n_areas = data.draw(st.integers(1, 5))
    demand_area = np.array(data.draw(st.lists(st.integers(-1, n_areas - 1), min_size=n,
                                              max_size=n)))
    pop = np.array(data.draw(st.lists(st.floats(0, 50), min_size=n, max_size=n)))
    masks = [np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
             for _ in range(3)]
    beyond, x, y = masks
    ids = [f"a{k}" for k in range(n_areas)]
    one = gap_table(ids, ids, demand_area, pop, beyond, {"x": x}).set_index("area_id")
    two = gap_table(ids, ids, demand_area, pop, beyond, {"x": x, "y": y}).set_index("area_id")
    for t in (one, two):
        assert np.allclose(t["gap_65plus"] + t["covered_any"], t["beyond_65plus"])
        assert (t["beyond_65plus"] <= t["pop_65plus"] + 1e-9).all()
        assert (t["covered_x"] <= t["covered_any"] + 1e-9).all()
        assert t["pop_65plus"].sum() == pytest.approx(pop[demand_area >= 0].sum())
        assert sorted(t["rank_count"]) == sorted(t["gap_65plus"].rank(
            ascending=False, method="min").astype(int))
    assert (two.loc[ids, "gap_65plus"] <= one.loc[ids, "gap_65plus"] + 1e-9).all()
