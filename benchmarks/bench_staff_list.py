"""A prefecture's registry in the staff list (issue 19, item 4).

The goal: with 50,000 resources, each page of the staff list (search, filter, sort and
page on the server) answers in under 300 ms, on SQLite and on PostGIS.

What it does, reproducibly (fixed seed):

1. fills a registry with 50,000 resources (``--resources``): 25 areas, every category,
   addresses 福岡県飯塚市立岩N, one in ten staff-only, a fifth never verified (the SQLite
   file ``benchmarks/_data/staff_list_registry.sqlite3`` is reused when it holds them;
   PostGIS from ``GEO_SERVICE_BENCH_PG_URL`` or ``GEO_SERVICE_TEST_PG_URL``, wiped);
2. starts the API on loopback as deployed (uvicorn, one worker, no region);
3. asks, as a coordinator of one area and as an admin, for the pages the staff page asks
   for — the first page as it opens (own areas, newest first), a search by name, by
   category name and by address, filters by category, area and verification, sorts by
   name, category and verification, a page deep in the list — ``--repeat`` times each;
4. reports the median, p95 and maximum per query (HTTP included), and the machine's load.

Usage::

    python benchmarks/bench_staff_list.py [--resources 50000] [--repeat 15]

Results: printed and written to ``benchmarks/results/bench_staff_list-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, bench_backends, import_geo_service, serve_api  # noqa: E402

import_geo_service()

DATA = HERE / "_data"
SEED = 20261206
AREAS = [f"D{k:02d}" for k in range(25)]
USERS = {"admin": ("bench-admin", "bench-pass-1"), "coordinator": ("bench-coord", "bench-pass-2")}

QUERIES = {  # name: (who, query string)
    "opens (own areas, newest first)": ("coordinator",
                                        "mine=true&sort=updated_at&order=desc&limit=50"),
    "all, newest first": ("admin", "sort=updated_at&order=desc&limit=50"),
    "search a name": ("admin", "q=資源01234&limit=50"),
    "search a category name (サロン)": ("admin", "q=サロン&sort=name&limit=50"),
    "search an address (立岩123)": ("admin", "q=立岩123&limit=50"),
    "category + area + unverified": ("admin",
                                     "category=salon&area=D03&unverified_months=12&limit=50"),
    "sort by category, page 2": ("admin", "sort=category&limit=50&offset=50"),
    "sort by verification, staff-only": ("admin",
                                         "sort=last_verified&order=desc&visibility=staff"),
    "by name, page 801 of 1000": ("admin", "sort=name&limit=50&offset=40000"),
    "own areas, search, by name": ("coordinator", "mine=true&q=体操&sort=name&limit=50"),
}


def items(n: int) -> list:
    from geo_service.layers import load_vocabulary
    from geo_service.registry.resources import ResourceFields

    rng = random.Random(SEED)
    cats = list(load_vocabulary().by_id)
    today = date(2026, 12, 1)
    out = []
    for k in range(n):
        verified = None if rng.random() < 0.2 else today - timedelta(days=rng.randrange(1100))
        out.append(ResourceFields(
            name=f"地域資源{k:05d}", kana=f"チイキシゲン{k:05d}", category=rng.choice(cats),
            area=rng.choice(AREAS), address=f"福岡県飯塚市立岩{rng.randrange(3000)}",
            description=rng.choice(["体操と茶話会", "お弁当の配達", "買い物の送迎", "相談窓口"]),
            visibility="staff" if rng.random() < 0.1 else "public", last_verified=verified))
    return out


def fill(url: str, n: int) -> None:
    from geo_service.registry.auth import hash_password
    from geo_service.registry.store import open_store
    from geo_service.registry.store.testing import fresh_store

    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.exists() and open_store(url).count() == n:
            return
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        store = open_store(url)
    else:
        os.environ["GEO_SERVICE_TEST_PG_URL"] = url
        store = fresh_store("postgis", Path("."))
    t0 = time.perf_counter()
    every = items(n)
    for start in range(0, n, 5000):
        store.add_many(every[start:start + 5000], user="bench")
    store.add_user(USERS["admin"][0], hash_password(USERS["admin"][1]), role="admin")
    store.add_user(USERS["coordinator"][0], hash_password(USERS["coordinator"][1]),
                   role="coordinator", areas=["D07"])
    print(f"registry: {store.count()} resources written in {time.perf_counter() - t0:.0f} s")


def measure(url: str, repeat: int, port: int) -> dict:
    import httpx

    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_DATA_DIR=str(DATA))
    env.pop("GEO_SERVICE_REGION_DIR", None)
    out = {}
    with serve_api(env, port=port) as base, httpx.Client(base_url=base, timeout=60) as client:
        headers = {}
        for who, (user, password) in USERS.items():
            token = client.post("/auth/token", data={"username": user, "password": password})
            headers[who] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for name, (who, query) in QUERIES.items():
            ms, total = [], None
            for k in range(repeat + 1):
                t = time.perf_counter()
                r = client.get(f"/resources?{query}", headers=headers[who])
                if k:  # the first is a warm-up
                    ms.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                total = r.json()["total"]
            out[name] = {"median_ms": statistics.median(ms), "p95_ms": sorted(ms)[
                int(0.95 * (len(ms) - 1))], "max_ms": max(ms), "total": total}
            print(f"  {name:36s} median {out[name]['median_ms']:6.1f} ms  p95 "
                  f"{out[name]['p95_ms']:6.1f}  max {out[name]['max_ms']:6.1f}  ({total} match)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resources", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="both")
    p.add_argument("--port", type=int, default=8798)
    args = p.parse_args()
    backends = bench_backends(args.backend, DATA / "staff_list_registry.sqlite3")
    DATA.mkdir(exist_ok=True)
    results: dict = {"resources": args.resources, "repeat": args.repeat,
                     "cpus": os.cpu_count(), "backends": {}}
    for name, url in backends:
        fill(url, args.resources)
        load_before = os.getloadavg()
        print(f"[{name}] load {load_before[0]:.2f}")
        results["backends"][name] = {"queries": measure(url, args.repeat, args.port),
                                     "load_before": load_before, "load_after": os.getloadavg()}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_staff_list-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
