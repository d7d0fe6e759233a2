"""The region's own basemap per zoom (geo_service/engine/basemap.py) on the hand-made grid.

The grid (tests/utils/grid.py): 11 × 11 streets 100 m apart, 220 edges, 22 km of street;
its 小学校区 are three strips whose boundaries run 4.4 km round and twice 1.1 km inside.
Known by hand: joined between junctions, the edges make 216 lines (the four corners join
two edges each), the outlines 6 (the outer ring in 4 arcs between the inner boundaries);
the streets enclose 10 × 10 = 100 blocks as long as vertices closer than 6 px are not
merged across a street (zoom 13: 6 px ≈ 95 m < 100 m); at zoom 12 (190 m) blocks merge
and fewer lines are left.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from geo_service.engine.basemap import MAX_ZOOM, MIN_ZOOM, Basemap, metres_per_pixel
from tests.utils.grid import grid_region, lonlat

CRS = "EPSG:6670"


@pytest.fixture(scope="module")
def region():
    return grid_region()


@pytest.fixture(scope="module")
def basemap(region):
    return Basemap.of_region(region.net, region.areas, None)


def _metric(geoms):
    import geopandas as gpd

    return gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(CRS).to_numpy()


def _of(layer, kind):
    return layer.geoms[layer.kinds == kind]


def test_metres_per_pixel_of_web_maps():
    assert metres_per_pixel(0, 0) == pytest.approx(156_543.03, abs=0.01)
    assert metres_per_pixel(13, 33.8) == pytest.approx(156_543.03 * np.cos(np.radians(33.8))
                                                      / 8192)


def test_full_detail_streets_are_the_networks_joined_between_junctions(basemap):
    layer = basemap.layer(17)
    streets = _of(layer, "street")
    assert len(streets) == 216
    assert shapely.length(_metric(streets)).sum() == pytest.approx(22_000, rel=1e-3)
    # outlines: the outer ring cut where the two inner boundaries meet it (4 arcs) and the
    # two inner boundaries
    assert layer.counts() == {"water": 0, "outline": 6, "street": 216, "rail": 0}


def test_outlines_draw_shared_boundaries_once(basemap):
    outlines = _metric(_of(basemap.layer(15), "outline"))
    assert shapely.length(outlines).sum() == pytest.approx(4400 + 2 * 1100, rel=1e-3)


@pytest.mark.parametrize("zoom", range(13, MAX_ZOOM + 1))
def test_blocks_survive_while_a_cell_is_smaller_than_a_block(basemap, zoom):
    streets = _of(basemap.layer(zoom), "street")
    assert len(shapely.get_parts(shapely.polygonize(streets))) == 100
    # one connected street network
    assert len(shapely.get_parts(shapely.union_all(shapely.buffer(streets, 1e-6)))) == 1


def test_low_zooms_fold_streets_together(basemap):
    counts = [basemap.layer(z).counts()["street"] for z in range(MIN_ZOOM, MAX_ZOOM + 1)]
    assert counts == sorted(counts)  # never more at a lower zoom
    low = _of(basemap.layer(12), "street")
    assert len(low) < 216
    assert len(shapely.get_parts(shapely.polygonize(low))) < 100
    assert len(shapely.get_parts(shapely.union_all(shapely.buffer(low, 1e-6)))) == 1
    assert basemap.layer(3) is basemap.layer(MIN_ZOOM)  # lower zooms share the lowest copy
    assert basemap.layer(19.5) is basemap.layer(MAX_ZOOM)


def test_bbox_returns_exactly_the_features_meeting_it(basemap):
    layer = basemap.layer(16)
    west, south = lonlat(-10, -10)
    east, north = lonlat(150, 150)  # the south-west corner: two streets each way
    rows = layer.select((west, south, east, north))
    box = shapely.box(west, south, east, north)
    expected = np.flatnonzero(shapely.intersects(layer.geoms, box))
    assert rows.tolist() == expected.tolist()
    assert 0 < len(rows) < len(layer.geoms) / 4
    assert len(layer.select((131.5, 34.5, 131.6, 34.6))) == 0  # elsewhere: nothing


def test_geojson_carries_the_kind_only(basemap, region):
    layer = basemap.layer(14)
    data = json.loads(layer.geojson())
    assert data["type"] == "FeatureCollection" and data["zoom"] == 14
    # the outlines one by one, then the 216 streets 50 to a MultiLineString
    assert [f["properties"]["kind"] for f in data["features"]] == ["outline"] * 6 + [
        "street"] * 5
    streets = [f["geometry"] for f in data["features"][6:]]
    assert {g["type"] for g in streets} == {"MultiLineString"}
    assert [len(g["coordinates"]) for g in streets] == [50, 50, 50, 50, 16]
    assert {tuple(f["properties"]) for f in data["features"]} == {("kind",)}
    text = layer.geojson()
    for name in [*region.areas[0].names, "角の店"]:
        assert name not in text  # no area names or stores: a background only
    lon, lat = data["features"][-1]["geometry"]["coordinates"][0][0]
    assert abs(lon - 130.80) < 0.02 and abs(lat - 33.80) < 0.02
    assert len(str(lon).split(".")[1]) <= 5  # ~1 m at zoom 14


def test_embedded_copy_keeps_within_its_vertex_budget(basemap):
    fine = basemap.embedded(10_000)
    assert fine.zoom == basemap.fit_zoom(2048) and fine.zoom >= 15
    small = basemap.embedded(200)
    vertices = shapely.get_num_coordinates(small.geoms).sum()
    assert small.zoom < fine.zoom and (vertices <= 200 or small.zoom == MIN_ZOOM)


def test_a_region_without_area_layers_still_has_streets(region):
    layer = Basemap.of_region(region.net, [], None).layer(16)
    assert layer.counts()["outline"] == 0 and layer.counts()["street"] == 216


def test_streets_lie_where_the_network_is(basemap):
    vertices = shapely.points(shapely.get_coordinates(_of(basemap.layer(17), "street")))
    for x, y in [(0, 0), (1000, 0), (500, 500), (0, 1000), (1000, 1000)]:
        node = shapely.Point(*lonlat(x, y))
        assert shapely.distance(vertices, node).min() < 2e-6, (x, y)  # ~0.2 m: rounding


def test_warm_builds_every_zoom_once(region):
    basemap = Basemap.of_region(region.net, region.areas, None)
    first = basemap.layer(14)
    basemap.warm()
    assert sorted(basemap._layers) == list(range(MIN_ZOOM, MAX_ZOOM + 1))
    assert basemap.layer(14) is first  # kept, not built again


def test_a_straight_edged_network_makes_no_edge_linestrings():
    region = grid_region()  # straight edges, as the PBF reader gives them
    assert region.net.straight_edges
    layer = Basemap(region.net).layer(16)
    assert layer.counts()["street"] == 216
    assert "edge_geometry" not in vars(region.net)  # streets straight from the node arrays
