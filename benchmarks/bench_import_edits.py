"""Do edits fail while a large import is written? Issue 16, item 5.

During a 40,000-row import on SQLite, 6 of 33 PATCHes got 500 after 5 s ("database is
locked"): the import held the database's write lock while it validated every row. The
target: each write during an import succeeds (preferably within 1 s) or gets 503 with
``Retry-After``, never 500, and the import stays all or nothing.

What it does: writes the 40,000-row list of ``bench_import.py`` and an empty SQLite registry
with one admin and one resource; starts the API on loopback as deployed (uvicorn, one
worker, ``GEO_SERVICE_THREADS`` threads); imports the list for real (not a dry run) while
PATCHing the one resource every ``--every`` seconds; reports the PATCHes' statuses and
latencies (p50/p95/max) and the import's time and count.

Usage::

    python benchmarks/bench_import_edits.py [--rows 40000] [--every 0.1] [--source DIR]

Results: printed and written to ``benchmarks/results/bench_import_edits-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, RESULTS, import_geo_service, serve_api  # noqa: E402
from bench_import import DATA, make_registry, stats, write_list  # noqa: E402

import_geo_service()


async def import_while_editing(base: str, csv_path: Path, every: float) -> dict:
    """Import ``csv_path`` while PATCHing one resource every ``every`` seconds."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        r = await client.post("/auth/token", data={"username": "bench",
                                                   "password": "bench-pass-1"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await client.post("/resources", headers=headers, json={
            "name": "編集される資源", "category": "通いの場", "lon": 130.69, "lat": 33.65})
        rid = r.json()["id"]
        t0 = time.perf_counter()
        upload = asyncio.create_task(client.post(
            "/resources/import", headers=headers,
            files={"file": (csv_path.name, csv_path.read_bytes(), "text/csv")}))
        edits: list[tuple[int, float]] = []
        while not upload.done():
            t = time.perf_counter()
            r = await client.patch(f"/resources/{rid}", headers=headers,
                                   json={"description": f"編集 {len(edits)}"})
            edits.append((r.status_code, time.perf_counter() - t))
            await asyncio.sleep(every)
        imported = (await upload).json()
        total = (await client.get("/health", headers=headers)).json()["resources"]
    return {"import_s": time.perf_counter() - t0, "import_written": imported["written"],
            "resources_after": total, "edit_statuses": dict(Counter(s for s, _ in edits)),
            "edits": stats([s for _, s in edits])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--every", type=float, default=0.1, help="seconds between PATCHes")
    p.add_argument("--threads", type=int, default=2, help="threads per worker process")
    p.add_argument("--port", type=int, default=8794)
    p.add_argument("--source", type=Path, default=REPO,
                   help="the source tree the server runs (default: this one)")
    args = p.parse_args()
    csv_path = write_list(args.rows)
    url = f"sqlite:///{DATA / 'import_edits_registry.sqlite3'}"
    make_registry(url)
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_THREADS=str(args.threads),
               GEO_SERVICE_MAX_UPLOAD_BYTES=str(100_000_000), GEO_SERVICE_DATA_DIR=str(DATA),
               PYTHONPATH=str(args.source.resolve()))
    env.pop("GEO_SERVICE_REGION_DIR", None)
    with serve_api(env, port=args.port, cwd=args.source) as base:
        result = asyncio.run(import_while_editing(base, csv_path, args.every))
    result |= {"source": str(args.source.resolve()), "rows": args.rows,
               "loadavg_1min": round(os.getloadavg()[0], 2)}
    e = result["edits"]
    print(f"import of {args.rows:,} rows: {result['import_written']:,} written in "
          f"{result['import_s']:.1f} s ({result['resources_after']:,} resources after)")
    print(f"PATCH during it: {result['edit_statuses']}  p50 {e['p50_ms']:.0f} ms  p95 "
          f"{e['p95_ms']:.0f} ms  max {e['max_ms']:.0f} ms")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_import_edits-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
