"""The walking answers while the registry changes, in process (issue 19, item 3).

Without HTTP, clients or a server: on the 250,000-node region and 5,000 resources of
``bench_api.py``, ``WalkingService.reach`` is called in a loop on one thread for
``--seconds`` while another moves a random resource every second; once with the rebuild
in the service's worker thread (``background=True``, the API's), once rebuilding on the
caller's thread when it finds the registry changed (``background=False``, as every caller
did before). Reports the calls' p50/p95/p99/max, the states built and superseded, and the
machine's load. First, ``--edits`` moves one after another, each followed by the new
state's read and fields built on this thread: their times (the per-edit build).

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--edits", type=int, default=20, help="edits timed one by one first")
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
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench_rebuild_inprocess-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"written {path}")


if __name__ == "__main__":
    main()
