"""What-if scenarios: closures and new stores recomputed incrementally, checked against a
full recomputation, against answers known by hand on the grid, and on the demo town."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service._errors import InputError, OutsideNetworkError
from geo_service.engine.access import DistanceField
from geo_service.engine.region import Region
from geo_service.inputs.sources import Source
from geo_service.jobs.pipeline import compute_difficulty
from geo_service.layers import load_resource_layer
from geo_service.planning.scenarios import (
    Baseline,
    Scenario,
    ScenarioError,
    ScenarioState,
    apply_scenario,
    compare_scenarios,
    delete_scenario,
    list_scenarios,
    load_scenario,
    save_scenario,
)
from tests.utils.grid import X0, Y0, grid_region, lonlat

LAYER = load_resource_layer("food_stores")


def _grid_with_stores(slope: float = 0.0, seed: int = 1, n: int = 6) -> Region:
    """The hand-made grid with ``n`` stores at random places along its streets (no two
    equally far from anyone, so even the nearest store's identity is unique)."""
    region = grid_region(slope=slope)
    rng = np.random.default_rng(seed)
    pts = []
    for _ in range(n):
        if rng.random() < 0.5:  # on a horizontal street
            pts.append((rng.uniform(0, 1000), 100.0 * rng.integers(0, 11)))
        else:
            pts.append((100.0 * rng.integers(0, 11), rng.uniform(0, 1000)))
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": [f"S{k}" for k in range(n)], "name": [f"店{k}" for k in range(n)],
         "category": ["supermarket"] * n},
        geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in pts], crs="EPSG:6670")
    return region


def _same(a: pd.Series, b: pd.Series) -> bool:
    return np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True)


def _assert_equal_results(inc, full, *, ids: bool = True) -> None:
    pa, pf = inc.after.points, full.after.points
    # the whole per-point table, as point_indicators makes it (without the nearest store's
    # identity where two stores may be equally far)
    drop = ["geometry"] if ids else ["geometry", "nearest_store_id"]
    pd.testing.assert_frame_equal(pd.DataFrame(pa.drop(columns=drop)),
                                  pd.DataFrame(pf.drop(columns=drop)))
    for col in ("network_m", "walk_min", "straight_m"):
        assert _same(pa[col], pf[col]), col
    assert (pa["beyond"] == pf["beyond"]).all()
    if ids:
        assert (pa["nearest_store_id"] == pf["nearest_store_id"]).all()
    # the per-area table, bit for bit (only the areas whose points changed are counted
    # again by the incremental answer)
    pd.testing.assert_frame_equal(
        pd.DataFrame(inc.after.areas.drop(columns="geometry")),
        pd.DataFrame(full.after.areas.drop(columns="geometry")), check_exact=True)
    assert inc.after.areas.geometry.equals(full.after.areas.geometry)


# --- answers known by hand ---------------------------------------------------------------

def test_a_store_in_the_opposite_corner_known_by_hand():
    """F1 sits on node (10, 10); a new store on node (0, 0): each node's walk is
    100·min(i + j, 20 − i − j) m; within 550 m: i + j ≤ 5 or ≥ 15, 21 + 21 of 121 nodes
    (550, as the new store, given in lon/lat, lies within a nanometre of the node)."""
    region = grid_region()
    base = Baseline.compute(region, layer=LAYER)
    lon, lat = lonlat(0, 0)
    res = apply_scenario(base, Scenario("角に新店", [
        {"kind": "add_store", "id": "N1", "name": "新店", "lon": lon, "lat": lat,
         "category": "スーパー"}, {"kind": "threshold", "metres": 550}]))
    i = np.arange(121) % 11
    j = np.arange(121) // 11
    expected = 100.0 * np.minimum(i + j, 20 - i - j)
    assert np.allclose(res.after.points["network_m"], expected, atol=1e-6)
    assert res.before.summary()["beyond_65plus"] == 121 - 21
    assert res.after.summary()["beyond_65plus"] == 121 - 42
    assert set(res.after.points["nearest_store_id"]) == {"F1", "N1"}
    # closing F1 as well leaves the new store alone: 100·(i + j)
    both = apply_scenario(base, Scenario("入れ替え", [
        {"kind": "add_store", "id": "N1", "lon": lon, "lat": lat, "category": "supermarket"},
        {"kind": "close_store", "store": "角の店"}, {"kind": "threshold", "metres": 550}]))
    assert np.allclose(both.after.points["network_m"], 100.0 * (i + j), atol=1e-6)
    diff = both.area_difference()
    assert list(diff["name"]) == ["西小学校", "中小学校", "東小学校"]
    west = diff.iloc[0]
    # west strip (i ≤ 2, 33 nodes): before no one within 500 m of F1 (i + j ≤ 12);
    # after i + j ≤ 5 → 6 + 5 + 4 within 550 m of the new store
    assert west["beyond_65plus_before"] == 33 and west["beyond_65plus_after"] == 33 - 15
    assert west["beyond_share_change_pt"] == pytest.approx(-100 * 15 / 33)


def test_closing_the_only_store_leaves_everyone_unreachable():
    base = Baseline.compute(grid_region(), layer=LAYER)
    res = apply_scenario(base, Scenario("閉店", [{"kind": "close_store", "store": "F1"}]))
    assert not res.after.points["reachable"].any()
    assert res.after.summary()["beyond_65plus"] == 121
    assert res.point_difference(changed_only=True)["status"].eq("新たに徒歩圏外").sum() == 21


def test_threshold_and_speed_change_only_what_they_touch():
    base = Baseline.compute(grid_region(), layer=LAYER)
    res = apply_scenario(base, Scenario("800m", [{"kind": "threshold", "metres": 800},
                                                 {"kind": "speed", "mps": 0.8}]))
    assert _same(res.after.points["network_m"], res.before.points["network_m"])
    assert np.allclose(res.after.points["walk_min"], res.before.points["walk_min"] / 0.8)
    # within 800 m of (10, 10): i + j ≥ 12 → 45 nodes
    assert res.after.summary()["beyond_65plus"] == 121 - 45
    assert res.after.threshold_m == 800


