"""The walking answers while the registry changes, in process (issue 19, item 3).

Without HTTP, clients or a server: on the 250,000-node region and 5,000 resources of
``bench_api.py``, ``WalkingService.reach`` is called in a loop on one thread for
``--seconds`` while another moves a random resource every second; once with the rebuild
in the service's worker thread (``background=True``, the API's), once rebuilding on the
caller's thread when it finds the registry changed (``background=False``, as every caller
did before). Reports the calls' p50/p95/p99/max, the states built and superseded, and the
machine's load. First, ``--edits`` moves one after another, each followed by the new
state's read and fields built on this thread: their times (the per-edit build).

Last, the pauses of a request thread while the background worker rebuilds after an
import: ``--import-rows`` places (``bench_api_live.py``'s file) are imported by the
``geo-service import resources`` command in a process of its own, the service is told,
and a thread that asks for Python's lock every millisecond (as a request's thread does)
records how long it waited, until the new state is in: the rebuild's seconds and the
longest waits. What a server's request waits for beyond its own work, without HTTP.

Usage::

    python benchmarks/bench_rebuild_inprocess.py [--seconds 20]

Results: printed and written to ``benchmarks/results/bench_rebuild_inprocess-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, import_geo_service  # noqa: E402
from bench_api import REGION_DIR, bounds, build_region, fill_registry, registry_items  # noqa: E402

import_geo_service()


def measure(region, url: str, b, *, background: bool, seconds: float) -> dict:
    from geo_service.registry.store import ResourceFilter, open_store
    from geo_service.service.walking import WalkingService

    store = open_store(url)
    walking = WalkingService(region, store, background=background)
    walking.live.warm_up()
    ids = [r.id for r in store.all(ResourceFilter(include_staff=True))
           if r.lon is not None and r.service_area.kind == "none"]
    rng, stop = random.Random(1), threading.Event()

    def edit() -> None:
        while not stop.is_set():
            store.update(rng.choice(ids), {"lon": rng.uniform(b[0] + 0.01, b[2] - 0.01),
                                           "lat": rng.uniform(b[1] + 0.01, b[3] - 0.01)})
            stop.wait(1.0)

    editor = threading.Thread(target=edit)
    editor.start()
    q, ms = random.Random(2), []
    load_before = os.getloadavg()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        walking.reach(q.uniform(b[0], b[2]), q.uniform(b[1], b[3]), staff=False)
        ms.append((time.perf_counter() - t) * 1000)
    stop.set()
    editor.join()
    walking.live.close()
    a = np.array(ms)
    return {"calls": len(a), **{f"p{p}_ms": float(np.percentile(a, p)) for p in (50, 95, 99)},
            "max_ms": float(a.max()), "states_built": walking.live.builds,
            "superseded": walking.live.superseded, "load_before": load_before,
            "load_after": os.getloadavg()}


def per_edit(region, url: str, b, *, edits: int) -> dict:
    """The registry state after each of ``edits`` moves, built on this thread: its read
    (the rows changed since the last, derived from the last state) and its fields
    (repaired near the move), in milliseconds."""
    from geo_service.registry.store import ResourceFilter, open_store
    from geo_service.service.walking import WalkingService

    store = open_store(url)
    live = WalkingService(region, store, background=False).live
    live.warm_up()
    ids = [r.id for r in store.all(ResourceFilter(include_staff=True))
           if r.lon is not None and r.service_area.kind == "none"]
    rng, read_ms, fields_ms = random.Random(3), [], []
    for _ in range(edits):
        store.update(rng.choice(ids), {"lon": rng.uniform(b[0] + 0.01, b[2] - 0.01),
                                       "lat": rng.uniform(b[1] + 0.01, b[3] - 0.01)})
        t = time.perf_counter()
        state = live.reader.read()
        read_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        state.make_fields()
        fields_ms.append((time.perf_counter() - t) * 1000)
        live._swap(state)
    return {"edits": edits, "read_ms_median": float(np.median(read_ms)),
            "read_ms_max": float(np.max(read_ms)),
            "fields_ms_median": float(np.median(fields_ms)),
            "derived": live.reader.derived, "whole_reads": live.reader.full_reads,
            "load": os.getloadavg()}


def import_pauses(region, url: str, b, *, rows: int) -> dict:
    """The longest waits of a thread that takes Python's lock every millisecond while the
    background worker rebuilds the state after a ``rows``-row import (see the module)."""
    import subprocess

    from bench_api_live import write_import

    from geo_service.registry.store import open_store
    from geo_service.service.walking import WalkingService

    csv_path = write_import(rows, b)
    walking = WalkingService(region, open_store(url), background=True)
    walking.live.warm_up()
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url, GEO_SERVICE_REGION_DIR=str(REGION_DIR))
    subprocess.run([str(Path(sys.executable).with_name("geo-service")), "import", "resources",
                    str(csv_path)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    waits, stop = [], threading.Event()

    def beat() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            time.sleep(0.001)
            waits.append(time.perf_counter() - t - 0.001)

    beater = threading.Thread(target=beat)
    load_before = os.getloadavg()
    t = time.perf_counter()
    beater.start()
    walking.live.poke()
    settled = walking.live.settle(300)
    rebuild_s = time.perf_counter() - t
    stop.set()
    beater.join()
    walking.live.close()
    w = np.sort(np.array(waits) * 1000)[::-1]
    return {"rows": rows, "settled": settled, "rebuild_s": rebuild_s,
            "longest_waits_ms": [round(float(x), 1) for x in w[:5]],
            "waits_over_50ms": int((w > 50).sum()), "load_before": load_before,
            "load_after": os.getloadavg()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--edits", type=int, default=20, help="edits timed one by one first")
    p.add_argument("--import-rows", type=int, default=40_000,
                   help="rows of the import whose rebuild's pauses are measured last (0: none)")
    args = p.parse_args()
    from geo_service.engine.region import Region

    build_region()
    b = bounds()
    url = f"sqlite:///{HERE / '_data' / 'rebuild_registry.sqlite3'}"
    fill_registry(url, registry_items(b))
    region = Region.load(REGION_DIR)
    out = {"per_edit": per_edit(region, url, b, edits=args.edits)}
    e = out["per_edit"]
    print(f"per edit  read {e['read_ms_median']:.1f} ms (max {e['read_ms_max']:.0f})  fields "
          f"{e['fields_ms_median']:.1f} ms  ({e['derived']} derived, {e['whole_reads']} whole)"
          f"  load {e['load'][0]:.1f}")
    for background in (True, False):
        r = out["background" if background else "inline"] = measure(
            region, url, b, background=background, seconds=args.seconds)
        print(f"{'background' if background else 'inline':10s} {r['calls']} calls  p50 "
              f"{r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}  max {r['max_ms']:.0f} ms  states "
              f"{r['states_built']} (superseded {r['superseded']})  load "
              f"{r['load_before'][0]:.1f}")
    if args.import_rows:
        r = out["import"] = import_pauses(region, url, b, rows=args.import_rows)
        print(f"import    {r['rows']} rows: rebuilt in {r['rebuild_s']:.1f} s; a request "
              f"thread's longest waits {r['longest_waits_ms']} ms, {r['waits_over_50ms']} "
              f"over 50 ms  load {r['load_before'][0]:.1f}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench_rebuild_inprocess-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"written {path}")


if __name__ == "__main__":
    main()
