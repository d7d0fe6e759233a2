"""The folium maps carry the region's own map, so that they are never a grey box where
tiles cannot load: the 買い物環境マップ (map.html) and a scenario's difference map.

Before, map.html drew the walking network only up to 20,000 edges and the difference map
no streets at all; a town of 40,000 edges was markers on grey with tiles blocked.
"""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import shapely

from geo_service.engine.basemap import STREETS_PER_FEATURE, Basemap
from geo_service.engine.network import WalkNetwork
from geo_service.engine.region import Region
from geo_service.layers import load_map_style, load_resource_layer
from geo_service.reports.maps import EMBED_MAX_VERTICES, difficulty_map
from tests.utils.grid import grid_region

STREET = re.compile(r'"kind": "street"')
COORD = re.compile(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]")


def _all_lines_in(page: str, layer) -> bool:
    """Whether every street line of ``layer`` is in the page (its first vertex is)."""
    found = {(float(x), float(y)) for x, y in COORD.findall(page)}
    streets = layer.geoms[layer.kinds == "street"]
    return all(tuple(map(float, shapely.get_coordinates(g)[0])) in found for g in streets)


def _features(layer) -> int:
    """The street features of ``layer`` in a page: its lines, 50 to a MultiLineString."""
    return math.ceil(layer.counts()["street"] / STREETS_PER_FEATURE)


def test_the_demo_map_embeds_the_regions_streets_and_outlines(tmp_path):
    from geo_service.jobs.demo import run_demo

    run_demo(tmp_path / "out")
    page = (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    region = Region.load(tmp_path / "out" / "region")
    layer = Basemap.of_region(region.net, region.areas, None).embedded(EMBED_MAX_VERTICES)
    assert layer.counts()["street"] > 400  # the demo town's streets at full detail
    assert len(STREET.findall(page)) == _features(layer)
    assert _all_lines_in(page, layer)
    assert page.count('"kind": "outline"') == layer.counts()["outline"] > 0
    assert "gs-basemap-street" in page  # the class the browser test counts
    name = "地域の簡易地図（道路・川・鉄道）".encode("unicode_escape").decode()
    assert name in page or "地域の簡易地図（道路・川・鉄道）" in page


def _big_grid(n: int = 150) -> WalkNetwork:
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="xy")
    xy = np.column_stack([-60_000 + ii.ravel() * 25.0, 90_000 + jj.ravel() * 25.0])
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return WalkNetwork.from_edges(np.arange(n * n), xy, u, v, None, crs="EPSG:6670")


def test_a_large_network_is_embedded_generalised_within_budget():
    net = _big_grid()
    assert net.n_edges == 44_700  # more than the 20,000 the map drew before
    layer = Basemap(net).embedded(EMBED_MAX_VERTICES)
    assert shapely.get_num_coordinates(layer.geoms).sum() <= EMBED_MAX_VERTICES
    assert layer.counts()["street"] > 1000
    corner = shapely.box(*gpd.GeoSeries(shapely.points(net.node_xy), crs=net.crs)
                         .to_crs(4326).total_bounds)
    assert shapely.covers(corner.buffer(1e-4), shapely.union_all(layer.geoms))
    region = grid_region()  # any areas and stores: the streets are the test's
    areas = region.areas[0].areas.assign(
        layer="小学校区", beyond_share=0.1, pop_65plus=10.0, beyond_65plus=1.0,
        beyond_65plus_straight=1.0, beyond_share_straight=0.1, median_m=300.0, p90_m=600.0,
        stores_in_area=1)
    page = difficulty_map(areas, region.resources["food_stores"].assign(category="supermarket"),
                          load_resource_layer("food_stores"), load_map_style("difficulty"),
                          threshold_m=500, basemap=layer, tiles=False).get_root().render()
    assert len(STREET.findall(page)) == _features(layer)
    assert _all_lines_in(page, layer)
    assert len(page.encode()) < 3_000_000


def test_the_difference_map_draws_the_regions_streets():
    from geo_service.planning.scenarios import Baseline, Scenario, apply_scenario
    from geo_service.reports.scenario_map import difference_map

    region = grid_region()
    layer = load_resource_layer("food_stores")
    base = Baseline.compute(region, layer=layer)
    result = apply_scenario(base, Scenario("閉店", [{"kind": "close_store", "store": "F1"}]))
    page = difference_map(result).get_root().render()
    layer = Basemap.of_region(region.net, region.areas, None).embedded(EMBED_MAX_VERTICES)
    assert layer.counts()["street"] == 216  # the grid's streets joined between junctions
    assert len(STREET.findall(page)) == _features(layer) and _all_lines_in(page, layer)
    assert "gs-basemap-street" in page