# --- invariants ----------------------------------------------------------------------------

@pytest.mark.parametrize("slope", [0.0, 0.06])
@pytest.mark.parametrize("seed", range(4))
def test_closing_never_shortens_a_walk_and_reopening_restores_the_baseline(slope, seed):
    base = Baseline.compute(_grid_with_stores(slope, seed), layer=LAYER)
    before = base.point["distance"].copy()
    rng = np.random.default_rng(seed)
    which = sorted(rng.choice(len(base.stores), 2, replace=False))
    state = ScenarioState(base)
    state.close(which)
    after = state.access()
    assert (after.distance_m >= before).all()
    assert (after.seconds >= base.point["seconds"]).all()
    # the closed stores re-opened, from the same rows: the baseline exactly
    state.add(base.stores.iloc[which])
    again = state.access()
    assert np.array_equal(again.distance_m, base.point["distance"])
    assert np.array_equal(again.seconds, base.point["seconds"])
    reopened = state.stores["store_id"].to_numpy()
    assert np.array_equal(reopened[again.nearest], base.stores["store_id"].to_numpy()[
        base.point["nearest"]])
    for key in ("distance", "seconds"):
        assert np.array_equal(state.node[key], base.node[key])


@pytest.mark.parametrize("slope", [0.0, 0.06])
@pytest.mark.parametrize("seed", range(5))
def test_incremental_equals_full_recomputation_on_the_grid(slope, seed):
    region = _grid_with_stores(slope, seed, n=5)
    base = Baseline.compute(region, layer=LAYER)
    rng = np.random.default_rng(100 + seed)
    changes: list[dict] = [{"kind": "close_store", "store": f"S{rng.integers(0, 5)}"}]
    for k in range(2):
        lon, lat = lonlat(rng.uniform(0, 1000), 100.0 * rng.integers(0, 11) + 3.3)
        changes.append({"kind": "add_store", "id": f"N{k}", "lon": lon, "lat": lat,
                        "category": "convenience"})
    first = int(changes[0]["store"][1:])
    changes.append({"kind": "close_store", "store": f"S{(first + 1 + rng.integers(0, 4)) % 5}"})
    scenario = Scenario("mixed", changes)
    inc = apply_scenario(base, scenario)
    full = apply_scenario(base, scenario, incremental=False)
    _assert_equal_results(inc, full)
    assert inc.stats["points_evaluated_again"] < len(region.demand)
    assert full.stats["full_passes"] == 1 and inc.stats["full_passes"] == 0


def test_closing_a_store_that_is_no_nodes_nearest():
    """A store in the middle of a street whose two ends hold other stores is no node's
    nearest, yet a resident beside it walks to it directly: closing it sends her to an
    end of the street, 45 m instead of 5 m."""
    region = grid_region()
    extra = gpd.GeoDataFrame({"point_id": ["mid"], "pop_total": [2.0], "pop_65plus": [1.0],
                              "pop_75plus": [0.5]},
                             geometry=[shapely.Point(X0 + 445, Y0 + 600)], crs="EPSG:6670")
    region.demand = gpd.GeoDataFrame(pd.concat([region.demand, extra], ignore_index=True),
                                     geometry="geometry", crs="EPSG:6670")
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": ["X", "Y1", "Y2"], "name": ["中", "西", "東"],
         "category": ["supermarket"] * 3},
        geometry=[shapely.Point(X0 + 450, Y0 + 600), shapely.Point(X0 + 400, Y0 + 600),
                  shapely.Point(X0 + 500, Y0 + 600)], crs="EPSG:6670")
    base = Baseline.compute(region, layer=LAYER)
    assert not (base.node["nearest"] == 0).any()
    res = apply_scenario(base, Scenario("c", [{"kind": "close_store", "store": "X"}]))
    mid = res.after.points.iloc[-1]
    assert res.before.points.iloc[-1]["network_m"] == pytest.approx(5)
    assert mid["network_m"] == pytest.approx(45) and mid["nearest_store_id"] == "Y1"
    _assert_equal_results(res, apply_scenario(base, res.scenario, incremental=False))


@pytest.mark.parametrize("slope", [0.0, 0.06])
def test_a_speed_change_with_closures_equals_full_recomputation(slope):
    base = Baseline.compute(_grid_with_stores(slope, 11), layer=LAYER)
    lon, lat = lonlat(650, 403.7)
    scenario = Scenario("遅く", [
        {"kind": "speed", "mps": 0.8}, {"kind": "close_store", "store": "S2"},
        {"kind": "add_store", "id": "N", "lon": lon, "lat": lat, "category": "スーパー"},
        {"kind": "close_store", "store": "S4"}])
    inc = apply_scenario(base, scenario)
    _assert_equal_results(inc, apply_scenario(base, scenario, incremental=False))
    assert inc.after.region.net.walking_speed_mps == 0.8
    assert base.region.net.walking_speed_mps == 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_close=st.integers(1, 4), slope=st.sampled_from([0, 0.08]))
def test_property_closing_stores_never_shortens_a_walk(seed, n_close, slope):
    base = _baseline_cached(slope, seed % 7)
    rng = np.random.default_rng(seed)
    which = rng.choice(len(base.stores), n_close, replace=False)
    state = ScenarioState(base)
    state.close(which)
    got = state.access()
    assert (got.distance_m >= base.point["distance"]).all()
    assert (state.node["distance"] >= base.node["distance"]).all()
    assert not np.isin(got.nearest, which).any()
    full = DistanceField(base.region.net, state.att.take(np.flatnonzero(state.active)))
    assert np.array_equal(state.node["distance"], full.node_distance)
    assert np.array_equal(state.node["seconds"], full.node_seconds)


_CACHE: dict[tuple[float, int], Baseline] = {}


