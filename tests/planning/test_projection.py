"""Future population: 国土数値情報 将来推計人口 mesh files and per-area tables applied to the
grid's demand points; unknown columns refused; the baseline untouched."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service.inputs.mesh import mesh_codes_for
from geo_service.layers import load_resource_layer
from geo_service.planning.projection import ProjectionError, load_projection, project_demand
from geo_service.planning.scenarios import Baseline, Scenario, apply_scenario
from tests.utils.grid import grid_region

LAYER = load_resource_layer("food_stores")


def _mesh_file(tmp_path, region, *, factor: dict[str, float], columns=None, name="m.csv"):
    """A hand-made 500 m mesh file of the grid's meshes: 65+ in 2015 = the grid's count,
    in 2035 × ``factor`` per mesh (1.0 elsewhere); 75+ half of it, doubled by 2035."""
    codes = mesh_codes_for(region.demand.geometry, 4)
    p65 = region.demand.groupby(codes.to_numpy())["pop_65plus"].sum()
    rows = []
    for code, n in p65.items():
        f = factor.get(code, 1.0)
        rows.append({"MESH_ID": code, "SHICODE": 40100, "PTN_2015": 2 * n, "PTC_2015": n,
                     "PTD_2015": n / 2, "PTN_2035": 1.5 * n, "PTC_2035": n * f,
                     "PTD_2035": n, "PTC_2050": n * f * 1.1, "HITOKU2035": ""})
    table = pd.DataFrame(rows)
    if columns is not None:
        table = table.rename(columns=columns)
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path, list(p65.index)


def test_a_mesh_file_with_ptc_2035_scales_each_mesh(tmp_path):
    region = grid_region()
    codes = mesh_codes_for(region.demand.geometry, 4).to_numpy()
    first = sorted(set(codes))[0]
    path, meshes = _mesh_file(tmp_path, region, factor={first: 1.5})
    assert len(meshes) >= 2
    proj = load_projection(path, region, year=2035)
    assert proj.year == 2035
    future = project_demand(region.demand, proj)
    by_mesh = future.groupby(codes)["pop_65plus"].sum()
    today = region.demand.groupby(codes)["pop_65plus"].sum()
    assert by_mesh[first] == pytest.approx(1.5 * today[first])
    others = [m for m in meshes if m != first]
    assert np.allclose(by_mesh[others], today[others])
    assert np.allclose(future["pop_75plus"], 2 * region.demand["pop_75plus"])  # PTD doubled
    assert np.allclose(future["pop_total"], 0.75 * region.demand["pop_total"])  # PTN × 0.75
    assert any("base year 2015" in n.text("en") for n in proj.notes)
    # region.demand itself is not modified
    assert (region.demand["pop_65plus"] == 1.0).all()


def test_the_future_year_gives_the_same_indicators(tmp_path):
    region = grid_region()
    codes = mesh_codes_for(region.demand.geometry, 4).to_numpy()
    path, _ = _mesh_file(tmp_path, region, factor=dict.fromkeys(set(codes), 2.0))
    base = Baseline.compute(region, layer=LAYER)
    demand_before = region.demand.copy()
    res = apply_scenario(base, Scenario("2035年", [
        {"kind": "projection", "file": path.name, "year": 2035}]), base_dir=tmp_path)
    # walks unchanged; every count doubled, so the shares stay and the counts double
    assert np.array_equal(res.after.points["network_m"], res.before.points["network_m"])
    assert res.after.summary()["pop_65plus"] == 2 * res.before.summary()["pop_65plus"]
    assert res.after.summary()["beyond_65plus"] == 2 * res.before.summary()["beyond_65plus"]
    diff = res.area_difference()
    assert np.allclose(diff["pop_65plus_after"], 2 * diff["pop_65plus_before"])
    assert np.allclose(diff["beyond_share_change_pt"], 0)
    pd.testing.assert_frame_equal(region.demand, demand_before)


def test_a_file_with_unknown_columns_is_refused(tmp_path):
    region = grid_region()
    path, _ = _mesh_file(tmp_path, region, factor={},
                         columns={"PTC_2015": "POP65_2010", "PTC_2035": "POP65_2050",
                                  "PTC_2050": "X", "PTD_2015": "Y", "PTD_2035": "Z",
                                  "PTN_2015": "POP2010", "PTN_2035": "POP2050"})
    with pytest.raises(ProjectionError, match="refusing to guess") as err:
        load_projection(path, region, year=2035)
    assert str(path) in str(err.value) and "POP65_2050" in str(err.value)
    # … unless the columns are named
    proj = load_projection(path, region, year=2035,
                           columns={"65plus": "POP65_2050", "base_65plus": "POP65_2010"})
    assert np.allclose(proj.factor_65plus, 1.0)
    assert proj.factor_75plus is None
    assert np.isnan(project_demand(region.demand, proj)["pop_75plus"]).all()


def test_a_missing_year_and_bad_values_are_named(tmp_path):
    region = grid_region()
    path, _ = _mesh_file(tmp_path, region, factor={})
    with pytest.raises(ProjectionError, match=r"PTC_2040.*2015, 2035, 2050"):
        load_projection(path, region, year=2040)
    table = pd.read_csv(path, dtype=str)
    table.loc[1, "PTC_2035"] = "多い"
    table.to_csv(path, index=False)
    with pytest.raises(Exception, match=r"row 3, column 'PTC_2035', value '多い'"):
        load_projection(path, region, year=2035)


def test_meshes_missing_from_the_file_keep_todays_counts(tmp_path):
    region = grid_region()
    path, meshes = _mesh_file(tmp_path, region, factor={})
    table = pd.read_csv(path, dtype=str)
    table[table["MESH_ID"] != meshes[0]].to_csv(path, index=False)
    proj = load_projection(path, region, year=2035)
    assert any("not in the file" in n.text("en") for n in proj.notes)


def test_a_mesh_shapefile_is_read_from_its_attributes(tmp_path):
    region = grid_region()
    path, meshes = _mesh_file(tmp_path, region, factor={})
    table = pd.read_csv(path)
    gdf = gpd.GeoDataFrame(table, geometry=[shapely.Point(130.8, 33.8)] * len(table),
                           crs="EPSG:4326")
    gdf.to_file(tmp_path / "m500.geojson", driver="GeoJSON")
    proj = load_projection(tmp_path / "m500.geojson", region, year=2050)
    assert np.allclose(proj.factor_65plus, 1.1)


def test_a_table_of_factors_per_area(tmp_path):
    region = grid_region()
    path = tmp_path / "factors.csv"
    pd.DataFrame({"area_id": ["W", "M", "E"], "factor_65plus": [1.2, 1.0, 0.5]}).to_csv(
        path, index=False)
    base = Baseline.compute(region, layer=LAYER)
    res = apply_scenario(base, Scenario("f", [{"kind": "projection", "file": str(path),
                                               "year": 2035}]))
    diff = res.area_difference()
    assert np.allclose(diff["pop_65plus_after"] / diff["pop_65plus_before"], [1.2, 1.0, 0.5])


def test_a_table_of_projected_counts_per_area_with_years(tmp_path):
    region = grid_region()
    path = tmp_path / "counts.csv"
    pd.DataFrame({"area_id": ["W", "M", "E", "W", "M", "E"], "year": [2030] * 3 + [2035] * 3,
                  "65歳以上人口": [1, 1, 1, 66, 55, 11]}).to_csv(path, index=False)
    future = project_demand(region.demand, load_projection(path, region, year=2035))
    which = region.areas[0].assign(region.demand.geometry)
    assert np.allclose(future.groupby(which)["pop_65plus"].sum().to_numpy(), [66, 55, 11])
    with pytest.raises(ProjectionError, match="no rows for 2040; the table has 2030, 2035"):
        load_projection(path, region, year=2040)


def test_unknown_area_ids_and_columns_are_named(tmp_path):
    region = grid_region()
    path = tmp_path / "bad.csv"
    pd.DataFrame({"area_id": ["W", "北"], "factor_65plus": [1.1, 1.2]}).to_csv(path,
                                                                               index=False)
    with pytest.raises(ProjectionError, match=r"row 3, column 'area_id', value '北'"):
        load_projection(path, region, year=2035)
    pd.DataFrame({"area_id": ["W"], "高齢化率": [0.4]}).to_csv(path, index=False)
    with pytest.raises(ProjectionError, match="cannot identify the projection columns"):
        load_projection(path, region, year=2035)
