"""The API while the registry changes (issue 19, item 3).

The issue's goals, on the 250,000-node region of ``bench_api.py`` with its 5,000
resources, on SQLite and on PostGIS: with 20 clients and an edit every second, p95 of
``/nearby`` and ``/reach`` under 50 ms; during a 40,000-row import, no request over
500 ms.

What it does, per backend and run (``--runs``, medians reported):

1. fills a fresh registry with the 5,000 resources of ``bench_api.py`` and an admin;
2. starts the API on loopback as deployed (uvicorn, ``--workers`` processes, one by
   default, ``GEO_SERVICE_THREADS`` threads each) and warms it up (``--warmup`` s);
3. **edits**: an admin moves a random resource to a random place every ``--edit-every``
   seconds (each move changes its category's distance field, rebuilt in every worker)
   while 20 clients load ``/nearby`` and then ``/reach`` in a closed loop (each sends its
   next request when the answer arrives; asyncio on raw sockets) for ``--seconds`` each;
4. **import**: uploads a 40,000-row list (places inside the region) for real while
   probing ``/health``, ``/nearby`` and ``/reach`` at a constant rate (``--rate`` req/s,
   latency from each request's scheduled time, so a stalled server shows), until the
   import is written and every worker answers from the registry with the new rows;
5. records p50/p95/p99/max, the edits' statuses, and the machine's load
   (``os.getloadavg()`` before and after: the machine is shared).

``--source DIR`` serves another source tree (e.g. ``git worktree add /tmp/old main``) for
a before/after comparison.

Usage::

    python benchmarks/bench_api_live.py [--backend sqlite|postgis|both] [--runs 3]

Results: printed and written to ``benchmarks/results/bench_api_live-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, RESULTS, bench_backends, import_geo_service, serve_api  # noqa: E402
from bench_api import REGION_DIR, bounds, build_region, fill_registry, registry_items  # noqa: E402
from bench_import import HEADER  # noqa: E402

import_geo_service()

DATA = HERE / "_data"
ADMIN = ("bench", "bench-pass-1")


def write_import(rows: int, b: tuple[float, float, float, float]) -> Path:
    """A coordinator's list of ``rows`` places inside the region (written once)."""
    path = DATA / f"live_import_{rows // 1000}k.csv"
    if path.exists():
        return path
    rng = random.Random(7)
    w, s, e, n = b
    DATA.mkdir(exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for k in range(rows):
            out.writerow([f"ふれあいサロン{k:05d}", f"フレアイサロン{k:05d}", "通いの場", "",
                          f"{rng.uniform(s + 0.002, n - 0.002):.6f}",
                          f"{rng.uniform(w + 0.002, e - 0.002):.6f}", "", "", "体操とお茶会",
                          "無料", "", "10:00～12:00", "どなたでも", "", "2025/4/1", "公開"])
    return path


def stats(ms: list[float]) -> dict:
    a = np.array(ms)
    return {"requests": len(a), "p50_ms": float(np.percentile(a, 50)),
            "p95_ms": float(np.percentile(a, 95)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}


class Connection:
    """A keep-alive HTTP/1.1 connection on loopback, opened again when the server closed
    it (a closed connection counts as an error answer)."""

    def __init__(self, port: int) -> None:
        self.port, self.streams = port, None

    async def get(self, path: str) -> bytes:
        """GET ``path``: the status line (``b""`` when the connection was closed)."""
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            return head.split(b"\r\n", 1)[0]
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            self.streams = None
            return b""

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def closed_loop(port: int, make, seconds: float, clients: int) -> dict:
    """``clients`` connections, each sending its next request when the answer arrives."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        conn = Connection(port)
        while time.perf_counter() < end:
            t = time.perf_counter()
            status = await conn.get(make())
            latencies.append((time.perf_counter() - t) * 1000)
            errors += not status.endswith(b"200 OK")
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return stats(latencies) | {"errors": errors, "rps": len(latencies) / seconds}


async def open_loop(port: int, makes: dict, rate: float, until, clients: int = 8) -> dict:
    """Requests of each kind in turn every ``1/rate`` s until ``until()`` holds; latency
    from the scheduled time (a held-back request counts its wait)."""
    start = time.perf_counter() + 0.05
    due = iter(start + k / rate for k in range(10**9))
    kinds = iter(list(makes) * 10**8)
    out: dict[str, list[float]] = {k: [] for k in makes}
    errors = Counter()

    async def connection() -> None:
        conn = Connection(port)
        while not until():
            at, kind = next(due), next(kinds)
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            status = await conn.get(makes[kind]())
            out[kind].append((time.perf_counter() - at) * 1000)
            errors[kind] += not status.endswith(b"200 OK")
        conn.close()

    await asyncio.gather(*(connection() for _ in range(clients)))
    return {k: stats(v) | {"errors": errors[k]} for k, v in out.items() if v}


async def editor(base: str, ids: list[str], b, every: float, stop: asyncio.Event) -> Counter:
    """Move a random resource to a random place every ``every`` seconds."""
    import httpx

    rng = random.Random(3)
    w, s, e, n = b
    statuses: Counter = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        r = await client.post("/auth/token", data=dict(zip(("username", "password"), ADMIN,
                                                            strict=True)))
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        while not stop.is_set():
            t = time.perf_counter()
            r = await client.patch(f"/resources/{rng.choice(ids)}", headers=headers, json={
                "lon": rng.uniform(w + 0.01, e - 0.01), "lat": rng.uniform(s + 0.01, n - 0.01)})
            statuses[r.status_code] += 1
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - t)))
    return statuses


def one_run(url: str, args: argparse.Namespace, b, items: list, csv_path: Path) -> dict:
    from geo_service.registry.auth import hash_password
    from geo_service.registry.store import ResourceFilter, open_store

    fill_registry(url, items)
    store = open_store(url)
    store.add_user(ADMIN[0], hash_password(ADMIN[1]), role="admin")
    # places only: a place's move changes its category's field
    ids = [r.id for r in store.all(ResourceFilter(include_staff=True))
           if r.lon is not None and r.service_area.kind == "none"]
    count = store.count()
    store.engine.dispose()
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_REGION_DIR=str(REGION_DIR),
               GEO_SERVICE_THREADS=str(args.threads), GEO_SERVICE_DATA_DIR=str(DATA),
               GEO_SERVICE_MAX_UPLOAD_BYTES=str(100_000_000),
               PYTHONPATH=str(args.source.resolve()))
    rng = random.Random(1)
    w, s, e, n = b

    def point() -> str:
        return f"lat={rng.uniform(s, n):.6f}&lon={rng.uniform(w, e):.6f}"

    makes = {"nearby": lambda: f"/nearby?{point()}&minutes=15",
             "reach": lambda: f"/reach?{point()}", "health": lambda: "/health"}
    out: dict = {"load_before": os.getloadavg()}
    with serve_api(env, port=args.port, workers=args.workers, cwd=args.source) as base:
        asyncio.run(closed_loop(args.port, makes["reach"], args.warmup, args.clients))
        asyncio.run(closed_loop(args.port, makes["nearby"], args.warmup / 2, args.clients))

        async def with_edits() -> dict:
            stop = asyncio.Event()
            edits = asyncio.create_task(editor(base, ids, b, args.edit_every, stop))
            result = {k: await closed_loop(args.port, makes[k], args.seconds, args.clients)
                      for k in ("nearby", "reach")}
            stop.set()
            return result | {"edit_statuses": dict(await edits)}

        out["edits"] = asyncio.run(with_edits())

        async def during_import() -> dict:
            import httpx

            async with httpx.AsyncClient(base_url=base, timeout=600) as client:
                r = await client.post("/auth/token", data=dict(zip(
                    ("username", "password"), ADMIN, strict=True)))
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                t0 = time.perf_counter()
                upload = asyncio.create_task(client.post(
                    "/resources/import", headers=headers,
                    files={"file": (csv_path.name, csv_path.read_bytes(), "text/csv")}))
                expected = count + args.import_rows
                seen: list[int] = []  # /health counts (public) once the import is written

                async def watch() -> None:
                    while not upload.done() or seen[-args.workers * 3:].count(expected) < (
                            args.workers * 3):
                        h = (await client.get("/health")).json()
                        if upload.done():
                            seen.append(h["resources"])
                        await asyncio.sleep(0.05)

                watcher = asyncio.create_task(watch())
                probes = await open_loop(args.port, makes, args.rate, watcher.done)
                report = (await upload).json()
                return {"probes": probes, "import_s": time.perf_counter() - t0,
                        "written": report.get("written"), "resources_after": seen[-1]}

        out["import"] = asyncio.run(during_import())
    out["load_after"] = os.getloadavg()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="both")
    p.add_argument("--runs", type=int, default=3)
    # one worker process, as bench_import.py: the import and the probes meet in it (with
    # several, uvicorn's supervisor kills a worker that misses its 5 s health check, which
    # a worker starved on a machine loaded 8× over may do)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=20, help="per endpoint, with edits")
    p.add_argument("--warmup", type=float, default=10)
    p.add_argument("--edit-every", type=float, default=1.0)
    p.add_argument("--import-rows", type=int, default=40_000)
    p.add_argument("--rate", type=float, default=30, help="probe req/s during the import")
    p.add_argument("--port", type=int, default=8797)
    p.add_argument("--source", type=Path, default=REPO)
    args = p.parse_args()
    build_region()
    b = bounds()
    items = registry_items(b)
    csv_path = write_import(args.import_rows, b)
    backends = bench_backends(args.backend, DATA / "live_registry.sqlite3")
    results: dict = {"cpus": os.cpu_count(), "source": str(args.source.resolve()),
                     "args": {k: str(v) for k, v in vars(args).items()}, "backends": {}}
    for name, url in backends:
        runs = [one_run(url, args, b, items, csv_path) for _ in range(args.runs)]
        med = {}
        for phase, key in (("edits", "nearby"), ("edits", "reach")):
            med[f"{key} with edits"] = {m: statistics.median(r[phase][key][m] for r in runs)
                                        for m in ("p50_ms", "p95_ms", "p99_ms", "max_ms",
                                                  "errors")}
        for kind in ("health", "nearby", "reach"):
            med[f"{kind} during import"] = {m: statistics.median(
                r["import"]["probes"][kind][m] for r in runs) for m in ("p95_ms", "max_ms",
                                                                        "errors")}
            med[f"{kind} during import"]["worst_max_ms"] = max(
                r["import"]["probes"][kind]["max_ms"] for r in runs)
        results["backends"][name] = {"runs": runs, "median": med}
        for label, m in med.items():
            print(f"[{name}] {label:24s} " + "  ".join(f"{k} {v:7.1f}" for k, v in m.items()))
        print(f"[{name}] load (1 min) per run: "
              + ", ".join(f"{r['load_before'][0]:.1f}→{r['load_after'][0]:.1f}" for r in runs))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_api_live-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