def _baseline_cached(slope: float, seed: int) -> Baseline:
    if (slope, seed) not in _CACHE:
        _CACHE[slope, seed] = Baseline.compute(_grid_with_stores(slope, seed, n=8), layer=LAYER)
    return _CACHE[slope, seed]


def test_the_baseline_equals_compute_difficulty_and_is_never_modified():
    region = _grid_with_stores(0.05, 7)
    ref = compute_difficulty(region, layer=LAYER)
    base = Baseline.compute(region, layer=LAYER)
    pd.testing.assert_frame_equal(pd.DataFrame(base.result.points.drop(columns="geometry")),
                                  pd.DataFrame(ref.points.drop(columns="geometry")))
    pd.testing.assert_frame_equal(pd.DataFrame(base.result.areas.drop(columns="geometry")),
                                  pd.DataFrame(ref.areas.drop(columns="geometry")))
    assert np.array_equal(base.point["straight"], ref.points["straight_m"].to_numpy())
    copies = {k: v.copy() for k, v in {**base.node, **{f"p_{k}": v for k, v in
                                                       base.point.items()}}.items()}
    points = base.result.points.copy()
    apply_scenario(base, Scenario("x", [{"kind": "close_store", "store": "S1"},
                                        {"kind": "speed", "mps": 0.7}]))
    for key, value in {**base.node, **{f"p_{k}": v for k, v in base.point.items()}}.items():
        assert np.array_equal(value, copies[key])
        assert not value.flags.writeable
    pd.testing.assert_frame_equal(base.result.points, points)
    assert len(region.resources["food_stores"]) == 6


# --- names, errors, saving -------------------------------------------------------------

def test_unknown_stores_are_named_all_at_once():
    base = Baseline.compute(_grid_with_stores(), layer=LAYER)
    with pytest.raises(ScenarioError, match="no store with id or name X9") as err:
        apply_scenario(base, Scenario("bad", [{"kind": "close_store", "store": "X9"}]))
    assert "店0 (S0)" in str(err.value)  # the message lists the stores by name and id
    from geo_service.planning.scenarios import resolve_stores
    with pytest.raises(ScenarioError, match="X9, 幻の店"):
        resolve_stores(base, ["S1", "X9", "幻の店"])
    assert resolve_stores(base, ["S2", "店3"]) == [2, 3]
    # a part of a name people use is enough when one store has it; several are named
    base.stores.loc[4, "name"] = "ミニマート山手"
    assert resolve_stores(base, ["ミニマート"]) == [4]
    with pytest.raises(ScenarioError, match="several stores"):
        resolve_stores(base, ["店"])


def test_a_store_outside_the_network_is_refused():
    base = Baseline.compute(grid_region(), layer=LAYER)
    lon, lat = lonlat(5000, 5000)
    with pytest.raises(OutsideNetworkError, match="N1"):
        apply_scenario(base, Scenario("遠い", [{"kind": "add_store", "id": "N1", "lon": lon,
                                                "lat": lat, "category": "supermarket"}]))


@pytest.mark.parametrize("change, message", [
    ({"kind": "cut_route"}, "needs 'feed'"),
    ({"kind": "bus_network", "feeds": []}, "list of GTFS feeds"),
    ({"kind": "service_area", "resource": "配食A"}, "needs 'service_area'"),
    ({"kind": "service_area", "resource": "配食A", "service_area": {"kind": "radius"}},
     "needs 'radius_m'"),
    ({"kind": "service_area", "resource": "配食A", "service_area": {"kind": "none"}},
     "withdraw_service"),
    ({"kind": "withdraw_service"}, "needs 'resource'"),
    ({"kind": "demolish"}, "unknown kind"),
    ({"kind": "threshold", "metres": -5}, "positive"),
    ({"kind": "add_store", "id": "N", "lon": 33.8, "lat": 130.8, "category": "スーパー"},
     "swap|latitude"),
    ({"kind": "add_store", "id": "N", "lon": 130.8, "lat": 33.8}, "category"),
    ({"kind": "projection", "file": "p.csv", "year": 35}, "year"),
])
def test_malformed_changes_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        Scenario("s", [change])


def test_unknown_category_and_duplicate_id_are_refused():
    base = Baseline.compute(grid_region(), layer=LAYER)
    lon, lat = lonlat(500, 500)
    with pytest.raises(InputError, match="unknown category"):
        apply_scenario(base, Scenario("c", [{"kind": "add_store", "id": "N", "lon": lon,
                                             "lat": lat, "category": "パン屋"}]))
    with pytest.raises(ScenarioError, match="exists already"):
        apply_scenario(base, Scenario("d", [{"kind": "add_store", "id": "F1", "lon": lon,
                                             "lat": lat, "category": "スーパー"}]))


def test_scenarios_are_saved_listed_loaded_compared_and_deleted(tmp_path):
    base = Baseline.compute(_grid_with_stores(), layer=LAYER)
    lon, lat = lonlat(500, 503)
    a = Scenario("閉店 S1", [{"kind": "close_store", "store": "S1"}], description="説明")
    b = Scenario("stop", [{"kind": "add_stop", "id": "M1", "name": "移動販売 公民館前",
                           "lon": lon, "lat": lat}])
    for s in (a, b):
        save_scenario(s, tmp_path)
    with pytest.raises(ScenarioError, match="exists"):
        save_scenario(a, tmp_path)
    assert [s.name for s in list_scenarios(tmp_path)] == ["stop", "閉店 S1"]
    loaded = load_scenario("閉店 S1", tmp_path)
    assert loaded.changes == a.changes and loaded.description == "説明" and loaded.created
    with pytest.raises(ScenarioError, match="saved: stop, 閉店 S1"):
        load_scenario("nothing", tmp_path)
    results = [apply_scenario(base, s) for s in (loaded, load_scenario("stop", tmp_path))]
    table = compare_scenarios(results)
    assert list(table.columns[-2:]) == ["閉店 S1", "stop"]
    assert (table["閉店 S1"] >= table["baseline"]).all()
    assert (table["stop"] <= table["baseline"]).all()
    assert any("移動販売" in str(n) for n in results[1].notes)
    delete_scenario("stop", tmp_path)
    assert [s.name for s in list_scenarios(tmp_path)] == ["閉店 S1"]
    with pytest.raises(ScenarioError):
        Scenario("../escape")
    (tmp_path / "broken.json").write_text('{"name": "broken", "changes": [{"kind": "x"}]}',
                                          encoding="utf-8")
    with pytest.raises(ScenarioError, match="broken.json"):
        load_scenario(tmp_path / "broken.json")


