"""What-if benchmark: a store closure on a 250,000-node region (issue 10's target: under 1 s).

The region is bench_api's (``build_region``: a 500 × 500 street grid, 25 m spacing, on
gentle hills so walking times are slope-aware, 25,000 demand points, 25 areas), saved once
under ``benchmarks/_data/api_region``. Its single store is replaced in memory by
``--stores`` (200) supermarkets on seeded random nodes.

Timed (median of ``--repeats``, after one warm-up closure of another store that also
compiles the numba search):

- **closure, incremental**: ``apply_scenario`` with one ``close_store`` (the store serving
  the median number of nodes): repair of the distance and time fields over the nodes the
  closed store served, the points on their edges evaluated again, the indicators of the
  areas holding a changed point counted again (the others kept);
- **closure, incremental, every area counted**: the same with every area's indicators
  aggregated anew (``area_indicators``, as before the per-area reuse), for comparison;
- **closure, full recomputation**: the same scenario with ``incremental=False`` (both
  fields recomputed for the whole network from the remaining stores), and the pipeline's
  own ``compute_difficulty`` on the same store set, for comparison;
- **new store, incremental**: one ``add_store`` at a random node (a pruned search).

The incremental and full answers are compared: per-point distances and times and the
per-area tables must be identical (bit for bit).

Usage::

    python benchmarks/bench_scenario.py [--stores 200] [--repeats 5]

Results: printed and written to ``benchmarks/results/bench_scenario-<time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (  # noqa: E402
    import_geo_service,
    machine,
    median,
    peak_rss_mb,
    save_result,
    table,
    time_repeats,
)

import_geo_service()
SEED = 20261129


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import geopandas as gpd
    import pandas as pd
    import shapely
    from bench_api import build_region

    from geo_service.engine.region import Region
    from geo_service.jobs.pipeline import compute_difficulty
    from geo_service.layers import load_resource_layer
    from geo_service.planning.scenarios import Baseline, Scenario, apply_scenario

    t0 = time.perf_counter()
    region = Region.load(build_region())
    load_s = time.perf_counter() - t0
    net = region.net
    rng = np.random.default_rng(SEED)
    nodes = rng.choice(net.n_nodes, args.stores, replace=False)
    xy = net.node_xy[nodes] + np.array([3.0, 0.0])  # 3 m along the street, off the node
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": [f"F{k:03d}" for k in range(args.stores)],
         "name": [f"店{k:03d}" for k in range(args.stores)],
         "category": ["supermarket"] * args.stores},
        geometry=shapely.points(xy), crs=net.crs)
    layer = load_resource_layer("food_stores")

    t0 = time.perf_counter()
    base = Baseline.compute(region, layer=layer)
    baseline_s = time.perf_counter() - t0
    served = np.bincount(base.node["nearest"][base.node["nearest"] >= 0],
                         minlength=args.stores)
    order = np.argsort(served)
    target, warm = int(order[len(order) // 2]), int(order[len(order) // 2 + 1])
    close = Scenario("閉店", [{"kind": "close_store", "store": f"F{target:03d}"}])
    apply_scenario(base, Scenario("warm", [{"kind": "close_store", "store": f"F{warm:03d}"}]))

    inc_times, inc = time_repeats(lambda: apply_scenario(base, close), args.repeats, warmup=0)
    from geo_service.indicators.difficulty import area_indicators
    from geo_service.planning import scenarios as sc

    reuse = sc.ScenarioState.recount_areas
    sc.ScenarioState.recount_areas = (  # type: ignore[method-assign]
        lambda self, points, stores: area_indicators(
            points, self.baseline.region.areas, stores, threshold_m=self.threshold_m,
            car_rate=self.baseline.car_rate))
    try:
        every_times, _ = time_repeats(lambda: apply_scenario(base, close), args.repeats,
                                      warmup=0)
    finally:
        sc.ScenarioState.recount_areas = reuse  # type: ignore[method-assign]
    full_times, full = time_repeats(lambda: apply_scenario(base, close, incremental=False),
                                    args.repeats, warmup=0)
    remaining = Region(net, region.demand, region.areas, {"food_stores": region.resources[
        "food_stores"].drop(index=target).reset_index(drop=True)}, name=region.name)
    remaining.__dict__["demand_attachment"] = region.demand_attachment  # attached once
    pipe_times, _ = time_repeats(lambda: compute_difficulty(remaining, layer=layer),
                                 args.repeats, warmup=0)
    lon, lat = net.to_geographic.transform(*net.node_xy[int(rng.integers(net.n_nodes))])
    add = Scenario("新店", [{"kind": "add_store", "id": "NEW", "lon": float(lon),
                             "lat": float(lat), "category": "supermarket"}])
    add_times, added = time_repeats(lambda: apply_scenario(base, add), args.repeats, warmup=1)

    pa, pf = inc.after.points, full.after.points
    same_points = all(np.array_equal(pa[c].to_numpy(float), pf[c].to_numpy(float),
                                     equal_nan=True) for c in ("network_m", "walk_min"))
    try:
        pd.testing.assert_frame_equal(pd.DataFrame(inc.after.areas.drop(columns="geometry")),
                                      pd.DataFrame(full.after.areas.drop(columns="geometry")),
                                      check_exact=True)
        same_areas = True
    except AssertionError:
        same_areas = False
    rows = [
        ["closure, incremental", f"{median(inc_times) * 1000:.0f} ms",
         f"{inc.stats['nodes_searched_again']:,} nodes, "
         f"{inc.stats['points_evaluated_again']:,} points, "
         f"{inc.stats['areas_counted_again']} of {len(inc.after.areas)} areas again"],
        ["closure, incremental, every area", f"{median(every_times) * 1000:.0f} ms",
         "area_indicators over every area"],
        ["closure, full recomputation", f"{median(full_times) * 1000:.0f} ms",
         "both fields, whole network"],
        ["compute_difficulty (same stores)", f"{median(pipe_times) * 1000:.0f} ms",
         "the pipeline's own pass (demand attached once)"],
        ["new store, incremental", f"{median(add_times) * 1000:.0f} ms",
         f"{added.stats['nodes_searched_again']:,} nodes improved"],
        ["baseline (once)", f"{baseline_s * 1000:.0f} ms", "load region "
         f"{load_s:.1f} s"],
    ]
    print(f"{net.n_nodes:,} nodes, {net.n_edges:,} edges, {len(region.demand):,} demand points, "
          f"{args.stores} stores; closed F{target:03d} (served {served[target]:,} nodes)")
    print(table(rows, ["what", "median", "notes"]))
    print(f"incremental == full: points {same_points}, areas {same_areas}; "
          f"target < 1 s: {'met' if median(inc_times) < 1 else 'MISSED'}")
    payload = {
        "machine": machine(), "nodes": net.n_nodes, "edges": net.n_edges,
        "demand_points": len(region.demand), "stores": args.stores, "closed": f"F{target:03d}",
        "closed_served_nodes": int(served[target]), "repeats": args.repeats,
        "closure_incremental_s": inc_times, "closure_every_area_s": every_times,
        "closure_full_s": full_times,
        "compute_difficulty_s": pipe_times, "add_store_incremental_s": add_times,
        "baseline_s": baseline_s, "incremental_stats": inc.stats,
        "identical_points": same_points, "identical_areas": same_areas,
        "peak_rss_mb": peak_rss_mb(),
    }
    print("saved", save_result("bench_scenario", payload))


if __name__ == "__main__":
    main()
