"""API latency under load: /nearby, /reach and a filtered /resources list.

The issue's target: on a region of 250,000 walk nodes with 5,000 resources, p95 under
50 ms for /nearby and /reach and under 30 ms for the filtered list, at 20 concurrent
clients on loopback, on the SQLite default and on PostGIS.

What it does, reproducibly (fixed seed):

1. builds a synthetic region — a 500 × 500 street grid, 25 m spacing (12.5 km square,
   250,000 nodes, ~500,000 edges) on a gentle hill so walking times are slope-aware —
   and saves it under ``benchmarks/_data/api_region`` (reused when present);
2. fills a registry with 5,000 resources (places of every place category, plus services
   with polygon, 小学校区, radius, walking-time and whole-city service areas, and
   mobile-sales routes), on SQLite and, when ``GEO_SERVICE_BENCH_PG_URL`` (or
   ``GEO_SERVICE_TEST_PG_URL``) names a PostGIS database it may wipe, on PostGIS;
3. starts the API on loopback as a deployment would (uvicorn with httptools/uvloop,
   ``--workers`` processes, ``GEO_SERVICE_THREADS`` threads each, access log off) and warms
   every worker up (caches of located resources, serialised features, service areas);
4. **closed loop** (the issue's "20 concurrent clients"): loads each endpoint with random
   query points from 20 connections, each sending its next request when the previous
   answer arrives: with ``wrk`` when it is installed (Debian package ``wrk``; 2 threads, a
   Lua script makes the random requests), otherwise with an asyncio + httpx client in
   Python (which itself takes CPU from the server);
5. **constant rate** (context, ``--rate``; 0 skips it): the same requests at a fixed offered
   rate over 20 connections (an asyncio client on raw sockets; each latency counts from the
   request's scheduled time, so waiting for a free connection is included).

Usage::

    python benchmarks/bench_api.py [--workers 2] [--threads 2] [--seconds 20] [--rate 100]

Results: printed and written to ``benchmarks/results/bench_api-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, bench_backends, import_geo_service, serve_api  # noqa: E402

import_geo_service()

REGION_DIR = HERE / "_data" / "api_region"
N_SIDE, SPACING = 500, 25.0
N_RESOURCES = 5000
SEED = 20261122


def build_region() -> Path:
    """The 250,000-node grid region (saved once)."""
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    from geo_service.engine.network import WalkNetwork
    from geo_service.engine.region import Region
    from geo_service.inputs.boundaries import AreaLayer

    if (REGION_DIR / "region.json").exists():
        return REGION_DIR
    t0 = time.perf_counter()
    x0, y0 = Transformer.from_crs(4326, 6670, always_xy=True).transform(130.75, 33.75)
    ii, jj = np.meshgrid(np.arange(N_SIDE), np.arange(N_SIDE), indexing="xy")
    ii, jj = ii.ravel(), jj.ravel()
    xy = np.column_stack([x0 + ii * SPACING, y0 + jj * SPACING])
    idx = np.arange(N_SIDE * N_SIDE).reshape(N_SIDE, N_SIDE)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    z = 40 * np.sin(ii / 60.0) + 0.004 * jj * SPACING  # hills and a slope to the north
    net = WalkNetwork.from_edges(np.arange(len(xy)), xy, u, v, None, crs="EPSG:6670",
                                 node_z=z, source="bench grid")
    rng = np.random.default_rng(SEED)
    pick = rng.choice(len(xy), 25_000, replace=False)
    pop = rng.uniform(5, 30, len(pick))
    demand = gpd.GeoDataFrame({"point_id": [f"p{k}" for k in pick], "pop_total": pop,
                               "pop_65plus": pop * 0.3, "pop_75plus": pop * 0.15},
                              geometry=shapely.points(xy[pick]), crs="EPSG:6670")
    side = N_SIDE * SPACING / 5
    boxes = [shapely.box(x0 + i * side - 12.5, y0 + j * side - 12.5,
                         x0 + (i + 1) * side - 12.5, y0 + (j + 1) * side - 12.5)
             for j in range(5) for i in range(5)]
    areas = gpd.GeoDataFrame({"area_id": [f"D{k:02d}" for k in range(25)],
                              "name": [f"第{k + 1}小学校" for k in range(25)]},
                             geometry=boxes, crs="EPSG:6670")
    stores = gpd.GeoDataFrame({"store_id": ["F1"], "name": ["store"],
                               "category": ["supermarket"]},
                              geometry=[shapely.Point(x0 + 6000, y0 + 6000)], crs="EPSG:6670")
    Region(net, demand, [AreaLayer("小学校区", areas)], {"food_stores": stores},
           name="bench grid 250k").save(REGION_DIR)
    print(f"region built in {time.perf_counter() - t0:.1f} s: {net.n_nodes} nodes, "
          f"{net.n_edges} edges")
    return REGION_DIR


def bounds() -> tuple[float, float, float, float]:
    from geo_service.engine.network import WalkNetwork

    return WalkNetwork.load(REGION_DIR / "network.npz").bounds_lonlat()


def registry_items(b: tuple[float, float, float, float]) -> list:
    """5,000 resources spread over the region (fixed seed)."""
    from geo_service.layers import load_vocabulary
    from geo_service.registry.resources import ResourceFields

    rng = random.Random(SEED)
    vocab = load_vocabulary()
    places = [k for k, c in vocab.by_id.items() if c.kind == "place"]
    services = [k for k, c in vocab.by_id.items() if c.kind == "service"]
    w, s, e, n = b
    items = []
    for k in range(N_RESOURCES):
        lon, lat = rng.uniform(w, e), rng.uniform(s, n)
        kind = k % 10
        common = {"name": f"資源{k:05d}", "kana": f"シゲン{k:05d}",
                  "description": rng.choice(["体操と茶話会", "お弁当の配達", "買い物の送迎",
                                             "見守りと声かけ", "相談窓口"]),
                  "schedule": {"weekdays": rng.sample(["mon", "tue", "wed", "thu", "fri",
                                                       "sat", "sun"], 2)},
                  "fee": {"kind": rng.choice(["free", "paid"])},
                  "area": f"D{rng.randrange(25):02d}"}
        if kind < 7:
            items.append(ResourceFields(category=rng.choice(places), lon=lon, lat=lat,
                                        **common))
        elif kind == 7:
            d = 0.01
            poly = {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
                                                        [lon + d, lat + d], [lon - d, lat + d],
                                                        [lon - d, lat - d]]]}
            items.append(ResourceFields(category=rng.choice(services), **common,
                                        service_area={"kind": "polygon", "geometry": poly}))
        elif kind == 8:
            sa = rng.choice([{"kind": "radius", "radius_m": 800.0},
                             {"kind": "walk", "minutes": 10.0},
                             {"kind": "areas", "layer": "小学校区",
                              "area_ids": [f"D{rng.randrange(25):02d}"]}])
            items.append(ResourceFields(category=rng.choice(services), lon=lon, lat=lat,
                                        service_area=sa, **common))
        elif k % 100 == 9:
            items.append(ResourceFields(category="配食", **common,
                                        service_area={"kind": "municipality"}))
        else:
            stops = [{"lon": rng.uniform(w, e), "lat": rng.uniform(s, n),
                      "weekday": rng.choice(["mon", "wed", "fri"]), "time": "10:00"}
                     for _ in range(3)]
            common["schedule"] = {"stops": stops}
            items.append(ResourceFields(category="移動販売", **common))
    return items


def fill_registry(url: str, items: list) -> None:
    from geo_service.engine.region import Region
    from geo_service.registry.store import open_store
    from geo_service.registry.store.testing import fresh_store

    region = Region.load(REGION_DIR)
    layers = {a.name: a for a in region.areas}
    if url.startswith("postgresql"):
        os.environ["GEO_SERVICE_TEST_PG_URL"] = url
        store = fresh_store("postgis", Path("."), layers=layers)
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        store = open_store(url, layers=layers)
    t0 = time.perf_counter()
    store.add_many(items, user="bench")
    print(f"registry: {store.count()} resources written in {time.perf_counter() - t0:.1f} s")


async def load(base: str, make_url, n_requests: int, clients: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(n_requests))

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for _ in counter:
            url = make_url()
            t = time.perf_counter()
            r = await client.get(url)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "errors": errors, "rps": len(ms) / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


async def load_at_rate(port: int, make_url, rate: float, seconds: float, clients: int) -> dict:
    """Open-loop load: requests scheduled every ``1/rate`` s, sent on ``clients`` keep-alive
    connections; latency from the scheduled time to the last byte of the answer."""
    n = int(rate * seconds)
    start = time.perf_counter() + 0.2
    schedule: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    for k in range(n):
        schedule.put_nowait((start + k / rate, quote(make_url(), safe="/?&=,.-")))
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not schedule.empty():
            due, url = schedule.get_nowait()
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    await asyncio.gather(*(connection() for _ in range(clients)))
    ms = np.array(latencies) * 1000
    return {"offered_rps": rate, "requests": len(ms), "errors": errors,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "generator": "asyncio, constant rate"}


WRK_SCRIPT = """
math.randomseed(%(seed)d)
local w, s, e, n = %(w).7f, %(s).7f, %(e).7f, %(n).7f
local kind = "%(kind)s"
local cats = {"salon", "food_store", "consultation", "meal_delivery", "watching"}
request = function()
  local lat = s + math.random() * (n - s)
  local lon = w + math.random() * (e - w)
  local path
  if kind == "health" then
    path = "/health"
  elseif kind == "nearby" then
    path = string.format("/nearby?lat=%%.6f&lon=%%.6f&minutes=15", lat, lon)
  elseif kind == "reach" then
    path = string.format("/reach?lat=%%.6f&lon=%%.6f", lat, lon)
  else
    local x = w + math.random() * (e - w - 0.02)
    local y = s + math.random() * (n - s - 0.02)
    path = string.format("/resources?category=%%s&weekday=mon&limit=50"
                         .. "&bbox=%%.5f,%%.5f,%%.5f,%%.5f",
                         cats[math.random(#cats)], x, y, x + 0.02, y + 0.02)
  end
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%d %%.1f %%.1f %%.1f %%.1f\\n", summary.requests,
    errs, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""


def load_wrk(base: str, kind: str, b, seconds: int, clients: int) -> dict:
    """Closed-loop load with wrk (C, low overhead): ``clients`` connections, 2 threads."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"seed": SEED, "w": b[0], "s": b[1], "e": b[2], "n": b[3],
                              "kind": kind})
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s",
                          "-s", f.name, base], capture_output=True, text=True, check=True)
    Path(f.name).unlink()
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    n, errors, duration_us, p50, p95, p99, mx = line.split()[1:]
    return {"requests": int(n), "errors": int(errors), "rps": int(n) / (int(duration_us) / 1e6),
            "p50_ms": float(p50) / 1000, "p95_ms": float(p95) / 1000,
            "p99_ms": float(p99) / 1000, "max_ms": float(mx) / 1000, "generator": "wrk"}


def run_backend(name: str, url: str, args: argparse.Namespace, b) -> dict:
    port = args.port
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_REGION_DIR=str(REGION_DIR),
               GEO_SERVICE_THREADS=str(args.threads))
    with serve_api(env, port=port, workers=args.workers) as base:
        rng = random.Random(1)
        w, s, e, n = b
        vocab_cats = ["サロン", "食料品店", "相談窓口", "配食", "見守り"]

        def point() -> str:
            return f"lat={rng.uniform(s, n):.6f}&lon={rng.uniform(w, e):.6f}"

        def nearby() -> str:
            return f"/nearby?{point()}&minutes=15"

        def reach() -> str:
            return f"/reach?{point()}"

        def listing() -> str:
            lon, lat = rng.uniform(w, e - 0.02), rng.uniform(s, n - 0.02)
            return (f"/resources?category={rng.choice(vocab_cats)}&weekday=mon&limit=50"
                    f"&bbox={lon:.5f},{lat:.5f},{lon + 0.02:.5f},{lat + 0.02:.5f}")

        def health() -> str:
            return "/health"

        # warm every worker: located resources, serialised features, service areas
        t0 = time.perf_counter()
        use_wrk = shutil.which("wrk") is not None and not args.python_client
        for kind, make in (("nearby", nearby), ("reach", reach)):
            if use_wrk:
                load_wrk(base, kind, b, args.warmup, args.clients)
            else:
                asyncio.run(load(base, make, 200 * args.workers, args.clients))
        print(f"[{name}] warm-up {time.perf_counter() - t0:.1f} s")
        out: dict = {"closed_loop": {}, "constant_rate": {}}
        kinds = (("nearby", nearby), ("reach", reach), ("resources", listing),
                 ("health", health))
        for label, make in kinds:
            if use_wrk:
                r = load_wrk(base, label, b, args.seconds, args.clients)
            else:
                r = asyncio.run(load(base, make, args.requests, args.clients))
            out["closed_loop"][label] = r
            print(f"[{name}] closed loop, {args.clients} clients: {label:9s} "
                  f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms"
                  f"  p99 {r['p99_ms']:6.1f} ms  {r['rps']:6.0f} req/s  errors {r['errors']}")
        for label, make in kinds if args.rate > 0 else ():
            r = asyncio.run(load_at_rate(port, make, args.rate, args.seconds, args.clients))
            out["constant_rate"][label] = r
            print(f"[{name}] constant {args.rate:g} req/s: {label:9s} "
                  f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms"
                  f"  p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}")
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--threads", type=int, default=2, help="threads per worker process")
    p.add_argument("--rate", type=float, default=100,
                   help="offered req/s of the constant-rate runs (0: skip them)")
    p.add_argument("--warmup", type=int, default=10, help="seconds of warm-up per route")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=1000,
                   help="requests per endpoint with the Python client")
    p.add_argument("--seconds", type=int, default=20, help="seconds per endpoint with wrk")
    p.add_argument("--python-client", action="store_true",
                   help="use the asyncio/httpx client even when wrk is installed")
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="both")
    args = p.parse_args()
    build_region()
    b = bounds()
    items = registry_items(b)
    backends = bench_backends(args.backend, HERE / "_data" / "api_registry.sqlite3")
    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
               "region_nodes": N_SIDE * N_SIDE, "resources": N_RESOURCES,
               "clients": args.clients, "workers": args.workers, "threads": args.threads,
               "rate": args.rate, "backends": {}}
    for name, url in backends:
        fill_registry(url, items)
        results["backends"][name] = run_backend(name, url, args, b)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_api-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
