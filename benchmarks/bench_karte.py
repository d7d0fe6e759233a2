"""地域カルテ benchmark: every karte of a 150-area layer (issue 10's target: under 60 s).

The region is the synthetic demo (``geo_service.jobs.demo.run_demo``: streets, 1,432 demand
points, the demo registry of 19 resources) with an extra area layer of ``--cols`` ×
``--rows`` (15 × 10 = 150) equal boxes over the network's extent — as many areas as
飯塚市's 町丁, whose streets are not available offline here. Timed:

- **numbers**: :func:`geo_service.reports.karte.layer_kartes` (difficulty, profiles, two gap
  rankings, resources; the layer-wide numbers once, then per area);
- **HTML**: ``write_kartes`` without PDF (numbers, maps, one HTML page per area and
  ``kartes.json``, written atomically) — what ``geo-service karte`` does;
- **HTML + PDF**: ``write_kartes(pdf=True)`` — the above plus one PDF per area and the
  combined ``kartes.pdf`` through Chromium (Playwright, ``/usr/bin/chromium``), including
  the browser's start.

Each from a fresh :class:`WalkingService` (its caches empty), median of ``--repeats``
(the PDF run once unless ``--pdf-repeats``).

Usage::

    python benchmarks/bench_karte.py [--cols 15 --rows 10] [--repeats 3] [--no-pdf]
    python benchmarks/bench_karte.py --region benchmarks/_data/api_region \
        --registry benchmarks/_data/api_registry.sqlite3      # bench_api's 250,000 nodes

Results: printed and written to ``benchmarks/results/bench_karte-<time>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import import_geo_service, machine, median, save_result, table

import_geo_service()


def grid_layer(region, cols: int, rows: int):  # type: ignore[no-untyped-def]
    """An area layer of cols × rows boxes over the network's extent (metric CRS)."""
    import geopandas as gpd
    import shapely

    from geo_service.inputs.boundaries import AreaLayer

    minx, miny = region.net.node_xy.min(axis=0) - 1.0
    maxx, maxy = region.net.node_xy.max(axis=0) + 1.0
    w, h = (maxx - minx) / cols, (maxy - miny) / rows
    boxes, ids, names = [], [], []
    for r in range(rows):
        for c in range(cols):
            boxes.append(shapely.box(minx + c * w, miny + r * h, minx + (c + 1) * w,
                                     miny + (r + 1) * h))
            ids.append(f"G{r:02d}{c:02d}")
            names.append(f"格子{r + 1}-{c + 1}")
    areas = gpd.GeoDataFrame({"area_id": ids, "name": names}, geometry=boxes,
                             crs=region.net.crs)
    return AreaLayer(f"格子{cols * rows}", areas)


def seed_random(store, region, seed: int) -> None:  # type: ignore[no-untyped-def]
    """A small registry on random network nodes of ``region``: 40 food stores, 30 salons
    with a weekly schedule, 5 mobile-sales stops and a city-wide 配食."""
    import numpy as np

    from geo_service.registry.resources import ResourceFields
    from geo_service.service.walking import serve_region

    serve_region(store, region)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(region.net.n_nodes, 75, replace=False)
    xy = region.net.node_xy[nodes]
    lon, lat = region.net.from_geographic.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    for k, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if k < 40:
            store.add(ResourceFields(name=f"店舗{k + 1}", category="food_store", lon=x, lat=y))
        elif k < 70:
            store.add(ResourceFields(name=f"サロン{k - 39}", category="salon", lon=x, lat=y,
                                     schedule={"weekdays": ["wed"], "start": "10:00",
                                               "end": "11:30"}, fee={"kind": "free"}))
        else:
            store.add(ResourceFields(name=f"移動販売{k - 69}", category="mobile_sales",
                                     lon=x, lat=y))
    store.add(ResourceFields(name="市の配食", category="meal_delivery",
                             service_area={"kind": "municipality"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cols", type=int, default=15)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pdf-repeats", type=int, default=1)
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--region", type=Path, help="a saved region folder instead of the demo "
                    "(e.g. benchmarks/_data/api_region, bench_api's 250,000 nodes)")
    ap.add_argument("--registry", type=Path, help="its registry (SQLite file; a copy is "
                    "used); default with --region: 76 resources on random nodes")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from geo_service.cli.karte import write_kartes
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo
    from geo_service.jobs.demo_registry import seed_demo_registry
    from geo_service.registry.store import open_store
    from geo_service.reports.karte import layer_kartes
    from geo_service.service.walking import WalkingService

    tmp = Path(tempfile.mkdtemp(prefix="bench-karte-"))
    if args.region is None:
        run_demo(tmp / "demo")
        base = Region.load(tmp / "demo" / "region")
    else:
        base = Region.load(args.region)
    layer = grid_layer(base, args.cols, args.rows)
    region = dataclasses.replace(base, areas=[*base.areas, layer])
    if args.registry is not None:
        shutil.copy(args.registry, tmp / "registry.sqlite3")
    store = open_store(f"sqlite:///{tmp / 'registry.sqlite3'}")
    if args.region is None:
        seed_demo_registry(store, base)
    elif args.registry is None:
        seed_random(store, base, args.seed)
    n_areas = len(layer.areas)

    def fresh() -> WalkingService:
        return WalkingService(region, store)

    timings: dict[str, list[float]] = {"numbers": [], "html": [], "html+pdf": []}
    for _ in range(args.repeats):
        w = fresh()
        t = time.perf_counter()
        kartes = layer_kartes(w, layer.name)
        timings["numbers"].append(time.perf_counter() - t)
        assert len(kartes) == n_areas
    for k in range(args.repeats):
        w = fresh()
        t = time.perf_counter()
        paths = write_kartes(w, layer.name, tmp / f"html{k}")
        timings["html"].append(time.perf_counter() - t)
        assert sum(p.suffix == ".html" for p in paths) == n_areas
    pages = None
    if not args.no_pdf:
        for k in range(args.pdf_repeats):
            w = fresh()
            t = time.perf_counter()
            paths = write_kartes(w, layer.name, tmp / f"pdf{k}", pdf=True)
            timings["html+pdf"].append(time.perf_counter() - t)
            assert sum(p.suffix == ".pdf" for p in paths) == n_areas + 1
        info = subprocess.run(["pdfinfo", str(tmp / "pdf0" / "kartes.pdf")],
                              capture_output=True, text=True, check=False).stdout
        pages = next((int(line.split()[-1]) for line in info.splitlines()
                      if line.startswith("Pages:")), None)
    rows = [[name, f"{median(v):.2f} s", ", ".join(f"{x:.2f}" for x in v)]
            for name, v in timings.items() if v]
    print(f"{n_areas} areas ({layer.name}) on {region.name} "
          f"({region.net.n_nodes} nodes, {len(region.demand)} demand points)")
    print(table(rows, ["step", "median", "runs (s)"]))
    if pages is not None:
        print(f"kartes.pdf: {pages} pages")
    payload = {"region": region.name, "resources": store.count(), "areas": n_areas,
               "nodes": region.net.n_nodes,
               "demand_points": len(region.demand), "combined_pdf_pages": pages,
               "seconds": timings, "median_s": {k: median(v) for k, v in timings.items()
                                                if v},
               "machine": machine()}
    print(f"results: {save_result('bench_karte', payload)}")


if __name__ == "__main__":
    main()
