"""Can a hostile upload take the service down? Issue 16, item 4.

A 4,728-byte .xlsx whose one cell is at ``XFD1048576`` took the server past 6 GB in 5 s; a
cell at ``Z300000`` cost 9.4 s and 317 MB; a 1.6 MB zip bomb (1 M rows × 10 cells) 412 s
of CPU, 3.1 GB, and stalled ``/health`` for 4.4 s. The target: each refused (413/422
naming the limit) within 2 s, the server's RSS growing by less than 100 MB, and
``/health`` p95 under 50 ms meanwhile.

What it does:

1. builds the hostile files (``tests/utils/hostile.py``: written part by part with
   ``zipfile``) and an empty SQLite registry with one admin;
2. starts the API on loopback as deployed (uvicorn, one worker process, access log off);
3. probes ``/health`` at a constant offered rate (``--rate``, default 50 req/s; latencies
   count from each request's scheduled time, as in ``bench_import.py``): ``--idle``
   seconds alone, then while it uploads each file ``--repeat`` times in a row to
   ``POST /resources/import?dry_run=true``, sampling the server process's RSS every 10 ms;
4. reports per file: the answers' status and slowest time, the server's RSS growth over
   its RSS before the file, and ``/health`` p50/p95/max during the uploads and before.

Usage::

    python benchmarks/bench_hostile_uploads.py [--repeat 20] [--rate 50] [--source DIR]

Results: printed and written to ``benchmarks/results/bench_hostile_uploads-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, RESULTS, import_geo_service, serve_api  # noqa: E402
from bench_import import DATA, make_registry, probe, stats  # noqa: E402

import_geo_service()
sys.path.insert(0, str(REPO))
from tests.utils.hostile import lone_cell, zip_bomb  # noqa: E402


def server_pid(port: int) -> int:
    """The process of the uvicorn server listening on ``port`` (one worker: the server)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"uvicorn" in cmd and str(port).encode() in cmd:
                return int(entry.name)
    raise RuntimeError(f"no uvicorn process on port {port}")


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid``, MiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


async def upload_repeatedly(base: str, port: int, name: str, data: bytes, repeat: int,
                            rate: float, idle: float) -> dict:
    """``/health`` latency for ``idle`` seconds, then while ``data`` is uploaded ``repeat``
    times; the answers and the server's RSS growth."""
    import httpx

    pid = server_pid(port)
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        r = await client.post("/auth/token", data={"username": "bench",
                                                   "password": "bench-pass-1"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        before = rss_mb(pid)
        peak = [before]
        until = [float("inf")]

        async def sample() -> None:
            while until[0] == float("inf"):
                peak.append(rss_mb(pid))
                await asyncio.sleep(0.01)

        probes = asyncio.create_task(probe(port, rate, until))
        sampler = asyncio.create_task(sample())
        await asyncio.sleep(idle)
        t0 = time.perf_counter()
        answers = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = await client.post("/resources/import", params={"dry_run": "true"},
                                  headers=headers, files={"file": (name, data)})
            answers.append((r.status_code, time.perf_counter() - t))
        t1 = until[0] = time.perf_counter()
        samples = await probes
        await sampler
    return {"file": name, "bytes": len(data), "statuses": sorted({s for s, _ in answers}),
            "message": r.json()["detail"]["message"] if r.status_code >= 400 else None,
            "slowest_s": max(s for _, s in answers), "rss_before_mb": before,
            "rss_growth_mb": max(peak) - before,
            "health_idle": stats([lat for at, lat in samples if at < t0]),
            "health": stats([lat for at, lat in samples if t0 <= at <= t1])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=20, help="uploads of each file in a row")
    p.add_argument("--rate", type=float, default=50, help="offered /health requests per s")
    p.add_argument("--idle", type=float, default=3, help="seconds of probes before each file")
    p.add_argument("--port", type=int, default=8793)
    p.add_argument("--source", type=Path, default=REPO,
                   help="the source tree the server runs (default: this one)")
    args = p.parse_args()
    files = {"xfd1048576.xlsx": lone_cell("XFD1048576"), "z300000.xlsx": lone_cell("Z300000"),
             "bomb_1m_x_10.xlsx": zip_bomb()}
    DATA.mkdir(exist_ok=True)
    url = f"sqlite:///{DATA / 'hostile_registry.sqlite3'}"
    make_registry(url)
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_DATA_DIR=str(DATA),
               PYTHONPATH=str(args.source.resolve()))
    env.pop("GEO_SERVICE_REGION_DIR", None)
    with serve_api(env, port=args.port, cwd=args.source) as base:
        time.sleep(5)  # the upload readers' fork server starts in the background
        results = [asyncio.run(upload_repeatedly(base, args.port, name, data, args.repeat,
                                                 args.rate, args.idle))
                   for name, data in files.items()]
    for res in results:
        h, i = res["health"], res["health_idle"]
        print(f"{res['file']:18s} {res['bytes']:>9,} B  status {res['statuses']}  slowest "
              f"{res['slowest_s']:.2f} s  RSS +{res['rss_growth_mb']:.0f} MB  /health p50 "
              f"{h['p50_ms']:.1f} p95 {h['p95_ms']:.1f} max {h['max_ms']:.1f} ms "
              f"({h['requests']} probes; idle before: p50 {i['p50_ms']:.1f} p95 "
              f"{i['p95_ms']:.1f} ms)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_hostile_uploads-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"results": results, "repeat": args.repeat, "rate": args.rate,
                               "loadavg_1min": round(os.getloadavg()[0], 2)}, indent=2,
                              ensure_ascii=False), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
