"""Indicators on a grid whose answers are known by hand, and their invariants."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service.engine.access import DistanceField, attach_points
from geo_service.indicators.difficulty import (
    area_indicators,
    grouped_weighted_quantile,
    point_indicators,
)
from geo_service.inputs.boundaries import AreaLayer
from tests.conftest import grid_network


def demand(xy, pop65, total=None):
    xy = np.asarray(xy, float)
    return gpd.GeoDataFrame({"point_id": [f"p{i}" for i in range(len(xy))],
                             "pop_total": total if total is not None else np.asarray(pop65) * 3,
                             "pop_65plus": pop65, "pop_75plus": np.nan},
                            geometry=shapely.points(xy), crs="EPSG:6670")


def run(net, stores_xy, demand_gdf, layers, threshold=500.0, car_rate=None):
    stores = gpd.GeoDataFrame({"store_id": [f"s{i}" for i in range(len(stores_xy))]},
                              geometry=shapely.points(np.asarray(stores_xy, float)),
                              crs="EPSG:6670")
    field = DistanceField(net, attach_points(net, np.asarray(stores_xy, float)))
    access = field.at(attach_points(net, shapely.get_coordinates(demand_gdf.geometry)))
    pts = point_indicators(demand_gdf, access, stores, threshold_m=threshold)
    return pts, area_indicators(pts, layers, stores, threshold_m=threshold, car_rate=car_rate)


def weighted_quantile(values, weights, q):
    """One group's weighted quantile."""
    return float(grouped_weighted_quantile(np.zeros(len(values), dtype=np.int64),
                                           np.asarray(values, float),
                                           np.asarray(weights, float), q, 1)[0])


def test_weighted_quantile():
    v, w = np.array([100.0, 300.0, 200.0]), np.array([1.0, 1.0, 2.0])
    assert weighted_quantile(v, w, 0.5) == 200.0
    assert weighted_quantile(v, w, 0.9) == 300.0
    assert np.isnan(weighted_quantile(np.array([1.0, np.inf]), np.array([1.0, 3.0]), 0.5))
    assert np.isnan(weighted_quantile(v, np.zeros(3), 0.5))


def test_indicators_by_hand():
    # 8 × 1 grid of 100 m edges along x; store at x = 0.
    net = grid_network(8, 1)
    west = AreaLayer("校区", gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["西", "東"]},
                     geometry=[shapely.box(-10, -50, 350, 50), shapely.box(350, -50, 800, 50)],
                     crs="EPSG:6670"))
    # Points 20 m north of the street at x = 100, 300, 450, 650 with 10, 20, 30, 40 people 65+.
    pts, areas = run(net, [(0, 0)], demand([(100, 20), (300, 20), (450, 20), (650, 20)],
                                           [10.0, 20.0, 30.0, 40.0]), [west], car_rate=0.4)
    np.testing.assert_allclose(pts["network_m"], [120, 320, 470, 670])
    np.testing.assert_allclose(pts["straight_m"], np.hypot([100, 300, 450, 650], 20))
    assert pts["beyond"].tolist() == [False, False, False, True]
    a = areas.set_index("area_id")
    assert a.loc["W", "pop_65plus"] == 30 and a.loc["W", "beyond_65plus"] == 0
    assert a.loc["E", "beyond_65plus"] == 40
    assert a.loc["E", "beyond_share"] == pytest.approx(40 / 70)
    assert a.loc["E", "beyond_65plus_straight"] == 40
    assert a.loc["E", "median_m"] == pytest.approx(670)  # 30 at 470, 40 at 670: half is 35
    assert a.loc["W", "median_m"] == pytest.approx(320)
    assert a.loc["E", "car_adjusted_65plus"] == pytest.approx(40 * 0.6)
    assert a.loc["W", "stores_in_area"] == 1 and a.loc["E", "stores_in_area"] == 0
    assert a.loc["E", "stores_near_area"] == 1  # the store is 350 m from the east area


def test_unreachable_counts_as_beyond_and_network_is_empty():
    net = grid_network(3, 2, island=True)
    layer = AreaLayer("all", gpd.GeoDataFrame({"area_id": ["A"], "name": ["a"]},
                      geometry=[shapely.box(-100, -100, 2000, 300)], crs="EPSG:6670"))
    pts, areas = run(net, [(0, 0)], demand([(10, 0), (1250, 5)], [5.0, 7.0]), [layer])
    assert pts["reachable"].tolist() == [True, False]
    assert np.isnan(pts["network_m"].iloc[1]) and pts["nearest_store_id"].iloc[1] == ""
    assert areas["beyond_65plus"].iloc[0] == 7
    assert np.isnan(areas["median_m"].iloc[0])  # the median person cannot reach a store


def test_area_with_no_elderly_has_empty_share():
    net = grid_network(3, 3)
    layer = AreaLayer("x", gpd.GeoDataFrame({"area_id": ["A", "B"], "name": ["a", "b"]},
                      geometry=[shapely.box(-10, -10, 90, 90), shapely.box(5000, 0, 5100, 100)],
                      crs="EPSG:6670"))
    _, areas = run(net, [(0, 0)], demand([(50, 0)], [0.0], total=[3.0]), [layer])
    assert areas["beyond_share"].isna().all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 730), st.floats(-30, 630), st.floats(0, 50)),
                min_size=1, max_size=30),
       st.lists(st.tuples(st.floats(0, 700), st.floats(0, 600)), min_size=1, max_size=5),
       st.floats(50, 1500))
def test_invariants(points, stores, threshold):
    net = grid_network(8, 7)
    xy = [(x, y) for x, y, _ in points]
    pop = [p for _, _, p in points]
    layer = AreaLayer("x", gpd.GeoDataFrame({"area_id": ["L", "R"], "name": ["l", "r"]},
                      geometry=[shapely.box(-100, -100, 350, 700),
                                shapely.box(350, -100, 800, 700)], crs="EPSG:6670"))
    pts, areas = run(net, stores, demand(xy, pop), [layer], threshold=threshold)
    # Straight-line distance never exceeds the walking distance.
    assert (pts["straight_m"] <= pts["network_m"] + 1e-6).all()
    # Beyond counts never exceed totals; areas add up to the whole.
    assert (areas["beyond_65plus"] <= areas["pop_65plus"] + 1e-9).all()
    assert (areas["beyond_65plus"] >= areas["beyond_65plus_straight"] - 1e-9).all()
    assert areas["pop_65plus"].sum() == pytest.approx(sum(pop))
    assert pd.Series(pts["walk_min"]).ge(0).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([1.0, 5.0, 9.0, np.inf]),
                          st.integers(0, 10).map(float)), min_size=1, max_size=40),
       st.sampled_from([0.1, 0.5, 0.9]))
def test_grouped_quantile_matches_per_group(rows, q):
    from geo_service.indicators.difficulty import grouped_weighted_quantile

    g = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    got = grouped_weighted_quantile(g, v, w, q, 4)
    for k in range(4):
        sel = g == k
        values, weights = v[sel], w[sel]
        if weights.sum() <= 0:
            assert np.isnan(got[k])
            continue
        order = np.argsort(values, kind="stable")
        cum = np.cumsum(weights[order])
        want = values[order][np.flatnonzero(cum >= q * weights.sum())[0]]
        assert (np.isnan(got[k]) and not np.isfinite(want)) or got[k] == want
