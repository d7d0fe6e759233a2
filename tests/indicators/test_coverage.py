"""Per-area coverage and isochrone polygons, as pure functions, on answers known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service.engine.access import DistanceField, attach_points, isochrone_polygon
from geo_service.indicators.coverage import area_coverage, population_within

LABELS = {"salon": "サロン", "food_store": "食料品店", "meal_delivery": "配食",
          "watching": "見守り"}


def two_areas(**overrides):
    """Areas A and B; four people's points (A, A, B, none) with 1, 2, 3, 4 people 65+."""
    args = dict(
        demand_area=np.array([0, 0, 1, -1]),
        pop_65plus=np.array([1.0, 2.0, 3.0, 4.0]),
        located_area=np.array([0, 1, 1]),
        located=[("r1", "salon"), ("r2", "food_store"), ("r2", "food_store")],
        covering=[[("s1", "meal_delivery")], []],
        within_walk={"salon": np.array([True, False, True, True]),
                     "food_store": np.array([True, True, False, False])},
        labels=LABELS)
    args.update(overrides)
    return area_coverage(["A", "B"], ["甲", "乙"], [shapely.box(0, 0, 1, 1),
                                                  shapely.box(1, 0, 2, 1)], **args)


def test_area_coverage_by_hand():
    a, b = two_areas()
    assert (a["area_id"], a["name"], a["pop_65plus"]) == ("A", "甲", 3.0)
    assert a["geometry"].equals(shapely.box(0, 0, 1, 1))
    assert a["categories"] == {
        "salon": {"label": "サロン", "located": ["r1"], "covering": [],
                  "share_65plus_within_walk": pytest.approx(1 / 3)},
        "food_store": {"label": "食料品店", "located": [], "covering": [],
                       "share_65plus_within_walk": 1.0},
        "meal_delivery": {"label": "配食", "located": [], "covering": ["s1"],
                          "share_65plus_within_walk": None},
    }
    # a mobile route's two stops in one area count once; no one 65+ beyond any category
    assert b["pop_65plus"] == 3.0
    assert b["categories"]["food_store"]["located"] == ["r2"]
    assert b["categories"]["food_store"]["share_65plus_within_walk"] == 0.0
    assert b["categories"]["salon"]["share_65plus_within_walk"] == 1.0
    assert "meal_delivery" not in b["categories"] and "watching" not in a["categories"]
    assert list(a["categories"]) == ["salon", "food_store", "meal_delivery"]  # label order


def test_area_coverage_of_one_area_and_of_an_empty_area():
    (only,) = two_areas(only="B")
    assert only["area_id"] == "B"
    a, _ = two_areas(pop_65plus=np.array([0.0, 0.0, 3.0, 4.0]))
    assert a["pop_65plus"] == 0.0
    assert a["categories"]["salon"]["share_65plus_within_walk"] is None  # no one to share


def test_isochrone_polygon_on_a_grid(grid):
    """From a place at node (0, 0), at 1 m/s: within 2 minutes lie the two 100 m streets
    leaving it (both ends ≤ 120 s), buffered by 40 m; (1, 1) is 200 s away."""
    field = DistanceField(grid, attach_points(grid, np.array([[0.0, 0.0]])))
    shape = isochrone_polygon(grid, field.node_seconds, 2)
    assert shape.contains(shapely.Point(50, 0)) and shape.contains(shapely.Point(0, 90))
    assert shape.contains(shapely.Point(50, 35)) and not shape.contains(shapely.Point(50, 45))
    assert not shape.intersects(shapely.Point(150, 0))  # 50 m past the street's end
    assert not shape.intersects(shapely.Point(100, 100))
    assert isochrone_polygon(grid, field.node_seconds, 0.5).is_empty  # no whole street
    assert isochrone_polygon(grid, field.node_seconds, 4).contains(shapely.Point(100, 100))


def test_population_within_a_band():
    seconds = np.array([0.0, 300.0, 300.0 + 1e-9, np.inf])
    weights = np.array([1.0, 2.0, 4.0, 8.0])
    assert population_within(seconds, weights, 5) == 3.0
    assert population_within(seconds, weights, 5, tolerance_s=1e-6) == 7.0
    assert population_within(seconds, weights, 600) == 7.0  # never the unreachable
