"""Does a large import freeze the service? ``/health`` latency during a 40,000-row dry run.

Issue 8, item 5: a coordinator's 40,000-row CSV dry run froze ``/health`` for 9.7 s,
because the upload was parsed and validated on the event loop.

What it does, reproducibly (fixed seed):

1. writes a 40,000-row coordinator list (``benchmarks/_data/import_40k.csv``: Japanese
   headers, UTF-8 with BOM; places with coordinates, schedules, fees, and delivery services
   for the whole city) and an empty SQLite registry with one admin;
2. starts the API on loopback as deployed (uvicorn, ``--workers 1`` by default so that the
   import and the probes meet in one process — with more workers a probe may land on an
   idle one; ``GEO_SERVICE_THREADS`` threads; access log off);
3. probes ``/health`` at a constant offered rate (``--rate``, default 50 req/s, over 4
   keep-alive connections; each latency counts from the request's scheduled time, so a
   frozen server shows as every request it held back): first for ``--idle`` seconds with
   nothing else going on, then while ``POST /resources/import?dry_run=true`` uploads and
   checks the file;
4. reports the probes' p50/p95/p99/max during the import, and the import's own time.

``--source DIR`` runs the server from another source tree (e.g. an export of an older
commit, for a before/after comparison).

Usage::

    python benchmarks/bench_import.py [--rows 40000] [--rate 50] [--source DIR]

Results: printed and written to ``benchmarks/results/bench_import-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, RESULTS, import_geo_service, serve_api  # noqa: E402

import_geo_service()

DATA = HERE / "_data"
SEED = 20261129
HEADER = ["事業者名", "フリガナ", "種別", "住所", "緯度", "経度", "電話", "対応エリア",
          "サービス内容", "料金", "定休日", "営業時間", "対象者", "備考", "最終確認日", "公開区分"]


def write_list(rows: int) -> Path:
    """A coordinator's list of ``rows`` resources (written once per size)."""
    path = DATA / f"import_{rows // 1000}k.csv"
    if path.exists():
        return path
    rng = random.Random(SEED)
    DATA.mkdir(exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for k in range(rows):
            lat, lon = f"{33.60 + rng.random() * 0.1:.6f}", f"{130.65 + rng.random() * 0.1:.6f}"
            if k % 5 == 4:
                out.writerow([f"配食サービス{k:05d}", f"ハイショクサービス{k:05d}", "配食", "", "",
                              "", f"0948-{k % 100:02d}-{k % 10000:04d}", "市内全域",
                              "昼食の配食と安否確認", "1食500円", "日曜日", "9:00～17:00",
                              "65歳以上の方", "", "2025/4/1", "公開"])
            else:
                out.writerow([f"ふれあいサロン{k:05d}", f"フレアイサロン{k:05d}", "通いの場",
                              f"福岡県飯塚市立岩{k}", lat, lon, "", "",
                              "体操とお茶会", rng.choice(["無料", "100円"]),
                              rng.choice(["", "土曜日・日曜日"]), "10:00～12:00", "どなたでも",
                              "毎月第2水曜", "令和7年5月10日", "公開"])
    return path


def make_registry(url: str) -> None:
    """An empty registry with the admin who uploads."""
    from geo_service.registry.auth import hash_password
    from geo_service.registry.store import open_store

    db = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    open_store(url).add_user("bench", hash_password("bench-pass-1"), role="admin")


async def probe(port: int, rate: float, until: list[float], clients: int = 4
                ) -> list[tuple[float, float]]:
    """``GET /health`` every ``1/rate`` s until the time ``until[0]`` (which may be set
    meanwhile): (scheduled time, latency) pairs. Every request scheduled before then is
    answered, however late."""
    start = time.perf_counter() + 0.05
    due = iter(start + k / rate for k in range(10**9))
    out: list[tuple[float, float]] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (at := next(due)) <= until[0]:
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            out.append((at, time.perf_counter() - at))
        writer.close()

    await asyncio.gather(*(connection() for _ in range(clients)))
    return out


def stats(latencies: list[float]) -> dict:
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


async def measure(base: str, port: int, csv_path: Path, rate: float, idle: float) -> dict:
    """/health latency idle, then during an import dry run of ``csv_path``."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        r = await client.post("/auth/token", data={"username": "bench",
                                                   "password": "bench-pass-1"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        until = [float("inf")]
        probes = asyncio.create_task(probe(port, rate, until))
        await asyncio.sleep(idle)
        t0 = time.perf_counter()
        r = await client.post("/resources/import", params={"dry_run": "true"}, headers=headers,
                              files={"file": (csv_path.name, csv_path.read_bytes(), "text/csv")})
        t1 = until[0] = time.perf_counter()
        samples = await probes
    r.raise_for_status()
    report = r.json()
    return {"import_s": t1 - t0, "import_rows": report["rows"], "import_valid": report["valid"],
            "health_idle": stats([lat for at, lat in samples if at < t0]),
            "health_during_import": stats([lat for at, lat in samples if t0 <= at <= t1])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--rate", type=float, default=50, help="offered /health requests per s")
    p.add_argument("--idle", type=float, default=5, help="seconds of probes before the import")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="threads per worker process")
    p.add_argument("--port", type=int, default=8792)
    p.add_argument("--source", type=Path, default=REPO,
                   help="the source tree the server runs (default: this one)")
    args = p.parse_args()
    csv_path = write_list(args.rows)
    url = f"sqlite:///{DATA / 'import_registry.sqlite3'}"
    make_registry(url)
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_THREADS=str(args.threads),
               GEO_SERVICE_MAX_UPLOAD_BYTES=str(100_000_000), GEO_SERVICE_DATA_DIR=str(DATA),
               PYTHONPATH=str(args.source.resolve()))
    env.pop("GEO_SERVICE_REGION_DIR", None)
    with serve_api(env, port=args.port, workers=args.workers, cwd=args.source) as base:
        result = asyncio.run(measure(base, args.port, csv_path, args.rate, args.idle))
    result |= {"source": str(args.source.resolve()), "rows": args.rows, "rate": args.rate,
               "workers": args.workers, "threads": args.threads,
               "loadavg_1min": round(os.getloadavg()[0], 2)}
    for label in ("health_idle", "health_during_import"):
        s = result[label]
        print(f"/health {label.removeprefix('health_'):13s} p50 {s['p50_ms']:7.1f} ms  "
              f"p95 {s['p95_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms"
              f"  ({s['requests']} requests)")
    print(f"import dry run: {result['import_rows']} rows ({result['import_valid']} valid) "
          f"in {result['import_s']:.1f} s")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench_import-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
