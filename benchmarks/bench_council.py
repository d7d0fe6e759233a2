"""The council coverage table at a real registry's size (issue 19, item 2: < 2 s for 150
areas × 5,000 resources, and linear beyond).

The region is bench_api's 250,000-node grid (25,000 demand points on gentle hills) with
its area layer replaced by **150 areas** (a 15 × 10 grid of rectangles, ids ``D00`` …
``D149``, so bench_api's 小学校区 service areas ``D00`` … ``D24`` still name areas),
saved once under ``benchmarks/_data/council_region``. The registry is bench_api's 5,000
resources (places of every place category, 500 polygon services, 500 radius / walking-time
/ 小学校区 services, 50 whole-city 配食 and 450 mobile-sales routes with stops) in a SQLite
file; ``--scale 2 4`` adds runs with 2× and 4× the resources (and, at 2×, 300 areas) to
see how the time grows.

Timed, each run on a fresh :class:`WalkingService` (every in-memory cache empty),
median of ``--repeats``: ``area_profiles`` of the whole layer (what ``/profiles/{layer}``,
the karte and the council table read), **cold** (the region's ``cache/`` removed first:
the first request after the registry changed everywhere) and **warm** (what was saved
with the region for this registry is read again: a later process, a restarted API). The
service's construction (binding the registry) is timed apart.
CPU time of the process and the machine's load average (a shared 2-core machine) are
recorded with every run.

Usage::

    python benchmarks/bench_council.py [--repeats 5] [--scale 2 4]

Results: printed and written to ``benchmarks/results/bench_council-<time>.json``. Run it
with ``PYTHONPATH=<an older checkout>`` to time older code on the same data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import import_geo_service, machine, median, save_result, table  # noqa: E402

import_geo_service()

DATA = HERE / "_data" / "council"
SEED = 20261206


def build_region(n_areas: int) -> Path:
    """bench_api's region with ``n_areas`` rectangles (15 columns) as its area layer."""
    import geopandas as gpd
    import numpy as np
    import shapely
    from bench_api import build_region as api_region

    from geo_service.engine.region import Region
    from geo_service.inputs.boundaries import AreaLayer

    folder = DATA / f"region_{n_areas}"
    if (folder / "region.json").exists():
        return folder
    region = Region.load(api_region())
    (x0, y0), (x1, y1) = region.net.node_xy.min(axis=0), region.net.node_xy.max(axis=0)
    cols = 15
    rows = -(-n_areas // cols)
    w, h = (x1 - x0 + 1) / cols, (y1 - y0 + 1) / rows
    boxes = [shapely.box(x0 + i * w, y0 + j * h, x0 + (i + 1) * w, y0 + (j + 1) * h)
             for j in range(rows) for i in range(cols)][:n_areas]
    areas = gpd.GeoDataFrame({"area_id": [f"D{k:02d}" for k in range(n_areas)],
                              "name": [f"第{k + 1}地区" for k in range(n_areas)]},
                             geometry=boxes, crs=region.net.crs)
    assert np.isfinite(region.net.node_xy).all()
    Region(region.net, region.demand, [AreaLayer("小学校区", areas)], region.resources,
           name=f"council bench {n_areas}").save(folder)
    return folder


def build_registry(region_dir: Path, copies: int) -> str:
    """bench_api's 5,000 resources ``copies`` times over, in a SQLite file (made once)."""
    from bench_api import registry_items

    from geo_service.engine.region import Region
    from geo_service.registry.store import open_store

    path = DATA / f"registry_{region_dir.name}_{copies}.sqlite3"
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    region = Region.load(region_dir)
    store = open_store(url, layers={a.name: a for a in region.areas})
    items = registry_items(region.net.bounds_lonlat())
    for _ in range(copies):
        store.add_many(items, user="bench")
    return url


def time_profiles(region_dir: Path, url: str, repeats: int) -> dict:
    import shutil

    from geo_service.engine.region import Region
    from geo_service.registry.store import ResourceFilter, open_store
    from geo_service.service.service_coverage import area_profiles
    from geo_service.service.walking import WalkingService

    region = Region.load(region_dir)
    _ = region.demand_attachment  # the region's own, computed once
    layer = region.areas[0].name
    out: dict = {"cold": [], "warm": []}
    rows: list = []
    for k in range(2 * repeats + 1):  # the first run warms numba and the imports
        cold = k <= repeats
        if cold:  # nothing saved for this registry: what the first request pays
            shutil.rmtree(region_dir / "cache", ignore_errors=True)
        c0, t0 = time.process_time(), time.perf_counter()
        walking = WalkingService(region, open_store(url))
        t1 = time.perf_counter()
        rows = area_profiles(walking, layer, staff=True)
        t2 = time.perf_counter()
        if k:
            out["cold" if cold else "warm"].append(
                {"service_s": t1 - t0, "profiles_s": t2 - t1,
                 "cpu_s": time.process_time() - c0, "loadavg_1min": os.getloadavg()[0]})
    store = walking.store
    services = sum(1 for r in store.all(ResourceFilter(include_staff=True))
                   if r.service_area.kind != "none")
    covering = sum(len(c["covering"]) for r in rows for c in r["categories"].values())
    summary = {f"{kind}_{m}": median([r[m] for r in out[kind]]) for kind in ("cold", "warm")
               for m in ("service_s", "profiles_s", "cpu_s", "loadavg_1min")}
    return {"areas": len(rows), "resources": store.count(include_staff=True),
            "services": services, "covering_pairs": covering, "runs": out, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scale", type=int, nargs="*", default=[2, 4],
                        help="also runs with this many times the resources")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    runs = [(150, 1), *((300 if k == 2 else 150, k) for k in args.scale)]
    results = []
    for n_areas, copies in runs:
        region_dir = build_region(n_areas)
        url = build_registry(region_dir, copies)
        r = time_profiles(region_dir, url, args.repeats)
        results.append(r)
        print(f"{r['areas']} areas × {r['resources']:,} resources: area_profiles cold "
              f"{r['cold_profiles_s']:.2f} s (CPU {r['cold_cpu_s']:.2f} s), warm "
              f"{r['warm_profiles_s']:.2f} s", flush=True)
    rows = [[f"{r['areas']}", f"{r['resources']:,}", f"{r['services']:,}",
             f"{r['covering_pairs']:,}", f"{r['cold_service_s']:.2f} s",
             f"{r['cold_profiles_s']:.2f} s", f"{r['cold_cpu_s']:.2f} s",
             f"{r['warm_profiles_s']:.2f} s", f"{r['warm_cpu_s']:.2f} s",
             f"{r['cold_loadavg_1min']:.1f}"] for r in results]
    print(table(rows, ["areas", "resources", "services", "area × service pairs",
                       "WalkingService", "area_profiles cold", "CPU cold (both)",
                       "area_profiles warm", "CPU warm", "load (1 min)"]))
    first = results[0]
    print(f"target < 2 s at 150 areas × 5,000 resources: cold wall "
          f"{'met' if first['cold_profiles_s'] < 2 else 'missed'}, cold CPU "
          f"{'met' if first['cold_cpu_s'] < 2 else 'missed'}")
    print("saved", save_result("bench_council", {"machine": machine(),
                                                 "repeats": args.repeats, "runs": results}))


if __name__ == "__main__":
    main()
