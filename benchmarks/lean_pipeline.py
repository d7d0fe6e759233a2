"""A lean, hand-written shopping-difficulty pipeline: the baseline geo-service is measured against.

pyrosm + shapely + scipy (+ numpy/pandas for arrays and CSV), no validation, no map, no
atomic writes, one fixed file layout (the files of ``make_grid.py``). It does the same
computation as ``geo-service difficulty``:

1. read the PBF's walking network with pyrosm, project it to a metric CRS,
   build a symmetric CSR matrix of edge lengths (duplicates reduced to the shortest);
2. read stores (CSV lon/lat), demand points (CSV lon/lat, pop_total, pop_65plus) and areas
   (GeoJSON polygons) and project them;
3. attach stores and points to their nearest edge (STRtree nearest + line_locate_point);
4. one multi-source Dijkstra from virtual sources (one per store, with edges to both ends of
   its edge weighted connector + offset) → distance and nearest store for every node; per
   point ``connector + min(a + D[u], L − a + D[v])``, points sharing an edge with a store
   handled directly; straight-line distance to the nearest store with a KD-tree;
5. per area (point in polygon with an STRtree): 65+ total, 65+ beyond the threshold by
   network and by straight line (count and share), median and 90th percentile network
   distance, stores in the area;
6. write ``points.csv``, ``areas.csv`` (UTF-8 with BOM), ``areas.geojson`` and
   ``points.geojson`` (as geo-service does; ``--no-points-geojson`` to skip). No map.

Usage::

    python benchmarks/lean_pipeline.py --data benchmarks/_data --out /tmp/lean [--report r.json]

``--report`` writes per-stage wall time and memory (current and peak RSS) as JSON.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyrosm  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402
from scipy import sparse  # noqa: E402
from scipy.sparse.csgraph import dijkstra  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402


class Stages:
    """Records wall time, current RSS and peak RSS at the end of each stage."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.t = T_START

    def done(self, name: str) -> None:
        now = time.perf_counter()
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * resource.getpagesize() / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.rows.append({"stage": name, "seconds": now - self.t, "rss_mib": rss,
                          "peak_rss_mib": peak})
        self.t = now


