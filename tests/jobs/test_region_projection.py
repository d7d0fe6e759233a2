"""``region build --projection``: the 将来推計人口 file is kept in the region folder with its
source row (国土交通省 国土数値情報 and its 出典 wording), and ``karte`` / ``scenario`` use it
for ``--year`` when no ``--projection`` is given (an explicit one wins).

The file is hand-made test data in the 国土数値情報 1 km mesh layout
(tests/data/ksj_projection/README.md: four meshes around 飯塚駅 whose 65+ factors
2015 → 2035 are 1.2, 0.8, 1.5 and 1.0, invented); the region is 飯塚市 from ../shared/data
on a generated 300 m street grid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.engine.region import Region
from geo_service.inputs.mesh import mesh_codes_for
from geo_service.planning.projection import load_projection, pick_projection
from tests.jobs.test_region_build import _args

runner = CliRunner()
MESH_FILE = Path(__file__).parents[1] / "data" / "ksj_projection" / "1km_mesh_2018_40.geojson"
FACTORS_2035 = {"50303575": 1.2, "50303576": 0.8, "50303565": 1.5, "50303566": 1.0}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proj")
    stores = folder / "stores.csv"
    stores.write_text("store_id,name,category,lon,lat\n"
                      "s1,駅前スーパー,supermarket,130.6913,33.6465\n", encoding="utf-8")
    out = folder / "iizuka"
    result = runner.invoke(app, [*_args(out), "--stores", str(stores),
                                 "--projection", str(MESH_FILE)])
    assert result.exit_code == 0, result.output
    return out


def test_the_projection_is_kept_in_the_region_with_its_source(built):
    assert (built / "projection" / "1km_mesh_2018_40.geojson").read_bytes() == \
        MESH_FILE.read_bytes()
    meta = json.loads((built / "projection" / "projection.json").read_text(encoding="utf-8"))
    assert meta["file"] == "1km_mesh_2018_40.geojson"
    assert meta["years"] == [2020, 2025, 2030, 2035, 2040, 2045, 2050]  # 2015 is the base
    [row] = [s for s in Region.load(built).sources if s.role == "将来推計人口"]
    assert (row.file, row.publisher, row.attribution) == (
        "1km_mesh_2018_40.geojson", "国土交通省 国土数値情報",
        "出典：国土交通省国土数値情報（1kmメッシュ別将来推計人口データ）")
    assert str(MESH_FILE.parent) not in (built / "region.json").read_text(encoding="utf-8")


def test_a_year_alone_uses_the_regions_projection_with_the_files_factors(built):
    region = Region.load(built)
    file, year, _, _ = pick_projection(region, None, 2035)
    assert file == built / "projection" / "1km_mesh_2018_40.geojson" and year == 2035
    proj = load_projection(file, region, year=2035)
    meshes = mesh_codes_for(region.demand.geometry, 3).to_numpy()
    for mesh, factor in FACTORS_2035.items():
        assert (meshes == mesh).any()
        assert np.allclose(proj.factor_65plus[meshes == mesh], factor)
    assert np.all(proj.factor_65plus[~np.isin(meshes, list(FACTORS_2035))] == 1.0)


def _karte_projection(built, tmp_path, *extra):
    out = tmp_path / "k"
    result = runner.invoke(app, ["karte", "--region", str(built), "--layer", "町丁",
                                 "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    kartes = json.loads((out / "kartes.json").read_text(encoding="utf-8"))
    return {k["area_id"]: k["projection"] for k in kartes}


def test_karte_year_alone_projects_with_the_regions_file_and_an_explicit_one_wins(
        built, tmp_path):
    region = Region.load(built)
    own = _karte_projection(built, tmp_path / "a", "--year", "2035")
    some = next(v for v in own.values() if v is not None)
    assert (some["year"], some["source"]) == (2035, "1km_mesh_2018_40.geojson")
    # by hand: each area's 65+ times its meshes' factors (1 outside the four meshes)
    layer = region.areas[0]
    which = layer.assign(region.demand.geometry.to_crs(layer.areas.crs))
    meshes = mesh_codes_for(region.demand.geometry, 3).to_numpy()
    factor = np.array([FACTORS_2035.get(m, 1.0) for m in meshes])
    p65 = region.demand["pop_65plus"].to_numpy(dtype=float)
    changed = 0
    for i, area_id in enumerate(layer.areas["area_id"].astype(str)):
        expect = float((p65 * factor)[which == i].sum())
        assert own[area_id]["pop_65plus"] == pytest.approx(expect, abs=0.51)
        changed += abs(expect - p65[which == i].sum()) > 1
    assert changed >= 3
    # another file given explicitly wins: every 65+ doubled by 2035
    doubled = tmp_path / "1km_mesh_2018_40.geojson"
    data = json.loads(MESH_FILE.read_text(encoding="utf-8"))
    for f in data["features"]:
        f["properties"]["PTC_2035"] = 2 * f["properties"]["PTC_2015"]
    doubled.write_text(json.dumps(data), encoding="utf-8")
    other = _karte_projection(built, tmp_path / "b", "--year", "2035",
                              "--projection", str(doubled))
    assert other != own
    inside = next(a for a, v in own.items() if v and v["pop_65plus"] != other[a]["pop_65plus"])
    assert inside


def test_a_year_the_file_lacks_or_a_region_without_projection_is_refused(built, tmp_path):
    result = runner.invoke(app, ["karte", "--region", str(built), "--year", "2031",
                                 "--out", str(tmp_path / "k")], env={"LANG": "ja_JP.UTF-8"})
    assert result.exit_code == 2
    assert "2020、2025、2030、2035、2040、2045、2050" in result.output
    assert not (tmp_path / "k").exists()
    from geo_service._errors import InputError
    from tests.utils.grid import grid_region

    with pytest.raises(InputError, match="--year needs a projection"):  # no file of its own
        pick_projection(grid_region(), None, 2035)


def test_scenario_year_alone_uses_the_regions_projection(built, tmp_path):
    result = runner.invoke(app, ["scenario", "create", "2035年", "--region", str(built),
                                 "--year", "2035", "--folder", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "2035年.json").read_text(encoding="utf-8"))
    [change] = saved["changes"]
    assert change["kind"] == "projection" and change["year"] == 2035
    assert Path(change["file"]) == (built / "projection" / "1km_mesh_2018_40.geojson").resolve()
