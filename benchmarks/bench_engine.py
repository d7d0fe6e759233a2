"""Engine benchmark: all-nodes nearest store on a ≥100,000-node walking graph, 200 stores.

Side by side, on the same graph (the PBF grid of ``make_grid.py``, read with
``geo_service.engine.osm.load_walk_network``) and the same 200 stores:

(a) ``geo_service.engine.access.DistanceField(net, attachment)``: the engine's multi-source pass,
    virtual source rows for the stores' edge projections included, giving distance, nearest
    store and walking time for every node;
(b) a bare ``scipy.sparse.csgraph.dijkstra(net.distance_graph, indices=<store nodes>,
    min_only=True)`` (and the same with ``return_predecessors=True``, which also gives the
    nearest store, as the engine does);
(c) ``networkx.multi_source_dijkstra_path_length`` on the same graph as a networkx Graph
    (building that Graph is not timed).

The 200 stores of (a)–(c) stand exactly on 200 seeded random network nodes, so all three
compute the same thing and their node distances must agree (max abs difference printed).
For information the engine is also timed with the PBF's 200 shops, which stand off the
street and are attached by projection onto the nearest edge.

Targets (issue 2): engine / scipy ≤ 2×, networkx / engine ≥ 10×.

Usage::

    python benchmarks/bench_engine.py               # generates benchmarks/_data/ if missing
    python benchmarks/bench_engine.py --repeats 15 --nx-repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import (
    import_geo_service,
    machine,
    median,
    peak_rss_mb,
    save_result,
    table,
    time_repeats,
)
from make_grid import DEFAULT_OUT, ensure_region

TARGET_SCIPY = 2.0
TARGET_NX = 10.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_OUT), help="region folder (make_grid.py)")
    p.add_argument("--repeats", type=int, default=11, help="timed repeats of (a) and (b)")
    p.add_argument("--nx-repeats", type=int, default=3, help="timed repeats of (c)")
    p.add_argument("--stores", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-networkx", action="store_true", help="skip (c)")
    args = p.parse_args(argv)

    import_geo_service()
    from pathlib import Path

    from pyproj import Transformer
    from scipy.sparse.csgraph import dijkstra

    from geo_service.engine.access import DistanceField, attach_points
    from geo_service.engine.osm import load_walk_network

    data = ensure_region(Path(args.data)) if args.data == str(DEFAULT_OUT) else Path(args.data)
    info: dict = {"machine": machine(), "data": str(data)}

    t0 = time.perf_counter()
    net = load_walk_network(data / "grid.osm.pbf")
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = net.distance_graph
    t_csr = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = net.edge_tree
    t_tree = time.perf_counter() - t0
    _ = net.edge_seconds
    n = net.n_nodes
    print(f"network: {n:,} nodes, {net.n_edges:,} edges, CRS EPSG:{net.crs.to_epsg()} "
          f"(load {t_load:.2f} s, CSR {t_csr * 1000:.0f} ms, edge STRtree {t_tree * 1000:.0f} ms)",
          flush=True)
    if n < 100_000:
        print(f"warning: only {n:,} nodes (< 100,000)", flush=True)

    rng = np.random.default_rng(args.seed)
    store_nodes = np.sort(rng.choice(n, size=args.stores, replace=False))
    store_xy = net.node_xy[store_nodes]
    att_times, att = time_repeats(lambda: attach_points(net, store_xy), args.repeats)
    if np.abs(att.connector).max() > 1e-6:
        raise SystemExit("stores on nodes attached with a connector > 0: check attach_points")

    # (a) engine, (b) bare scipy: interleaved so drift affects both alike.
    engine_t: list[float] = []
    scipy_t: list[float] = []
    scipy_pred_t: list[float] = []
    field = dist_sp = None
    for _ in range(args.repeats):
        t, (field,) = time_repeats(lambda: (DistanceField(net, att),), 1, warmup=0)
        engine_t += t
        t, dist_sp = time_repeats(
            lambda: dijkstra(graph, directed=True, indices=store_nodes, min_only=True), 1,
            warmup=0)
        scipy_t += t
        t, _ = time_repeats(
            lambda: dijkstra(graph, directed=True, indices=store_nodes, min_only=True,
                             return_predecessors=True), 1, warmup=0)
        scipy_pred_t += t
    assert field is not None and dist_sp is not None

    # Engine with the PBF shops (off-street, projected onto their nearest edges).
    shops = _read_shops(data / "stores.csv")
    to_metric = Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    shop_xy = np.column_stack(to_metric.transform(shops[:, 0], shops[:, 1]))
    shop_att_t, shop_att = time_repeats(lambda: attach_points(net, shop_xy), args.repeats)
    shop_field_t, shop_field = time_repeats(lambda: DistanceField(net, shop_att), args.repeats)

    # Agreement (stores on nodes): engine vs scipy.
    d_engine = field.node_distance
    same_inf = np.array_equal(np.isinf(d_engine), np.isinf(dist_sp))
    fin = np.isfinite(d_engine) & np.isfinite(dist_sp)
    diff_scipy = float(np.max(np.abs(d_engine[fin] - dist_sp[fin])))
    nearest_node = np.where(field.node_nearest >= 0, store_nodes[field.node_nearest], -1)
    _, _, src = dijkstra(graph, directed=True, indices=store_nodes, min_only=True,
                         return_predecessors=True)
    nearest_mismatch = int(np.sum(nearest_node != src))

    # (c) networkx.
    nx_t: list[float] = []
    diff_nx = None
    t_nx_build = None
    if not args.no_networkx:
        import networkx as nx

        t0 = time.perf_counter()
        G = nx.from_scipy_sparse_array(graph, edge_attribute="weight")
        t_nx_build = time.perf_counter() - t0
        sources = set(store_nodes.tolist())
        nx_t, lengths = time_repeats(
            lambda: nx.multi_source_dijkstra_path_length(G, sources, weight="weight"),
            args.nx_repeats)
        d_nx = np.full(n, np.inf)
        d_nx[np.fromiter(lengths.keys(), dtype=np.int64, count=len(lengths))] = np.fromiter(
            lengths.values(), dtype=float, count=len(lengths))
        fin_nx = np.isfinite(d_nx) & np.isfinite(d_engine)
        same_inf = same_inf and np.array_equal(np.isinf(d_nx), np.isinf(d_engine))
        diff_nx = float(np.max(np.abs(d_engine[fin_nx] - d_nx[fin_nx])))
        del G, lengths

    m_engine, m_scipy = median(engine_t), median(scipy_t)
    m_pred = median(scipy_pred_t)
    rows = [
        ["(a) engine DistanceField, 200 stores on nodes", f"{m_engine * 1000:.1f}",
         f"{min(engine_t) * 1000:.1f}", len(engine_t), "1.00"],
        ["(b) scipy dijkstra min_only", f"{m_scipy * 1000:.1f}", f"{min(scipy_t) * 1000:.1f}",
         len(scipy_t), f"{m_scipy / m_engine:.2f}"],
        ["(b') scipy dijkstra min_only + sources", f"{m_pred * 1000:.1f}",
         f"{min(scipy_pred_t) * 1000:.1f}", len(scipy_pred_t), f"{m_pred / m_engine:.2f}"],
    ]
    if nx_t:
        rows.append(["(c) networkx multi_source_dijkstra_path_length",
                     f"{median(nx_t) * 1000:.1f}", f"{min(nx_t) * 1000:.1f}", len(nx_t),
                     f"{median(nx_t) / m_engine:.2f}"])
    rows += [
        ["engine attach_points, 200 stores on nodes", f"{median(att_times) * 1000:.1f}",
         f"{min(att_times) * 1000:.1f}", len(att_times), "-"],
        ["engine attach_points, 200 PBF shops (off-street)",
         f"{median(shop_att_t) * 1000:.1f}", f"{min(shop_att_t) * 1000:.1f}", len(shop_att_t),
         "-"],
        ["engine DistanceField, 200 PBF shops (off-street)",
         f"{median(shop_field_t) * 1000:.1f}", f"{min(shop_field_t) * 1000:.1f}",
         len(shop_field_t), f"{median(shop_field_t) / m_engine:.2f}"],
    ]
    print()
    print(f"all-nodes nearest store: {n:,} nodes, {graph.nnz // 2:,} undirected edges, "
          f"{args.stores} stores  ({info['machine']['date_utc']}, load avg before the run "
          f"{info['machine']['loadavg_1min']})")
    print(table(rows, ["case", "median ms", "min ms", "runs", "÷ engine"]))
    ratio_scipy = m_engine / m_scipy
    ok_scipy = ratio_scipy <= TARGET_SCIPY
    print(f"\nengine / scipy      = {ratio_scipy:.2f}×   (target ≤ {TARGET_SCIPY:g}×: "
          f"{'PASS' if ok_scipy else 'FAIL'});  engine / scipy-with-sources = "
          f"{m_engine / m_pred:.2f}×")
    ok_nx = None
    if nx_t:
        ratio_nx = median(nx_t) / m_engine
        ok_nx = ratio_nx >= TARGET_NX
        print(f"networkx / engine   = {ratio_nx:.1f}×   (target ≥ {TARGET_NX:g}×: "
              f"{'PASS' if ok_nx else 'FAIL'});  networkx Graph build (untimed above) "
              f"{t_nx_build:.2f} s")
    print(f"agreement: max |engine − scipy| = {diff_scipy:.3g} m"
          + (f", max |engine − networkx| = {diff_nx:.3g} m" if diff_nx is not None else "")
          + f", unreachable sets equal: {same_inf}, nearest-store differences "
          f"(ties) = {nearest_mismatch}")
    unreachable = int(np.isinf(d_engine).sum())
    print(f"field: median {np.median(d_engine[fin]):.0f} m, max {d_engine[fin].max():.0f} m, "
          f"{unreachable} unreachable nodes; PBF shops field: median "
          f"{np.median(shop_field.node_distance):.0f} m; peak RSS {peak_rss_mb():.0f} MiB")

    agree = diff_scipy < 1e-6 and (diff_nx is None or diff_nx < 1e-6) and same_inf
    path = save_result("engine", {
        **info, "nodes": n, "edges": int(graph.nnz // 2), "stores": args.stores,
        "load_s": t_load, "csr_build_s": t_csr, "edge_tree_s": t_tree,
        "engine_s": engine_t, "scipy_s": scipy_t, "scipy_with_sources_s": scipy_pred_t,
        "networkx_s": nx_t, "networkx_graph_build_s": t_nx_build,
        "attach_on_nodes_s": att_times, "attach_shops_s": shop_att_t,
        "engine_shops_s": shop_field_t,
        "ratio_engine_scipy": ratio_scipy, "ratio_networkx_engine":
            (median(nx_t) / m_engine) if nx_t else None,
        "max_abs_diff_scipy_m": diff_scipy, "max_abs_diff_networkx_m": diff_nx,
        "nearest_mismatch": nearest_mismatch, "peak_rss_mib": peak_rss_mb(),
    })
    print(f"results: {path}", flush=True)
    if not agree:
        print("ERROR: the engine's distances disagree with scipy/networkx", file=sys.stderr)
        return 1
    return 0 if ok_scipy and ok_nx is not False else 2


def _read_shops(path) -> np.ndarray:
    """(lon, lat) of the stores file written by make_grid.py."""
    import csv

    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([[float(r["lon"]), float(r["lat"])] for r in rows])


if __name__ == "__main__":
    raise SystemExit(main())