def utm_crs(lon: float, lat: float) -> str:
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def run(data: Path, out: Path, *, threshold_m: float = 500.0, speed_mps: float = 1.0,
        crs: str = "EPSG:6670", points_geojson: bool = True,
        stages: Stages | None = None) -> Stages:
    st = stages or Stages()
    st.done("import")

    # 1. network ------------------------------------------------------------------------
    nodes, edges = pyrosm.OSM(str(data / "grid.osm.pbf")).get_network(
        network_type="walking", nodes=True)
    node_ids = nodes["id"].to_numpy(np.int64)
    lon, lat = nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float)
    if crs == "utm":
        crs = utm_crs(float(np.median(lon)), float(np.median(lat)))
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    node_xy = np.column_stack(fwd.transform(lon, lat))
    order = np.argsort(node_ids)
    u = order[np.searchsorted(node_ids, edges["u"].to_numpy(np.int64), sorter=order)]
    v = order[np.searchsorted(node_ids, edges["v"].to_numpy(np.int64), sorter=order)]
    geoms = np.asarray(edges.geometry.values, dtype=object)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    geoms = shapely.set_coordinates(geoms.copy(), np.column_stack(
        fwd.transform(coords[:, 0], coords[:, 1])))
    first = np.searchsorted(index, np.arange(len(geoms)))
    start = shapely.get_coordinates(geoms)[first]
    flip = np.hypot(*(start - node_xy[v]).T) < np.hypot(*(start - node_xy[u]).T)
    geoms[flip] = shapely.reverse(geoms[flip])
    length = shapely.length(geoms)
    del nodes, edges
    n = len(node_xy)
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    w = np.concatenate([length, length])
    keep = rows != cols
    rows, cols, w = rows[keep], cols[keep], w[keep]
    o = np.lexsort((w, cols, rows))
    rows, cols, w = rows[o], cols[o], w[o]
    uniq = np.ones(len(rows), bool)
    uniq[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows[uniq], minlength=n), out=indptr[1:])
    graph = sparse.csr_matrix((w[uniq], cols[uniq], indptr), shape=(n, n))
    tree = shapely.STRtree(geoms)
    st.done("network")

    # 2. inputs ---------------------------------------------------------------------------
    stores = pd.read_csv(data / "stores.csv", dtype={"store_id": str})
    store_xy = np.column_stack(fwd.transform(stores["lon"].to_numpy(), stores["lat"].to_numpy()))
    pts = pd.read_csv(data / "population.csv", dtype={"point_id": str})
    pt_xy = np.column_stack(fwd.transform(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    areas = json.loads((data / "areas.geojson").read_text(encoding="utf-8"))["features"]
    area_geo = shapely.from_geojson([json.dumps(f["geometry"]) for f in areas])
    area_poly = shapely.transform(area_geo, lambda c: np.column_stack(
        fwd.transform(c[:, 0], c[:, 1])))
    st.done("read inputs")

    # 3. attach -----------------------------------------------------------------------------
    def attach(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = shapely.points(xy)
        (which, e), d = tree.query_nearest(p, return_distance=True, all_matches=False)
        srt = np.argsort(which, kind="stable")
        e, d = e[srt], d[srt]
        a = np.clip(shapely.line_locate_point(geoms[e], p), 0, length[e])
        return e, a, d

    s_e, s_a, s_c = attach(store_xy)
    p_e, p_a, p_c = attach(pt_xy)
    st.done("attach")

    # 4. distance field -----------------------------------------------------------------
    k = len(s_e)
    su, sv, sl = u[s_e], v[s_e], length[s_e]
    vind = np.concatenate([graph.indices, np.column_stack([su, sv]).ravel()])
    vdat = np.concatenate([graph.data, np.column_stack([s_a + s_c, sl - s_a + s_c]).ravel()])
    vptr = np.concatenate([graph.indptr, graph.indptr[-1] + 2 * np.arange(1, k + 1)])
    big = sparse.csr_matrix((vdat, vind, vptr), shape=(n + k, n + k))
    D, _, src = dijkstra(big, directed=True, indices=np.arange(n, n + k), min_only=True,
                         return_predecessors=True)
    D, near = D[:n], np.where(src[:n] >= 0, src[:n] - n, -1)
    pu, pv, pl = u[p_e], v[p_e], length[p_e]
    via_u, via_v = p_a + D[pu], pl - p_a + D[pv]
    dist = p_c + np.minimum(via_u, via_v)
    nearest = np.where(via_u <= via_v, near[pu], near[pv])
    # points on a store's edge: walk along the edge directly
    pairs = pd.DataFrame({"e": p_e, "p": np.arange(len(p_e))}).merge(
        pd.DataFrame({"e": s_e, "s": np.arange(k)}), on="e")
    if len(pairs):
        pp, ss = pairs["p"].to_numpy(), pairs["s"].to_numpy()
        direct = p_c[pp] + np.abs(p_a[pp] - s_a[ss]) + s_c[ss]
        best = pd.Series(direct).groupby(pp).idxmin().to_numpy()
        better = direct[best] < dist[pp[best]]
        dist[pp[best][better]] = direct[best][better]
        nearest[pp[best][better]] = ss[best][better]
    reachable = np.isfinite(dist)
    nearest = np.where(reachable, nearest, -1)
    straight, _ = cKDTree(store_xy).query(pt_xy)
    st.done("distance field")

    # 5. areas ------------------------------------------------------------------------------
    a_tree = shapely.STRtree(area_poly)
    pi, ai = a_tree.query(shapely.points(pt_xy), predicate="within")
    pop65 = pts["pop_65plus"].to_numpy(float)
    na = len(areas)
    beyond = ~(dist[pi] <= threshold_m)
    beyond_s = straight[pi] > threshold_m
    tot = np.bincount(ai, pop65[pi], na).round().astype(np.int64)
    bey = np.bincount(ai, pop65[pi] * beyond, na).round().astype(np.int64)
    bey_s = np.bincount(ai, pop65[pi] * beyond_s, na).round().astype(np.int64)
    q = pd.DataFrame({"a": ai, "d": dist[pi]}).groupby("a")["d"].quantile([0.5, 0.9])
    q = q.unstack().reindex(range(na))
    si, sa = a_tree.query(shapely.points(store_xy), predicate="within")
    del si
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "layer": "areas",
            "area_id": [f["properties"]["area_id"] for f in areas],
            "name": [f["properties"]["name"] for f in areas],
            "pop_65plus": tot, "beyond_65plus": bey, "beyond_share": bey / tot,
            "beyond_65plus_straight": bey_s, "beyond_share_straight": bey_s / tot,
            "median_m": q[0.5].to_numpy(), "p90_m": q[0.9].to_numpy(),
            "stores_in_area": np.bincount(sa, minlength=na),
        })
    st.done("aggregate")

    # 6. outputs ----------------------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    store_ids = stores["store_id"].to_numpy()
    point_table = pd.DataFrame({
        "point_id": pts["point_id"], "lon": pts["lon"], "lat": pts["lat"],
        "pop_total": pts["pop_total"], "pop_65plus": pts["pop_65plus"],
        "network_m": np.where(reachable, np.round(dist, 2), np.nan),
        "walk_min": np.where(reachable, np.round(dist / speed_mps / 60, 2), np.nan),
        "straight_m": np.round(straight, 2),
        "nearest_store_id": np.where(nearest >= 0, store_ids[np.maximum(nearest, 0)], ""),
        "reachable": reachable,
    })
    point_table.to_csv(out / "points.csv", index=False, encoding="utf-8-sig")
    if points_geojson:
        # one JSON line of properties per point (pandas writes NaN as null), coordinates as text
        props = point_table.drop(columns=["lon", "lat"]).to_json(
            orient="records", lines=True, force_ascii=False).splitlines()
        lonlat = np.round(pts[["lon", "lat"]].to_numpy(), 7).tolist()
        with open(out / "points.geojson", "w", encoding="utf-8") as f:
            f.write('{"type":"FeatureCollection","features":[\n')
            f.write(",\n".join(
                f'{{"type":"Feature","properties":{pr},"geometry":{{"type":"Point",'
                f'"coordinates":[{x!r},{y!r}]}}}}' for pr, (x, y) in zip(props, lonlat,
                                                                           strict=True)))
            f.write("\n]}\n")
    table.to_csv(out / "areas.csv", index=False, encoding="utf-8-sig", float_format="%.4f")
    features = [
        {"type": "Feature", "geometry": f["geometry"],
         "properties": {k2: (None if isinstance(v2, float) and np.isnan(v2) else v2)
                        for k2, v2 in rec.items()}}
        for f, rec in zip(areas, table.astype(object).to_dict("records"), strict=True)
    ]
    (out / "areas.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": features}, ensure_ascii=False,
        default=lambda o: o.item()), encoding="utf-8")
    st.done("write outputs")
    return st


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="folder written by make_grid.py")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threshold", type=float, default=500.0)
    p.add_argument("--crs", default="EPSG:6670",
                   help="metric CRS (default JGD2011 zone II, the one geo-service picks for "
                        "the benchmark region; 'utm' for the UTM zone of the data)")
    p.add_argument("--report", type=Path, help="write per-stage timings/memory as JSON here")
    p.add_argument("--no-points-geojson", action="store_true",
                   help="skip points.geojson (geo-service writes it, so by default lean does)")
    args = p.parse_args(argv)
    st = run(args.data, args.out, threshold_m=args.threshold, crs=args.crs,
             points_geojson=not args.no_points_geojson)
    if args.report:
        args.report.write_text(json.dumps({"stages": st.rows}, indent=1), encoding="utf-8")
    total = sum(r["seconds"] for r in st.rows)
    print(f"lean pipeline: {total:.2f} s, peak RSS {st.rows[-1]['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
