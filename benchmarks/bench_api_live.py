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
   next request when the answer arrives) for ``--seconds`` each: with ``wrk`` when it is
   installed, as ``bench_api.py`` (C, low overhead: the load generator shares the cores),
   otherwise (or with ``--python-client``) asyncio on raw sockets;
4. **import**: uploads a 40,000-row list (places inside the region) for real (``curl``,
   a process of its own) while a prober of its own (``_probe.py``: raw sockets, its
   collector off, so that its pauses never count as the server's) sends ``/health``,
   ``/nearby`` and ``/reach`` at a constant rate (``--rate`` req/s; latency from each
   request's scheduled time, so a stalled server shows; those over 200 ms listed with
   their time from the start, which is half a second before the upload's), until the
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
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, RESULTS, bench_backends, import_geo_service, serve_api  # noqa: E402
from _probe import closed_loop, requests  # noqa: E402
from bench_api import (  # noqa: E402
    REGION_DIR,
    bounds,
    build_region,
    fill_registry,
    load_wrk,
    registry_items,
)
from bench_import import HEADER  # noqa: E402

import_geo_service()

DATA = HERE / "_data"
ADMIN = ("bench", "bench-pass-1")
PROBE = HERE / "_probe.py"


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


async def upload_file(base: str, headers: dict[str, str], path: Path) -> dict:
    """POST ``path`` to ``/resources/import`` from a process of its own (``curl``), as a
    coordinator's browser would: the probes' client does not stall while it sends."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--fail-with-body", "-H",
        f"Authorization: {headers['Authorization']}", "-F", f"file=@{path};type=text/csv",
        f"{base}/resources/import", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)


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
    makes = requests(list(b))
    out: dict = {"load_before": os.getloadavg()}
    with serve_api(env, port=args.port, workers=args.workers, cwd=args.source) as base:
        asyncio.run(closed_loop(args.port, makes["reach"], args.warmup, args.clients))
        asyncio.run(closed_loop(args.port, makes["nearby"], args.warmup / 2, args.clients))

        async def load(kind: str) -> dict:
            if args.python_client:
                return await closed_loop(args.port, makes[kind], args.seconds, args.clients)
            return await asyncio.to_thread(load_wrk, base, kind, b, int(args.seconds),
                                           args.clients)

        async def with_edits() -> dict:
            stop = asyncio.Event()
            edits = asyncio.create_task(editor(base, ids, b, args.edit_every, stop))
            result = {k: await load(k) for k in ("nearby", "reach")}
            stop.set()
            return result | {"edit_statuses": dict(await edits)}

        out["edits"] = asyncio.run(with_edits())

        async def during_import() -> dict:
            import httpx

            async with httpx.AsyncClient(base_url=base, timeout=600) as client:
                r = await client.post("/auth/token", data=dict(zip(
                    ("username", "password"), ADMIN, strict=True)))
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                prober = await asyncio.create_subprocess_exec(
                    sys.executable, str(PROBE), json.dumps(
                        {"port": args.port, "rate": args.rate, "bounds": list(b)}),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                await asyncio.sleep(0.5)  # the prober's interpreter starts
                t0 = time.perf_counter()
                upload = asyncio.create_task(upload_file(base, headers, csv_path))
                answered: list[float] = []  # when the import's answer came (s from t0)
                upload.add_done_callback(lambda _: answered.append(time.perf_counter() - t0))
                expected = count + args.import_rows
                seen: list[int] = []  # /health counts (public) once the import is written

                async def watch() -> None:
                    while not upload.done() or seen[-args.workers * 3:].count(expected) < (
                            args.workers * 3):
                        h = (await client.get("/health")).json()
                        if upload.done():
                            seen.append(h["resources"])
                        await asyncio.sleep(0.05)

                await watch()
                out, _ = await prober.communicate(b"")
                probes = json.loads(out)
                report = await upload
                return {"probes": probes, "import_s": time.perf_counter() - t0,
                        "answered_s": answered[0],
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
    p.add_argument("--python-client", action="store_true",
                   help="load with the asyncio client even when wrk is installed")
    p.add_argument("--source", type=Path, default=REPO)
    args = p.parse_args()
    args.python_client = args.python_client or shutil.which("wrk") is None
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
