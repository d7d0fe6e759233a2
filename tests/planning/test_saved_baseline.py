"""The baseline saved with its region (issue 19): what a later command loads equals what
it would compute; the saved entry is found only for the same network, demand, areas,
stores, threshold and speed; a broken entry is ignored and rebuilt."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service.engine import saved
from geo_service.engine.region import Region
from geo_service.layers import load_resource_layer
from geo_service.planning.scenarios import Baseline, Scenario, apply_scenario
from tests.utils.grid import X0, Y0, grid_region

LAYER = load_resource_layer("food_stores")


def _saved_grid(folder, *, slope: float = 0.02) -> Region:
    region = grid_region(slope=slope)
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": ["A", "B", "C"], "name": ["西の店", "中の店", "東の店"],
         "category": ["supermarket"] * 3},
        geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in ((0, 0), (500, 430), (1000, 870))],
        crs="EPSG:6670")
    region.save(folder)
    return Region.load(folder)


def _assert_same(a: Baseline, b: Baseline) -> None:
    for k in a.node:
        assert np.array_equal(a.node[k], b.node[k]), k
    for k in a.point:
        assert np.array_equal(a.point[k], b.point[k]), k
    for f in ("edge", "offset", "connector"):
        assert np.array_equal(getattr(a.store_att, f), getattr(b.store_att, f))
    pd.testing.assert_frame_equal(a.result.points, b.result.points, check_exact=True)
    pd.testing.assert_frame_equal(a.result.areas, b.result.areas, check_exact=True)
    pd.testing.assert_frame_equal(a.stores, b.stores, check_exact=True)


def _entries(folder, name: str) -> list:
    return sorted((folder / "cache").glob(f"{name}-*.npz"))


def test_a_saved_baseline_equals_the_computed_one_and_so_do_its_scenarios(tmp_path):
    region = _saved_grid(tmp_path / "r")
    computed = Baseline.compute(region, layer=LAYER)
    first = Baseline.saved(region, layer=LAYER)  # computed and saved
    assert len(_entries(tmp_path / "r", "baseline-food_stores")) == 1
    assert len(_entries(tmp_path / "r", "network")) == 1
    again = Region.load(tmp_path / "r")  # a later command: everything from the cache
    assert "distance_graph" in again.net.__dict__  # the graphs were not rebuilt …
    assert "edge_geometry" not in again.net.__dict__  # … nor the geometries read
    loaded = Baseline.saved(again, layer=LAYER)
    _assert_same(computed, first)
    _assert_same(computed, loaded)
    assert not loaded.node["distance"].flags.writeable
    # the network from the cache is the network: same lengths, times, graphs, geometries
    for name in ("edge_length", "node_xy", "edge_u", "edge_v", "vertex_z"):
        assert np.array_equal(getattr(again.net, name), getattr(region.net, name)), name
    for a, b in zip(again.net.edge_seconds, region.net.edge_seconds, strict=True):
        assert np.array_equal(a, b)
    assert (again.net.time_graph != region.net.time_graph).nnz == 0
    assert shapely.equals_exact(again.net.edge_geometry, region.net.edge_geometry).all()
    # new points attach to the same streets (straight streets: no geometry kept at all)
    from geo_service.engine.access import attach_points

    xy = np.random.default_rng(3).uniform(0, 1000, (200, 2)) + [X0, Y0]
    a, b = attach_points(Region.load(tmp_path / "r").net, xy), attach_points(region.net, xy)
    for f in ("edge", "offset", "connector"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    close = Scenario("閉店", [{"kind": "close_store", "store": "B"}])
    a, b = apply_scenario(computed, close), apply_scenario(loaded, close)
    pd.testing.assert_frame_equal(a.after.areas, b.after.areas, check_exact=True)
    pd.testing.assert_frame_equal(a.after.points, b.after.points, check_exact=True)
    # by hand: with 中の店 closed nobody walks to it, and walks only lengthen
    assert "B" not in set(b.after.points["nearest_store_id"])
    assert (b.after.points["network_m"] >= b.before.points["network_m"]).all()
    assert not list((tmp_path / "r" / "cache").glob(".*tmp"))  # no half-written file


def test_the_demand_points_edges_are_kept_and_equal(tmp_path):
    region = _saved_grid(tmp_path / "r")
    att = region.demand_attachment
    assert len(_entries(tmp_path / "r", "demand_attachment")) == 1
    again = Region.load(tmp_path / "r").demand_attachment
    for f in ("edge", "offset", "connector"):
        assert np.array_equal(getattr(att, f), getattr(again, f))


def _moved_store(folder) -> None:
    res = gpd.read_parquet(folder / "resources.parquet")
    res.loc[res["store_id"] == "B", "geometry"] = shapely.Point(X0 + 100, Y0 + 900)
    res.to_parquet(folder / "resources.parquet")


@pytest.mark.parametrize("change", ["stores", "threshold", "speed", "network", "demand"])
def test_a_change_of_what_the_baseline_depends_on_is_never_answered_from_the_cache(
        tmp_path, change):
    folder = tmp_path / "r"
    region = _saved_grid(folder)
    old = Baseline.saved(region, layer=LAYER)
    threshold = None
    if change == "stores":
        _moved_store(folder)
    elif change == "threshold":
        threshold = 300.0
    elif change == "speed":  # another walking speed is saved in the network file
        Region.load(folder).net.with_speed(0.8).save(folder / "network.npz")
    elif change == "network":  # a street cut: the edge from node 0 to node 1 removed
        net = Region.load(folder).net
        keep = ~(((net.edge_u == 0) & (net.edge_v == 1)) | ((net.edge_u == 1)
                                                           & (net.edge_v == 0)))
        from geo_service.engine.network import WalkNetwork

        WalkNetwork(net.crs, net.node_id, net.node_xy, net.edge_u[keep], net.edge_v[keep],
                    net.edge_geometry[keep], net.walking_speed_mps, net.node_z,
                    None).save(folder / "network.npz")
    else:  # twice the people 65+ at every point
        demand = gpd.read_parquet(folder / "demand.parquet")
        demand["pop_65plus"] *= 2
        demand.to_parquet(folder / "demand.parquet")
    fresh = Region.load(folder)
    got = Baseline.saved(fresh, layer=LAYER, threshold_m=threshold)
    _assert_same(got, Baseline.compute(Region.load(folder), layer=LAYER,
                                       threshold_m=threshold))
    differs = {"stores": lambda: not np.array_equal(got.point["distance"],
                                                    old.point["distance"]),
               "threshold": lambda: got.result.points["beyond"].sum()
               > old.result.points["beyond"].sum(),
               "speed": lambda: (got.point["seconds"] >= old.point["seconds"]).all()
               and (got.point["seconds"] > old.point["seconds"]).mean() > 0.9,
               "network": lambda: got.node["distance"][0] > old.node["distance"][0]
               or got.node["distance"][1] > old.node["distance"][1],
               "demand": lambda: got.result.areas["pop_65plus"].sum()
               == 2 * old.result.areas["pop_65plus"].sum()}
    assert differs[change](), change
    if change != "threshold":  # the stale entry was replaced, not kept beside
        assert len(_entries(folder, "baseline-food_stores")) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "another key", "empty"])
def test_a_broken_entry_is_ignored_and_rebuilt(tmp_path, damage):
    folder = tmp_path / "r"
    region = _saved_grid(folder)
    Baseline.saved(region, layer=LAYER)
    for name in ("baseline-food_stores", "network", "demand_attachment"):
        (entry,) = _entries(folder, name)
        data = entry.read_bytes()
        if damage == "garbage":
            entry.write_bytes(b"not a cache entry" * 100)
        elif damage == "truncated":
            entry.write_bytes(data[: len(data) // 2])
        elif damage == "empty":
            entry.write_bytes(b"")
        else:  # a whole entry, but made for other inputs
            other = saved.load_entry(folder / "cache", name, entry.stem.split("-")[-1])
            assert other is not None
            saved.save_entry(folder / "cache", "tmp", "0" * 32, other)
            (folder / "cache" / f"tmp-{'0' * 32}.npz").replace(entry)
    again = Region.load(folder)
    got = Baseline.saved(again, layer=LAYER)
    _assert_same(got, Baseline.compute(_saved_grid(tmp_path / "fresh"), layer=LAYER))
    for name in ("baseline-food_stores", "network"):  # rebuilt, readable again
        (entry,) = _entries(folder, name)
        assert saved.load_entry(folder / "cache", name, entry.stem.split("-")[-1]) is not None


def test_a_region_built_in_memory_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    region = grid_region()
    base = Baseline.saved(region, layer=LAYER)
    assert region.folder is None and base.node["distance"].min() >= 0
    assert not list(tmp_path.rglob("*.npz"))


def test_a_read_only_region_folder_keeps_its_cache_in_the_data_directory(tmp_path,
                                                                           monkeypatch):
    import os

    from geo_service.config import data_dir

    folder = tmp_path / "r"
    region = _saved_grid(folder)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).startswith(
        str(folder)) else real_access(p, mode))
    Baseline.saved(region, layer=LAYER)
    assert not (folder / "cache").exists()
    where = saved.cache_folder(folder)
    assert where.is_relative_to(data_dir())
    assert len(list(where.glob("baseline-food_stores-*.npz"))) == 1
    _assert_same(Baseline.saved(Region.load(folder), layer=LAYER),
                 Baseline.compute(region, layer=LAYER))


def test_a_curved_street_is_read_from_the_network_file_when_needed(tmp_path):
    from geo_service.engine.network import WalkNetwork

    region = grid_region(slope=0.02)
    net = region.net
    geoms = net.edge_geometry.copy()
    (x0, y0), (x1, y1) = net.node_xy[net.edge_u[0]], net.node_xy[net.edge_v[0]]
    geoms[0] = shapely.LineString([(x0, y0), ((x0 + x1) / 2, y0 + 30), (x1, y1)])
    region.net = WalkNetwork.from_edges(net.node_id, net.node_xy, net.edge_u, net.edge_v,
                                        geoms, crs=net.crs, node_z=net.node_z)
    region.save(tmp_path / "r")
    loaded = Region.load(tmp_path / "r")
    Baseline.saved(loaded, layer=LAYER)  # saves the network entry
    again = Region.load(tmp_path / "r")
    assert not again.net.straight_edges and "edge_geometry" not in again.net.__dict__
    assert again.net.edge_length[0] == region.net.edge_length[0] > 100
    assert shapely.equals_exact(again.net.edge_geometry, region.net.edge_geometry).all()
