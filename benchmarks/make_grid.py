"""Generate the benchmark region: a synthetic OSM PBF street grid and its companion files.

Everything is deterministic for a given ``--seed`` (numpy ``default_rng``): two runs write
byte-identical files, the PBF included (with the same numpy/pyproj/osmium). Output (default
``benchmarks/_data/``, git-ignored):

- ``grid.osm.pbf``: a ``--size`` × ``--size`` street grid (default 317 × 317 = 100,489
  walkable nodes, ~200,000 edges) with ``--spacing`` metres between streets (default 80 m),
  centred on lon 130.9, lat 33.9 (北九州 area, JGD2011 zone II). Node positions are jittered
  by up to ±``--jitter`` m so edge lengths differ and shortest paths have no ties. Streets are
  split into OSM ways of 6–14 blocks tagged ``highway=secondary|tertiary|residential|
  living_street|unclassified|footway``. ``--shops`` shop nodes (default 200, tags
  ``shop=supermarket|convenience|greengrocer``, ``name``, ``ref``) stand 12–25 m off a
  street inside a block, as real shops do.
- ``stores.csv`` / ``stores.geojson``: the same shops as a store file
  (``store_id, category, name, lon, lat``).
- ``population.csv``: ``--points`` demand points (default 100,000: ``point_id, lon, lat,
  pop_total, pop_65plus``) holding exactly ``--people`` people (default 1,000,000); the 65+
  share varies smoothly from ~22 % in the centre to ~42 % at the edges. The same rows as
  EPSG:4326 points in ``population.geojson`` and ``population.gpkg``.
- ``areas.geojson``: ``--areas`` × ``--areas`` rectangular areas (default 10 × 10 = 100,
  ``area_id, name``) tiling the grid, EPSG:4326.
- ``manifest.json``: the parameters and counts.

Usage::

    python benchmarks/make_grid.py                 # default benchmark region
    python benchmarks/make_grid.py --size 60 --points 5000 --out /tmp/small   # a small one

All synthetic: no real streets, shops or people.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from pyproj import Transformer

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "_data"

CENTER_LON, CENTER_LAT = 130.9, 33.9
METRIC_CRS = "EPSG:6670"  # JGD2011 / Japan Plane Rectangular CS II (北九州)
CATEGORIES = ("supermarket", "convenience", "greengrocer")
CATEGORY_P = (0.35, 0.50, 0.15)
CATEGORY_JA = {"supermarket": "スーパー", "convenience": "コンビニ", "greengrocer": "八百屋"}
NODE_ID0 = 1_000_000_000  # OSM ids of grid nodes start here
SHOP_ID0 = 2_000_000_000
WAY_ID0 = 100_000_000
TIMESTAMP = "2024-01-01T00:00:00Z"
#: The demand points, the same rows in each format a user may give them in.
POPULATION_FILES = ("population.csv", "population.geojson", "population.gpkg")


def grid_params(args: argparse.Namespace) -> dict:
    """The parameters that define the region (written to the manifest)."""
    return {
        "size": args.size, "spacing_m": args.spacing, "jitter_m": args.jitter,
        "shops": args.shops, "points": args.points, "people": args.people,
        "areas": args.areas, "seed": args.seed, "center_lonlat": [CENTER_LON, CENTER_LAT],
        "metric_crs": METRIC_CRS, "population_formats": list(POPULATION_FILES),
    }


def make_region(args: argparse.Namespace) -> dict:
    """Build all arrays of the region (metric and geographic), without writing anything."""
    rng = np.random.default_rng(args.seed)
    n, s = args.size, args.spacing
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    to_geo = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    cx, cy = to_metric.transform(CENTER_LON, CENTER_LAT)
    half = (n - 1) * s / 2
    x0, y0 = cx - half, cy - half

    # Grid nodes, row-major: node (i, j) has index j * n + i (i = column/east, j = row/north).
    ii, jj = np.meshgrid(np.arange(n), np.arange(n))
    jitter = rng.uniform(-args.jitter, args.jitter, size=(n * n, 2))
    node_xy = np.column_stack([x0 + ii.ravel() * s, y0 + jj.ravel() * s]) + jitter
    node_lon, node_lat = to_geo.transform(node_xy[:, 0], node_xy[:, 1])

    # Ways: every row and every column, cut into pieces of 6..14 blocks.
    ways: list[tuple[np.ndarray, str]] = []
    for line in range(n):
        for along_rows in (True, False):
            idx = (line * n + np.arange(n)) if along_rows else (np.arange(n) * n + line)
            if line % 20 == 0:
                kind = "secondary"
            elif line % 5 == 0:
                kind = "tertiary"
            else:
                kind = None
            start = 0
            while start < n - 1:
                stop = min(n - 1, start + int(rng.integers(6, 15)))
                hw = kind or str(rng.choice(
                    ["residential", "living_street", "unclassified", "footway"],
                    p=[0.7, 0.1, 0.1, 0.1]))
                ways.append((idx[start:stop + 1], hw))
                start = stop

    # Shops: in a random block, beside a random side, 12-25 m off the street.
    k = args.shops
    cell = rng.choice((n - 1) * (n - 1), size=k, replace=False)
    ci, cj = cell % (n - 1), cell // (n - 1)
    side = rng.integers(0, 4, size=k)  # 0 south, 1 north, 2 west, 3 east
    along = rng.uniform(0.25, 0.75, size=k) * s
    off = rng.uniform(12, 25, size=k)
    bx, by = x0 + ci * s, y0 + cj * s
    shop_x = np.select([side == 0, side == 1, side == 2], [bx + along, bx + along, bx + off],
                       bx + s - off)
    shop_y = np.select([side == 0, side == 1, side == 2], [by + off, by + s - off, by + along],
                       by + along)
    shop_lon, shop_lat = to_geo.transform(shop_x, shop_y)
    shop_cat = rng.choice(CATEGORIES, size=k, p=CATEGORY_P)

    # Demand points: uniform inside the grid (30 m inside its edge), exactly `people` people,
    # at least one each; the 65+ share grows from the centre (22 %) to the edges (42 %).
    m = args.points
    px = rng.uniform(x0 + 30, x0 + 2 * half - 30, size=m)
    py = rng.uniform(y0 + 30, y0 + 2 * half - 30, size=m)
    weight = rng.lognormal(0.0, 0.6, size=m)
    pop = 1 + rng.multinomial(args.people - m, weight / weight.sum())
    radius = np.hypot(px - cx, py - cy) / (half * np.sqrt(2))
    share = 0.22 + 0.20 * radius
    pop65 = rng.binomial(pop, share)
    p_lon, p_lat = to_geo.transform(px, py)

    # Areas: a tiling of the grid's box (half a block beyond the outer streets).
    a = args.areas
    edges_x = np.linspace(x0 - s / 2, x0 + 2 * half + s / 2, a + 1)
    edges_y = np.linspace(y0 - s / 2, y0 + 2 * half + s / 2, a + 1)
    corner_lon, corner_lat = to_geo.transform(*np.meshgrid(edges_x, edges_y))
    areas = []
    for r in range(a):
        for c in range(a):
            ring = [(c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1), (c, r)]
            coords = [[round(float(corner_lon[y, x]), 8), round(float(corner_lat[y, x]), 8)]
                      for x, y in ring]
            areas.append({"area_id": f"A{r * a + c + 1:03d}",
                          "name": f"第{r + 1:02d}-{c + 1:02d}地区", "coords": coords})

    return {
        "node_lon": node_lon, "node_lat": node_lat, "ways": ways,
        "shop_lon": shop_lon, "shop_lat": shop_lat, "shop_cat": shop_cat,
        "point_lon": p_lon, "point_lat": p_lat, "pop": pop, "pop65": pop65, "areas": areas,
    }


def write_pbf(path: Path, region: dict) -> None:
    """Write nodes (grid, then shops) and ways to an OSM PBF with pyosmium."""
    import osmium
    from osmium.osm.mutable import Node, Way

    header = osmium.io.Header()
    header.set("generator", "geo-service benchmarks/make_grid.py")
    lon, lat = region["node_lon"], region["node_lat"]
    header.add_box(osmium.osm.Box(float(lon.min()) - 0.01, float(lat.min()) - 0.01,
                                  float(lon.max()) + 0.01, float(lat.max()) + 0.01))
    common = {"version": 1, "changeset": 1, "uid": 1, "user": "synthetic",
              "timestamp": TIMESTAMP}
    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path), header=header)
    try:
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            writer.add_node(Node(id=NODE_ID0 + i, location=(x, y), **common))
        for i, (x, y, cat) in enumerate(zip(region["shop_lon"].tolist(),
                                            region["shop_lat"].tolist(),
                                            region["shop_cat"].tolist(), strict=True)):
            tags = {"shop": cat, "name": f"{CATEGORY_JA[cat]} {i + 1:03d}号店",
                    "ref": f"S{i + 1:04d}"}
            writer.add_node(Node(id=SHOP_ID0 + i, location=(x, y), tags=tags, **common))
        for w, (idx, highway) in enumerate(region["ways"]):
            writer.add_way(Way(id=WAY_ID0 + w, nodes=(NODE_ID0 + idx).tolist(),
                               tags={"highway": highway}, **common))
    finally:
        writer.close()


def write_companions(out: Path, region: dict) -> None:
    """Write stores (CSV, GeoJSON), demand points (CSV) and areas (GeoJSON)."""
    k = len(region["shop_lon"])
    store_rows = [
        (f"S{i + 1:04d}", cat, f"{CATEGORY_JA[cat]} {i + 1:03d}号店", round(x, 7), round(y, 7))
        for i, (x, y, cat) in enumerate(zip(region["shop_lon"].tolist(),
                                            region["shop_lat"].tolist(),
                                            region["shop_cat"].tolist(), strict=True))
    ]
    assert len(store_rows) == k
    with open(out / "stores.csv", "w", encoding="utf-8", newline="") as f:
        f.write("store_id,category,name,lon,lat\n")
        f.writelines(f"{a},{b},{c},{x:.7f},{y:.7f}\n" for a, b, c, x, y in store_rows)
    features = [
        {"type": "Feature",
         "properties": {"store_id": a, "category": b, "name": c},
         "geometry": {"type": "Point", "coordinates": [x, y]}}
        for a, b, c, x, y in store_rows
    ]
    _write_json(out / "stores.geojson", {"type": "FeatureCollection", "features": features})

    lon, lat = region["point_lon"], region["point_lat"]
    pop, pop65 = region["pop"], region["pop65"]
    with open(out / "population.csv", "w", encoding="utf-8", newline="") as f:
        f.write("point_id,lon,lat,pop_total,pop_65plus\n")
        f.writelines(
            f"P{i + 1:06d},{x:.7f},{y:.7f},{t},{o}\n"
            for i, (x, y, t, o) in enumerate(zip(lon.tolist(), lat.tolist(), pop.tolist(),
                                                 pop65.tolist(), strict=True)))
    write_population_vectors(out)

    features = [
        {"type": "Feature", "properties": {"area_id": a["area_id"], "name": a["name"]},
         "geometry": {"type": "Polygon", "coordinates": [a["coords"]]}}
        for a in region["areas"]
    ]
    _write_json(out / "areas.geojson", {"type": "FeatureCollection", "features": features})


def write_population_vectors(out: Path) -> None:
    """``population.geojson`` and ``population.gpkg``: the rows of ``population.csv`` as
    EPSG:4326 points (``point_id, pop_total, pop_65plus``), as a user may give them."""
    import geopandas as gpd
    import pandas as pd

    df = pd.read_csv(out / "population.csv", dtype={"point_id": str, "lon": str, "lat": str})
    with open(out / "population.geojson", "w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        f.write(",\n".join(
            f'{{"type":"Feature","properties":{{"point_id":"{i}","pop_total":{t},'
            f'"pop_65plus":{o}}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}'
            for i, x, y, t, o in zip(df["point_id"], df["lon"], df["lat"], df["pop_total"],
                                     df["pop_65plus"], strict=True)))
        f.write("\n]}\n")
    gdf = gpd.GeoDataFrame(df[["point_id", "pop_total", "pop_65plus"]],
                           geometry=gpd.points_from_xy(df["lon"].astype(float),
                                                       df["lat"].astype(float)),
                           crs="EPSG:4326")
    (out / "population.gpkg").unlink(missing_ok=True)
    gdf.to_file(out / "population.gpkg", layer="population", engine="pyogrio")


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


def ensure_region(out: Path = DEFAULT_OUT, argv: list[str] | None = None) -> Path:
    """Generate the region into ``out`` unless a manifest with the same parameters is there."""
    args = parse_args(["--out", str(out), *(argv or [])])
    manifest = out / "manifest.json"
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if old.get("params") == grid_params(args) and all(
                (out / f).exists() for f in old.get("files", [])):
            return out
    main(["--out", str(out), *(argv or [])])
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    p.add_argument("--size", type=int, default=317, help="nodes per grid side (317 → 100,489)")
    p.add_argument("--spacing", type=float, default=80.0, help="metres between streets")
    p.add_argument("--jitter", type=float, default=8.0, help="max node jitter, metres")
    p.add_argument("--shops", type=int, default=200)
    p.add_argument("--points", type=int, default=100_000, help="demand points")
    p.add_argument("--people", type=int, default=1_000_000, help="total population")
    p.add_argument("--areas", type=int, default=10, help="areas per side (10 → 100)")
    p.add_argument("--seed", type=int, default=20240601)
    args = p.parse_args(argv)
    if args.people < args.points:
        p.error("--people must be at least --points (every point holds someone)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    region = make_region(args)
    write_pbf(out / "grid.osm.pbf", region)
    write_companions(out, region)
    files = ["grid.osm.pbf", "stores.csv", "stores.geojson", *POPULATION_FILES,
             "areas.geojson"]
    manifest = {
        "params": grid_params(args), "files": files,
        "counts": {"nodes": len(region["node_lon"]), "ways": len(region["ways"]),
                   "shops": len(region["shop_lon"]), "points": len(region["pop"]),
                   "people": int(region["pop"].sum()),
                   "people_65plus": int(region["pop65"].sum()),
                   "areas": len(region["areas"])},
        "note": "synthetic benchmark region (no real streets, shops or people)",
    }
    _write_json(out / "manifest.json", manifest)
    c = manifest["counts"]
    print(f"wrote {out}/ in {time.perf_counter() - t0:.1f} s: {c['nodes']:,} nodes, "
          f"{c['ways']:,} ways, {c['shops']} shops, {c['points']:,} demand points with "
          f"{c['people']:,} people ({c['people_65plus']:,} aged 65+), {c['areas']} areas",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
