"""Demand points: counts, apportioning (conservation), e-Stat tables, meshes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service._errors import DuplicateIdError, InputError, PopulationError
from geo_service.engine.population import (
    apportion_to_network,
    load_population,
    read_estat_small_areas,
    read_mesh_table,
)
from tests.conftest import grid_network, shared_file


def polygons(counts: list[tuple[float, float]], boxes: list[tuple[float, ...]]):
    return gpd.GeoDataFrame(
        {"area_key": [f"A{i}" for i in range(len(boxes))],
         "pop_total": [c[0] for c in counts], "pop_65plus": [c[1] for c in counts],
         "pop_75plus": np.nan},
        geometry=[shapely.box(*b) for b in boxes], crs="EPSG:6670")


def test_apportion_preserves_each_polygon_total():
    net = grid_network(6, 5)
    polys = polygons([(1000, 300), (55.5, 20.25), (7, 7)],
                     [(-10, -10, 210, 410), (210, 0, 510, 410), (600, 600, 700, 700)])
    pts = apportion_to_network(polys, net, spacing_m=40)
    sums = pts.groupby("source_area")[["pop_total", "pop_65plus"]].sum()
    assert sums.loc["A0", "pop_total"] == pytest.approx(1000, rel=1e-12)
    assert sums.loc["A1", "pop_65plus"] == pytest.approx(20.25, rel=1e-12)
    # A polygon with no street inside keeps its people at one representative point.
    assert (pts["source_area"] == "A2").sum() == 1
    assert sums.loc["A2", "pop_65plus"] == pytest.approx(7)
    # Points of a polygon lie inside it, on its streets.
    inside = pts[pts["source_area"] == "A0"]
    assert inside.within(polys.geometry.iloc[0]).all()
    assert pts["point_id"].is_unique


def test_apportion_weights_by_street_length():
    net = grid_network(3, 1)  # two 100 m edges on one line
    polys = polygons([(300, 90)], [(-1, -1, 150, 1)])  # holds 150 m of street
    pts = apportion_to_network(polys, net, spacing_m=50)
    assert len(pts) == 3
    np.testing.assert_allclose(pts["pop_total"], [100, 100, 100])


def test_apportion_to_buildings_by_footprint():
    net = grid_network(3, 3)
    polys = polygons([(30, 9)], [(0, 0, 200, 200)])
    buildings = gpd.GeoDataFrame(
        geometry=[shapely.box(10, 10, 20, 20), shapely.box(50, 50, 70, 70)], crs="EPSG:6670")
    pts = apportion_to_network(polys, net, buildings=buildings)
    np.testing.assert_allclose(sorted(pts["pop_total"]), [6, 24])  # areas 100 : 400


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 1)), min_size=1, max_size=4),
       st.floats(10, 200))
def test_apportion_conservation_property(counts, spacing):
    net = grid_network(5, 5)
    boxes = [(i * 100 - 10, -10, i * 100 + 90, 410) for i in range(len(counts))]
    polys = polygons([(t, t * s) for t, s in counts], boxes)
    pts = apportion_to_network(polys, net, spacing_m=spacing)
    got = pts.groupby("source_area")["pop_total"].sum().reindex(polys["area_key"]).fillna(0)
    np.testing.assert_allclose(got.to_numpy(), polys["pop_total"].to_numpy(), rtol=1e-9,
                               atol=1e-9)
    assert (pts["pop_65plus"] <= pts["pop_total"] + 1e-9).all()


def test_points_file_with_japanese_columns(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("ID,緯度,経度,人口総数,65歳以上人口\na,33.9,130.9,10,4\nb,33.901,130.9,5,5\n",
                    encoding="cp932")
    net = grid_network(3, 3, origin=(-35000, 100000))  # unused for points except CRS
    pts = load_population([path], net)
    assert pts["point_id"].tolist() == ["a", "b"]
    assert pts["pop_65plus"].tolist() == [4, 5] and pts.crs == net.crs


@pytest.mark.parametrize(("body", "match", "error"), [
    ("id,lat,lon,pop_total,pop_65plus\na,33.9,130.9,10,x\n", "not a number", InputError),
    ("id,lat,lon,pop_total,pop_65plus\na,33.9,130.9,10,-1\n", "negative", InputError),
    ("id,lat,lon,pop_total,pop_65plus\na,33.9,130.9,3,4\n", "more people aged 65", PopulationError),
    ("id,lat,lon,pop_total\na,33.9,130.9,3\n", "no column of people aged 65", PopulationError),
    ("id,lat,lon,pop_total,pop_65plus\na,33.9,130.9,3,1\na,33.8,130.9,3,1\n", "more than once",
     DuplicateIdError),
])
def test_bad_population_rows_name_row_and_column(tmp_path, body, match, error):
    path = tmp_path / "pts.csv"
    path.write_text(body)
    with pytest.raises(error, match=match) as info:
        load_population([path], grid_network(2, 2))
    assert str(path) in str(info.value)


def test_mesh_table_cells_and_suppression(tmp_path):
    path = tmp_path / "mesh.csv"
    # Two ¼ meshes; the second is suppressed and merged into the first.
    path.write_text("KEY_CODE,HTKSYORI,HTKSAKI,T001142001,T001142019,T001142022\n"
                    "5030570011,1,,120,40,20\n5030570012,2,5030570011,X,X,X\n")
    cells = read_mesh_table(path)
    assert len(cells) == 1 and cells["pop_65plus"].iloc[0] == 40
    # The merged polygon covers both 250 m cells.
    area = cells.to_crs("EPSG:6670").area.iloc[0]
    assert 2 * 225 * 280 < area < 2 * 240 * 300  # a ¼ mesh is ~231 m × 289 m here


def test_mesh_code_errors(tmp_path):
    path = tmp_path / "mesh.csv"
    path.write_text("mesh_code,pop_total,pop_65plus\n5030570011,10,3\n50305700AB,1,1\n")
    with pytest.raises(InputError, match="mesh code"):
        read_mesh_table(path)


def test_estat_iizuka_real_files():
    table = shared_file("estat-iizuka-40205/tblT001082C40205.txt")
    shp = shared_file("estat-iizuka-40205/r2ka40205.shp")
    areas = read_estat_small_areas(table, shp)
    # City totals (row HYOSYO=1 of the table): 126,364 people, 39,727 aged 65+, 19,681 75+.
    assert areas["pop_total"].sum() == 126364
    assert areas["pop_65plus"].sum() == 39727
    assert areas["pop_75plus"].sum() == 19681
    # 長尾 40205066004/006 (suppressed, HTKSYORI=2) are merged into 筑穂元吉 40205065004.
    assert len(areas) == 149 - 3
    assert "40205066004" not in set(areas["area_key"])
    merged = areas.set_index("area_key").loc["40205065004"]
    assert merged["pop_total"] == 220


def test_estat_table_alone_finds_its_shapefile():
    table = shared_file("estat-iizuka-40205/tblT001082C40205.txt")
    # A grid far from 飯塚: no street inside any area, so each gets one point.
    pts = load_population([table], grid_network(2, 2))
    assert len(pts) == 146
    assert pts["pop_total"].sum() == pytest.approx(126364)