# --- the demo town --------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_region(tmp_path_factory):
    from geo_service.jobs.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return out / "region"


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_incremental_equals_full_recomputation_on_the_demo(demo_region, tmp_path):
    files_before = _digest(demo_region)
    region = Region.load(demo_region)
    base = Baseline.compute(region, layer=LAYER)
    ids = base.stores["store_id"].tolist()
    lon, lat = region.net.to_geographic.transform(*region.net.node_xy[len(region.net.node_xy)
                                                                      // 2])
    scenario = Scenario("坂の町の閉店と新店", [
        {"kind": "close_store", "store": ids[0]}, {"kind": "close_store", "store": ids[3]},
        {"kind": "add_store", "id": "NEW1", "lon": lon, "lat": lat, "category": "コンビニ"}])
    inc = apply_scenario(base, scenario)
    full = apply_scenario(base, scenario, incremental=False)
    _assert_equal_results(inc, full, ids=False)
    closed = apply_scenario(base, Scenario("one", scenario.changes[:1]))
    assert (closed.after.points["network_m"].fillna(np.inf)
            >= closed.before.points["network_m"].fillna(np.inf)).all()
    assert closed.after.summary()["beyond_share"] >= closed.before.summary()["beyond_share"]
    save_scenario(scenario, tmp_path)
    assert _digest(demo_region) == files_before
    assert json.loads((tmp_path / f"{scenario.name}.json").read_text(encoding="utf-8"))[
        "changes"][0]["store"] == ids[0]


# --- the command line and the difference map ---------------------------------------------

def test_scenario_commands_on_the_demo(demo_region, tmp_path):
    from typer.testing import CliRunner

    from geo_service.cli.main import app

    run = CliRunner()
    where = ["--region", str(demo_region), "--folder", str(tmp_path / "s")]
    files_before = _digest(demo_region)
    bad = run.invoke(app, ["scenario", "create", "x", "--close", "S99", "--close", "幻", *where])
    assert bad.exit_code == 2 and "S99, 幻" in bad.output
    assert not (tmp_path / "s" / "x.json").exists()
    made = run.invoke(app, ["scenario", "create", "山手閉店", "--close", "ミニマート山手",
                            "--description", "山手のコンビニが閉店", "--out",
                            str(tmp_path / "out"), *where])
    assert made.exit_code == 0, made.output
    assert "山手小学校" in made.output and "pt" in made.output
    page = (tmp_path / "out" / "difference_map.html").read_text(encoding="utf-8")
    assert "割合の変化" in page and "unpkg" not in page
    assert json.dumps("閉店する店舗")[1:-1] in page  # the layer control's names, JSON-escaped
    assert "<h1>架空の坂の町（合成デモ）　シナリオ「" in page  # the region's name and sources
    assert '<div class="gs-sources">合成デモデータ（実在の町ではありません）</div>' in page
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["closed"] == ["S05"] and summary["synthetic"] is True
    assert summary["region"] == "架空の坂の町（合成デモ）"  # the region's name and sources
    assert summary["attributions"] == ["合成デモデータ（実在の町ではありません）"]
    assert summary["after"]["beyond_65plus"] >= summary["before"]["beyond_65plus"]
    areas = pd.read_csv(tmp_path / "out" / "difference_areas.csv", encoding="utf-8-sig")
    assert {"beyond_share_before", "beyond_share_after", "beyond_share_change_pt"} <= set(
        areas.columns)
    factors = tmp_path / "f.csv"
    region = Region.load(demo_region)
    ids = region.areas[0].areas["area_id"].astype(str).tolist()
    pd.DataFrame({"area_id": ids, "factor_65plus": [1.1, 1.2, 1.3][:len(ids)]}).to_csv(
        factors, index=False)
    fut = run.invoke(app, ["scenario", "create", "2035年", "--projection", str(factors),
                           "--year", "2035", *where])
    assert fut.exit_code == 0, fut.output
    # a future population changes how many people are beyond the walk (each area's share
    # stays as it was under a factor per area): the table shows the people, before → after,
    # and a share that did not move as ±0.0, never -0.0 (it showed ±0.0 pt alone)
    text = " ".join(fut.output.split())
    assert "-0.0" not in text and "±0.0pt" in text
    before = areas[areas["layer"] == "小学校区"].set_index("name")["beyond_65plus_before"]
    for name, factor in zip(region.areas[0].areas["name"], [1.1, 1.2, 1.3], strict=False):
        was, now = round(before[name]), round(before[name] * factor)
        assert f"{was:,}→{now:,}" in text, (name, was, now, fut.output)
        assert any(f"+{now - was + d:,}人" in text for d in (-1, 0, 1))
    listed = run.invoke(app, ["scenario", "list", *where])
    assert "山手閉店" in listed.output and "将来人口 2035" in listed.output
    shown = run.invoke(app, ["scenario", "show", "山手閉店", "--layer", "中学校区", *where])
    assert shown.exit_code == 0 and "中学校区" in shown.output
    cmp_ = run.invoke(app, ["scenario", "compare", "山手閉店", "2035年", "--out",
                            str(tmp_path / "cmp.csv"), *where])
    assert cmp_.exit_code == 0, cmp_.output
    assert list(pd.read_csv(tmp_path / "cmp.csv", encoding="utf-8-sig").columns[-3:]) == [
        "baseline", "山手閉店", "2035年"]
    assert run.invoke(app, ["scenario", "delete", "2035年", *where]).exit_code == 0
    assert run.invoke(app, ["scenario", "show", "2035年", *where]).exit_code == 2
    assert _digest(demo_region) == files_before


def test_the_difference_map_escapes_user_text():
    region = _grid_with_stores()
    region.resources["food_stores"].loc[1, "name"] = "<script>alert(1)</script>"
    region.sources = [Source("店舗", "s.csv", attribution="出典：<b>商工会</b></script>")]
    base = Baseline.compute(region, layer=LAYER)
    lon, lat = lonlat(500, 500)
    res = apply_scenario(base, Scenario("s", [
        {"kind": "close_store", "store": "S1"},
        {"kind": "add_store", "id": "N<b>", "name": "<img src=x>", "lon": lon, "lat": lat,
         "category": "スーパー"}]))
    from geo_service.reports.scenario_map import difference_map

    page = difference_map(res).get_root().render()
    assert "<script>alert(1)" not in page and "<img src=x>" not in page
    assert "\\u0026lt;img src=x\\u0026gt;" in page  # escaped, then JSON-encoded
    assert "<b>商工会" not in page and "</script>\")" not in page
    assert '<div class="gs-sources">出典：&lt;b&gt;商工会&lt;/b&gt;&lt;/script&gt;</div>' in page


# --- bus routes ------------------------------------------------------------------------

def _feed(folder, stops: dict[str, tuple[float, float]], trips: int = 12):
    """A GTFS feed: one trip pattern over ``stops`` (in order), ``trips`` times every day;
    the last stop has no departures."""
    folder.mkdir()
    (folder / "stops.txt").write_text("stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"{k},{k},{lat},{lon}\n" for k, (lon, lat) in stops.items()), encoding="utf-8")
    (folder / "trips.txt").write_text("route_id,service_id,trip_id\n" + "".join(
        f"R,ALL,T{n}\n" for n in range(trips)), encoding="utf-8")
    (folder / "stop_times.txt").write_text(
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(
            f"T{n},{7 + n}:00:00,{7 + n}:00:00,{k},{s}\n" for n in range(trips)
            for s, k in enumerate(stops, 1)), encoding="utf-8")
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
        "end_date\nALL,1,1,1,1,1,1,1,20260401,20270331\n", encoding="utf-8")
    return folder


def test_cutting_a_bus_route_known_by_hand(tmp_path):
    """Stops with 12 departures on nodes (0, 0) (feed a) and (10, 0) (feed b) each cover
    the 10 nodes within 300 m; everyone there is beyond 500 m of F1 at (10, 10). Cutting
    b leaves 10 more people 65+ beyond the walk without a bus: 9 in 東, 1 in 中."""
    _feed(tmp_path / "a", {"A": lonlat(0, 0), "A2": lonlat(0, 100)})
    _feed(tmp_path / "b", {"B": lonlat(1000, 0), "B2": lonlat(1000, 100)})
    base = Baseline.compute(grid_region(), layer=LAYER)
    res = apply_scenario(base, Scenario("b線廃止", [
        {"kind": "bus_network", "feeds": ["a", "b"]}, {"kind": "cut_route", "feed": "b"}]),
        base_dir=tmp_path)
    s = res.summary()["bus"]
    assert s["beyond_no_bus_65plus_before"] == 100 - 20
    assert s["beyond_no_bus_65plus_after"] == 100 - 10
    diff = res.area_difference()
    assert diff["beyond_no_bus_65plus_change"].tolist() == [0, 1, 9]
    assert _same(res.after.points["network_m"], res.before.points["network_m"])
    pts = res.point_difference()
    assert pts["bus_stop_before"].sum() == 20 and pts["bus_stop_after"].sum() == 10
    # a new route (feed b again) with too few departures covers no one
    _feed(tmp_path / "c", {"C": lonlat(1000, 0), "C2": lonlat(1000, 100)}, trips=3)
    res = apply_scenario(base, Scenario("c線", [
        {"kind": "bus_network", "feeds": ["a"]}, {"kind": "add_route", "feed": "c"}]),
        base_dir=tmp_path)
    assert res.summary()["bus"]["beyond_no_bus_65plus_after"] == 90
    res = apply_scenario(base, Scenario("c線 5本", [
        {"kind": "bus_network", "feeds": ["a"], "min_departures": 3},
        {"kind": "add_route", "feed": "c"}]), base_dir=tmp_path)
    assert res.summary()["bus"]["beyond_no_bus_65plus_after"] == 80


def test_a_broken_feed_is_named(tmp_path):
    feed = _feed(tmp_path / "a", {"A": lonlat(0, 0), "A2": lonlat(0, 100)})
    (feed / "stop_times.txt").write_text(
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T0,25:61:00,25:61:00,A,1\n", encoding="utf-8")
    base = Baseline.compute(grid_region(), layer=LAYER)
    with pytest.raises(InputError, match=r"stop_times.txt.*25:61"):
        apply_scenario(base, Scenario("x", [{"kind": "cut_route", "feed": str(feed)}]))


def test_bus_route_commands(tmp_path):
    from typer.testing import CliRunner

    from geo_service.cli.main import app

    grid_region().save(tmp_path / "region")
    a = _feed(tmp_path / "a", {"A": lonlat(0, 0), "A2": lonlat(0, 100)})
    b = _feed(tmp_path / "b", {"B": lonlat(1000, 0), "B2": lonlat(1000, 100)})
    where = ["--region", str(tmp_path / "region"), "--folder", str(tmp_path / "s")]
    out = CliRunner().invoke(app, ["scenario", "create", "b線廃止", "--bus-network", str(a),
                                   "--bus-network", str(b), "--cut-route", str(b), *where])
    assert out.exit_code == 0, out.output
    assert "バス停なし" in out.output and "80" in out.output and "90" in out.output
    listed = CliRunner().invoke(app, ["scenario", "list", *where])
    assert "路線廃止 b" in listed.output


# --- service areas (the registry's alternatives) -------------------------------------------

def _grid_services(tmp_path):
    """The grid with a registry: 配食 "西の配食" over columns 0–4 (55 people, all beyond the
    500 m walk: 西 33, 中 22) and 宅配 "東の宅配" over 東 (columns 8–10; 18 beyond it).
    Beyond the walk (F1 on (10, 10)): 西 33, 中 49, 東 18."""
    from geo_service.registry.resources import ResourceFields, ServiceArea
    from geo_service.registry.store.testing import fresh_store
    from geo_service.service.walking import WalkingService

    walking = WalkingService(grid_region(), fresh_store("sqlite", tmp_path))
    x0, y0 = lonlat(-50, -50)
    x1, y1 = lonlat(450, 1050)
    west = walking.store.add(ResourceFields(
        name="西の配食", category="配食",
        service_area=ServiceArea(kind="polygon", geometry=shapely.geometry.mapping(
            shapely.box(x0, y0, x1, y1)))))
    east = walking.store.add(ResourceFields(
        name="東の宅配", category="宅配",
        service_area=ServiceArea(kind="areas", layer="小学校区", area_ids=["E"])))
    walking.refresh()
    return walking, Baseline.compute(walking.region, layer=LAYER), west.id, east.id


def test_a_service_area_moved_or_withdrawn_known_by_hand(tmp_path):
    walking, base, west, east = _grid_services(tmp_path)
    # before: uncovered = 中's 27 (columns 5–7, all beyond the walk)
    moved = apply_scenario(base, Scenario("配食を中へ", [
        {"kind": "service_area", "resource": west,
         "service_area": {"kind": "areas", "layer": "小学校区", "area_ids": ["M"]}}]),
        walking=walking)
    diff = moved.area_difference().set_index("area_id")
    assert diff["gap_65plus_before"].to_dict() == {"W": 0, "M": 27, "E": 0}
    assert diff["gap_65plus_after"].to_dict() == {"W": 33, "M": 0, "E": 0}
    assert diff["gap_65plus_change"].to_dict() == {"W": 33, "M": -27, "E": 0}
    assert diff["covered_meal_delivery_after"].to_dict() == {"W": 0, "M": 49, "E": 0}
    assert diff["covered_home_delivery_after"].to_dict() == {"W": 0, "M": 0, "E": 18}
    s = moved.summary()["alternatives"]
    assert (s["gap_65plus_before"], s["gap_65plus_after"]) == (27, 33)
    assert s["changed"] == [f"{west} (西の配食): service area → areas"]
    # the walk itself does not change
    assert _same(moved.after.points["network_m"], moved.before.points["network_m"])
    gone = apply_scenario(base, Scenario("宅配撤退", [
        {"kind": "withdraw_service", "resource": east}]), walking=walking)
    assert gone.area_difference()["gap_65plus_change"].tolist() == [0, 0, 18]
    table = compare_scenarios([moved, gone], measure="gap_65plus")
    assert table["baseline"].tolist() == [0, 27, 0]
    assert table["配食を中へ"].tolist() == [33, 0, 0]
    assert table["宅配撤退"].tolist() == [0, 27, 18]
    with pytest.raises(ScenarioError, match="do not: 閾値"):
        compare_scenarios([moved, apply_scenario(base, Scenario("閾値", [
            {"kind": "threshold", "metres": 600}]))], measure="gap_65plus")
    pts = gone.point_difference(changed_only=True)
    # everyone in 東 (33) loses the 宅配; 18 of them are beyond the walk
    assert len(pts) == 33 and not pts["alternative_after"].any()
    assert pts["beyond_after"].sum() == 18
    # a radius around nothing, and a polygon far away, are refused, naming the service
    far = shapely.geometry.mapping(shapely.box(139.0, 35.0, 139.1, 35.1))
    with pytest.raises(ScenarioError, match=f"{west} .*outside the region"):
        apply_scenario(base, Scenario("遠く", [
            {"kind": "service_area", "resource": west,
             "service_area": {"kind": "polygon", "geometry": far}}]), walking=walking)
    with pytest.raises(ScenarioError, match="measured from the service's location"):
        apply_scenario(base, Scenario("半径", [
            {"kind": "service_area", "resource": west,
             "service_area": {"kind": "radius", "radius_m": 500}}]), walking=walking)
    with pytest.raises(ScenarioError, match="no such area"):
        apply_scenario(base, Scenario("区域", [
            {"kind": "service_area", "resource": west,
             "service_area": {"kind": "areas", "layer": "小学校区", "area_ids": ["Z"]}}]),
            walking=walking)


def test_unknown_services_are_named_and_nothing_is_computed_without_the_registry(tmp_path):
    walking, base, west, _ = _grid_services(tmp_path)
    with pytest.raises(ScenarioError, match="no service with id nope1, nope2.*西の配食"):
        apply_scenario(base, Scenario("x", [
            {"kind": "withdraw_service", "resource": "nope1"},
            {"kind": "withdraw_service", "resource": west},
            {"kind": "withdraw_service", "resource": "nope2"}]), walking=walking)
    with pytest.raises(ScenarioError, match="read the registry"):
        apply_scenario(base, Scenario("y", [{"kind": "withdraw_service", "resource": west}]))
    from geo_service.registry.resources import ResourceFields

    place = walking.store.add(ResourceFields(name="公民館", category="通いの場",
                                             lon=lonlat(0, 0)[0], lat=lonlat(0, 0)[1]))
    with pytest.raises(ScenarioError, match="not an alternative"):
        apply_scenario(base, Scenario("z", [{"kind": "withdraw_service",
                                              "resource": place.id}]), walking=walking)


def test_a_service_scenario_with_a_bus_cut_counts_both(tmp_path):
    """配食 withdrawn and bus b cut: 西 and 中's first columns lose the 配食 (55 beyond);
    the stop on (0, 0) (feed a) still covers its 10 nodes, (10, 0) no longer its 10."""
    walking, base, west, _ = _grid_services(tmp_path)
    _feed(tmp_path / "a", {"A": lonlat(0, 0), "A2": lonlat(0, 100)})
    _feed(tmp_path / "b", {"B": lonlat(1000, 0), "B2": lonlat(1000, 100)})
    res = apply_scenario(base, Scenario("両方", [
        {"kind": "bus_network", "feeds": ["a", "b"]}, {"kind": "cut_route", "feed": "b"},
        {"kind": "withdraw_service", "resource": west}]), base_dir=tmp_path, walking=walking)
    s = res.summary()["alternatives"]
    # before: 中's columns 5–7 (27) less the bus's (7, 0) → 26; after: 100 beyond, less
    # 東's 18 (宅配) and stop a's 10 → 72
    assert (s["gap_65plus_before"], s["gap_65plus_after"]) == (26, 72)


def _demo_walking(demo_region, tmp_path):
    from geo_service.jobs.demo_registry import seed_demo_registry
    from geo_service.registry.store.testing import fresh_store
    from geo_service.service.walking import WalkingService

    region = Region.load(demo_region)
    store = fresh_store("sqlite", tmp_path)
    seed_demo_registry(store, region)
    return WalkingService(region, store)


def test_withdrawing_the_demo_s_meal_delivery(demo_region, tmp_path):
    """The demo's 配食 serves the whole city: before it no one is left uncovered; without
    it, exactly the people 65+ beyond the walk whom it alone covered are."""
    from geo_service.planning.gaps import find_gaps
    from geo_service.registry.store import ResourceFilter

    walking = _demo_walking(demo_region, tmp_path)
    base = Baseline.compute(walking.region, layer=LAYER)
    meal = walking.store.all(ResourceFilter(category="meal_delivery"))
    assert [r.service_area.kind for r in meal] == ["municipality"]
    res = apply_scenario(base, Scenario("配食撤退", [
        {"kind": "withdraw_service", "resource": meal[0].id}]), walking=walking)
    alts = {a.id: a.covers for a in
            find_gaps(walking, walking.region.areas[0].name).alternatives}
    assert alts["meal_delivery"].all()
    others = np.logical_or.reduce([m for k, m in alts.items() if k != "meal_delivery"])
    beyond = res.before.points["beyond"].to_numpy()
    pop = res.before.points["pop_65plus"].to_numpy(dtype=float)
    alone = float(pop[beyond & ~others].sum())
    s = res.summary()["alternatives"]
    assert s["gap_65plus_before"] == 0
    assert s["gap_65plus_after"] - s["gap_65plus_before"] == pytest.approx(alone, abs=1e-9)
    assert alone > 0
    diff = res.area_difference()
    for layer, part in diff.groupby("layer"):  # every layer adds up to the same change
        assert part["gap_65plus_change"].sum() == pytest.approx(alone), layer
    # only the gap changes; the walks and the share beyond them do not
    assert (diff["beyond_share_change_pt"] == 0).all()


def test_service_commands_on_the_demo(demo_region, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli.main import app
    from geo_service.config import ServiceSettings
    from geo_service.jobs.demo_registry import seed_demo_registry
    from geo_service.registry.store import ResourceFilter, open_store

    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    region = Region.load(demo_region)
    store = open_store(ServiceSettings().registry_url(region.key))
    seed_demo_registry(store, region)
    meal = store.all(ResourceFilter(category="meal_delivery"))[0].id
    before = store.state_token()
    run = CliRunner()
    where = ["--region", str(demo_region), "--folder", str(tmp_path / "s")]
    bad = run.invoke(app, ["scenario", "create", "x", "--withdraw", "r-nope", *where])
    assert bad.exit_code == 2 and "r-nope" in bad.output
    assert not (tmp_path / "s" / "x.json").exists()
    west, south, east, north = region.net.bounds_lonlat()
    half = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(
        shapely.box(west, south, (west + east) / 2, north))}
    (tmp_path / "half.geojson").write_text(json.dumps(half), encoding="utf-8")
    made = run.invoke(app, ["scenario", "create", "配食を西半分に", "--service-area",
                            f"{meal}={tmp_path / 'half.geojson'}", "--out",
                            str(tmp_path / "out"), *where])
    assert made.exit_code == 0, made.output
    assert "代替手段なし" in made.output
    saved = json.loads((tmp_path / "s" / "配食を西半分に.json").read_text(encoding="utf-8"))
    assert saved["changes"][0]["service_area"]["kind"] == "polygon"  # kept in the scenario
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    alt = summary["alternatives"]
    assert alt["gap_65plus_before"] == 0 and alt["gap_65plus_after"] > 0
    gone = run.invoke(app, ["scenario", "create", "配食撤退", "--withdraw", meal, *where])
    assert gone.exit_code == 0, gone.output
    listed = run.invoke(app, ["scenario", "list", *where])
    assert "サービス撤退" in listed.output and "サービス区域変更" in listed.output
    cmp_ = run.invoke(app, ["scenario", "compare", "配食撤退", "配食を西半分に", *where])
    assert cmp_.exit_code == 0, cmp_.output
    assert "代替手段なし" in cmp_.output
    far = run.invoke(app, ["scenario", "create", "遠く", "--service-area",
                           f"{meal}=radius:800", *where])
    assert far.exit_code == 2 and "location" in far.output
    assert store.state_token() == before  # the registry was only read


def test_the_difference_map_takes_its_classes_from_the_map_style(tmp_path):
    """The colours come from layers/difficulty.toml's [difference] table, or another file;
    with service changes the map shows who is left without an alternative."""
    from geo_service.layers import load_difference_style
    from geo_service.reports.scenario_map import difference_map

    walking, base, west, _ = _grid_services(tmp_path)
    res = apply_scenario(base, Scenario("配食撤退", [
        {"kind": "withdraw_service", "resource": west}]), walking=walking)
    page = difference_map(res).get_root().render()
    shipped = load_difference_style()
    # 西 loses everyone (+100 points), 中 22 of 55 (+40 points): the worst class
    assert page.count(json.dumps(shipped["colors"][-1])[1:-1]) >= 2
    assert "かつ代替手段（配食・宅配・移動販売など）なしの65歳以上の割合の変化" in page
    style = tmp_path / "style.toml"
    style.write_text('[difference]\nbreaks = [0.0]\ncolors = ["#00ff01", "#ff0002"]\n'
                     'labels = ["よくなった", "わるくなった"]\nno_data_color = "#cccccc"\n'
                     'no_data_label = "なし"\n', encoding="utf-8")
    page = difference_map(res, style=style).get_root().render()
    assert "#ff0002" in page and "わるくなった" in page and shipped["colors"][-1] not in page


# --- per-area totals counted again only where points changed -------------------------------

def _grid_with_weights_and_areas(seed: int) -> Region:
    """The grid with random stores, fractional people 65+ per node (sums that round) and a
    second layer of 9 small squares over part of the town."""
    from geo_service.inputs.boundaries import AreaLayer

    region = _grid_with_stores(0.0, seed, n=8)
    rng = np.random.default_rng(seed)
    region.demand["pop_65plus"] = rng.uniform(0.1, 3.0, len(region.demand)).round(3) / 7
    region.demand["pop_total"] = region.demand["pop_65plus"] * 2.3
    squares = gpd.GeoDataFrame(
        {"area_id": [f"Q{k}" for k in range(9)], "name": [f"区{k}" for k in range(9)]},
        geometry=[shapely.box(X0 + 300 * i - 50, Y0 + 300 * j - 50, X0 + 300 * i + 250,
                              Y0 + 300 * j + 250) for j in range(3) for i in range(3)],
        crs="EPSG:6670")
    region.areas = [*region.areas, AreaLayer("区画", squares)]
    return region


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_close=st.integers(1, 3), n_add=st.integers(0, 2))
def test_areas_counted_again_only_where_points_changed_equal_a_full_count(seed, n_close,
                                                                         n_add):
    region = _grid_with_weights_and_areas(seed % 50)
    base = _BASELINES.setdefault(seed % 50, Baseline.compute(region, layer=LAYER))
    rng = np.random.default_rng(seed)
    changes: list[dict] = [{"kind": "close_store", "store": f"S{k}"}
                           for k in rng.choice(8, n_close, replace=False)]
    for k in range(n_add):
        lon, lat = lonlat(rng.uniform(0, 1000), 100.0 * rng.integers(0, 11))
        changes.append({"kind": "add_store", "id": f"N{k}", "lon": lon, "lat": lat,
                        "category": "supermarket"})
    scenario = Scenario("mixed", changes)
    inc = apply_scenario(base, scenario)
    full = apply_scenario(base, scenario, incremental=False)
    _assert_equal_results(inc, full, ids=False)
    n_areas = len(base.result.areas)
    assert full.stats["areas_counted_again"] == n_areas
    assert inc.stats["areas_counted_again"] <= n_areas


_BASELINES: dict[int, Baseline] = {}


def test_a_local_closure_counts_only_its_areas_again():
    """A store in the south-west square, far from the others: closing it changes the
    walks only there, so of the 3 + 9 areas only those holding changed points are counted
    again — and the answer is a full count's, bit for bit."""
    region = _grid_with_weights_and_areas(3)
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": ["SW", "NE"], "name": ["南西", "北東"], "category": ["supermarket"] * 2},
        geometry=[shapely.Point(X0 + 100, Y0 + 50), shapely.Point(X0 + 1000, Y0 + 950)],
        crs="EPSG:6670")
    base = Baseline.compute(region, layer=LAYER)
    res = apply_scenario(base, Scenario("c", [{"kind": "close_store", "store": "SW"},
                                              {"kind": "threshold", "metres": 500}]))
    moved = res.point_difference(changed_only=True)
    assert len(moved) and len(moved) < len(region.demand)
    assert 0 < res.stats["areas_counted_again"] < len(base.result.areas)
    _assert_equal_results(res, apply_scenario(base, res.scenario, incremental=False))
    # another threshold changes every area's beyond count: a full count
    other = apply_scenario(base, Scenario("t", [{"kind": "close_store", "store": "SW"},
                                                {"kind": "threshold", "metres": 450}]))
    assert other.stats["areas_counted_again"] == len(base.result.areas)


def test_withdrawing_a_mobile_sales_route_takes_its_stops(tmp_path):
    """A 移動販売 route with a stop on (10, 0): within 300 m are the 10 nodes with
    (10 − i) + j ≤ 3, all beyond the walk; 9 are in 東 (covered by the 宅配 anyway) and
    (7, 0) in 中, which only the stop covers. Withdrawn, 中's uncovered grow by 1."""
    from geo_service.registry.resources import ResourceFields, Schedule, Stop

    walking, base, _, _ = _grid_services(tmp_path)
    lon, lat = lonlat(1000, 0)
    route = walking.store.add(ResourceFields(
        name="移動スーパー", category="移動販売",
        schedule=Schedule(stops=[Stop(name="角", lon=lon, lat=lat, weekday="tue",
                                      time="10:00")])))
    walking.refresh()
    res = apply_scenario(base, Scenario("移動販売撤退", [
        {"kind": "withdraw_service", "resource": route.id}]), walking=walking)
    diff = res.area_difference().set_index("area_id")
    assert diff["gap_65plus_before"].to_dict() == {"W": 0, "M": 26, "E": 0}
    assert diff["gap_65plus_change"].to_dict() == {"W": 0, "M": 1, "E": 0}
    assert diff["covered_mobile_sales_before"].to_dict() == {"W": 0, "M": 1, "E": 9}
    assert diff["covered_mobile_sales_after"].sum() == 0
