"""The region's own basemap (GET /basemap, issue 18 §2): size and time per zoom.

For the synthetic demo town and the 250,000-node benchmark grid of ``bench_api.py``
(500 × 500 streets 25 m apart, ~500,000 edges, built into ``_data/api_region`` when
missing), per zoom 10–17:

- ``build s``: the first request's cost at that zoom (generalising the whole region once;
  later requests reuse it);
- per view — a phone (360 × 740 px) and a desktop (1280 × 900 px) map centred on the
  region, the box padded as ``static/js/basemap.js`` asks for it — the zoom whose copy
  answers (a lower one where the box is too dense), the lines, the answer's bytes (raw
  and gzipped) and the median time of :data:`REPEATS` answers (``Basemap.view`` and the
  GeoJSON text, as the route computes them; the copies already built);
- what the folium maps embed (``Basemap.embedded``): its zoom, vertices and bytes.

Usage: ``python benchmarks/bench_basemap.py [--only demo|grid]``. Results are printed and
saved to ``benchmarks/results/bench_basemap-*.json`` with the machine's load.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    current_rss_mb,
    import_geo_service,
    machine,
    median,
    save_result,
    table,
    time_repeats,
)

import_geo_service()

REPEATS = 7
VIEWS = {"phone": (360, 740), "desktop": (1280, 900)}
PAD = 0.15  # as basemap.js pads the view


def _demo_region() -> Path:
    folder = HERE / "_data" / "basemap_demo"
    if not (folder / "region" / "region.json").exists():
        from geo_service.jobs.demo import run_demo

        run_demo(folder)
    return folder / "region"


def _grid_region() -> Path:
    from bench_api import build_region

    return build_region()


def view_box(centre: tuple[float, float], zoom: int,
             size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The lon/lat box of a web map of ``size`` px at ``zoom`` centred on ``centre``,
    padded by PAD on every side (Web Mercator)."""
    lon, lat = centre
    scale = 256 * 2 ** zoom
    x = (lon + 180) / 360 * scale
    y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat)))
         / math.pi) / 2 * scale
    w, h = size[0] * (1 + 2 * PAD), size[1] * (1 + 2 * PAD)

    def lonlat(px: float, py: float) -> tuple[float, float]:
        n = math.pi - 2 * math.pi * py / scale
        return px / scale * 360 - 180, math.degrees(math.atan(math.sinh(n)))

    west, north = lonlat(x - w / 2, y - h / 2)
    east, south = lonlat(x + w / 2, y + h / 2)
    return west, south, east, north


def measure(name: str, folder: Path) -> dict:
    import shapely

    from geo_service.api.routes.basemap import MAX_LINES
    from geo_service.engine.basemap import MAX_ZOOM, MIN_ZOOM, Basemap
    from geo_service.engine.region import Region
    from geo_service.reports.maps import EMBED_MAX_VERTICES

    t0 = time.perf_counter()
    region = Region.load(folder)
    load_s = time.perf_counter() - t0
    region.net.edge_geometry  # noqa: B018 — built with the region in a server, not here
    rss_region = current_rss_mb()
    basemap = Basemap.of_region(region.net, region.areas, region.basemap_extras)
    west, south, east, north = region.net.bounds_lonlat()
    centre = ((west + east) / 2, (south + north) / 2)
    rows, out = [], {"region": name, "nodes": region.net.n_nodes, "edges": region.net.n_edges,
                     "load_s": round(load_s, 2), "zooms": []}
    for zoom in range(MIN_ZOOM, MAX_ZOOM + 1):
        t0 = time.perf_counter()
        layer = basemap.layer(zoom)
        build_s = time.perf_counter() - t0
        entry = {"zoom": zoom, "build_s": round(build_s, 3), "features": len(layer.geoms)}
        for view, size in VIEWS.items():
            box = view_box(centre, zoom, size)

            def answer(box=box, zoom=zoom) -> tuple[int, int, str]:
                used, rows = basemap.view(zoom, box, max_lines=MAX_LINES)
                return used.zoom, len(rows), used.geojson(rows)

            times, (used, lines, text) = time_repeats(answer, REPEATS)
            raw = text.encode()
            entry[view] = {"zoom_used": used, "lines": lines, "bytes": len(raw),
                           "gzip_bytes": len(gzip.compress(raw, 6)),
                           "median_ms": round(median(times) * 1000, 2)}
        out["zooms"].append(entry)
        rows.append([str(zoom), f"{build_s:.2f}", f"{len(layer.geoms):,}",
                     *(f"z{entry[v]['zoom_used']} {entry[v]['lines']:,} / "
                       f"{entry[v]['bytes'] / 1e3:,.0f} kB "
                       f"({entry[v]['gzip_bytes'] / 1e3:,.0f} kB gz) / "
                       f"{entry[v]['median_ms']:.1f} ms" for v in VIEWS)])
    t0 = time.perf_counter()
    embedded = basemap.embedded(EMBED_MAX_VERTICES)
    text = embedded.geojson()
    out["rss_mib"] = round(current_rss_mb(), 0)
    out["rss_region_mib"] = round(rss_region, 0)
    out["embedded"] = {"zoom": embedded.zoom, "features": len(embedded.geoms),
                       "vertices": int(shapely.get_num_coordinates(embedded.geoms).sum()),
                       "bytes": len(text.encode()),
                       "seconds": round(time.perf_counter() - t0, 2)}
    print(f"\n## {name}: {region.net.n_nodes:,} nodes, {region.net.n_edges:,} edges "
          f"(loaded in {load_s:.1f} s)\n")
    print(table(rows, ["zoom", "build s", "lines", *(
        f"{v} {w}×{h}: zoom used, lines / bytes / time" for v, (w, h) in VIEWS.items())]))
    e = out["embedded"]
    print(f"\nprocess memory: {rss_region:,.0f} MiB with the region loaded, "
          f"{out['rss_mib']:,.0f} MiB with every zoom built")
    print(f"folium embeds zoom {e['zoom']}: {e['features']:,} features, "
          f"{e['bytes'] / 1e3:,.0f} kB ({e['seconds']:.1f} s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["demo", "grid"])
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} cpus, "
          f"load {info['loadavg_1min']} (1 min)")
    results = []
    if args.only in (None, "demo"):
        results.append(measure("demo town", _demo_region()))
    if args.only in (None, "grid"):
        results.append(measure("bench grid 250k", _grid_region()))
    info["loadavg_1min_after"] = round(__import__("os").getloadavg()[0], 2)
    print(f"\nload after: {info['loadavg_1min_after']}")
    print(f"saved {save_result('bench_basemap', {'machine': info, 'results': results})}")


if __name__ == "__main__":
    main()
