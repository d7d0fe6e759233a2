"""geo-service batch on a LocalCluster with 1 and 2 workers, beside one whole-extent run.

The region is make_grid.py's street grid (``--size``, default 317 → 100,489 nodes, 200
shops, 100,000 demand points); the partitions are its ``--partitions`` × ``--partitions``
rectangular areas (default 4 × 4 = 16). Prints wall time of the single run
(build_region + compute_difficulty), and of the batch (cut, partitions, merge) per worker
count (cluster start-up apart), the parallel efficiency of the partition phase and the
peak RSS of the workers.

    python benchmarks/bench_batch.py                       # 100k nodes, 16 partitions
    python benchmarks/bench_batch.py --size 120 --partitions 3   # quick

Not yet the issue-11 benchmark (≥ 2,000,000 nodes, ≥ 50 partitions).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main(argv: list[str] | None = None) -> int:
    from make_grid import ensure_region

    from geo_service.batch import run_batch
    from geo_service.layers import load_resource_layer
    from geo_service.pipeline import build_region, compute_difficulty

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=317)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=4, help="partitions per side")
    p.add_argument("--buffer", type=float, default=2000.0)
    p.add_argument("--out", type=Path, default=HERE / "_data" / "batch")
    args = p.parse_args(argv)
    grid = ensure_region(args.out / "grid", ["--size", str(args.size), "--points",
                                              str(args.points), "--people",
                                              str(10 * args.points), "--areas",
                                              str(args.partitions)])
    layer = load_resource_layer("food_stores")
    inputs = {"pbf": grid / "grid.osm.pbf", "partitions": grid / "areas.geojson",
              "stores": str(grid / "stores.csv"), "population": grid / "population.csv",
              "areas": [grid / "areas.geojson"]}
    report: dict[str, object] = {"size": args.size, "points": args.points,
                                 "partitions": args.partitions ** 2, "buffer_m": args.buffer}

    t = time.perf_counter()
    region = build_region(network=inputs["pbf"], stores=inputs["stores"],
                          population=[inputs["population"]], areas=[str(inputs["areas"][0])],
                          layer=layer)
    compute_difficulty(region, layer=layer)
    report["single_s"] = round(time.perf_counter() - t, 2)
    report["single_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    del region

    from distributed import Client, LocalCluster

    for workers in (1, 2):
        out = args.out / f"out{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        report[f"cluster{workers}_start_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        try:
            result = run_batch(pbf=inputs["pbf"], partitions=inputs["partitions"],
                               stores=inputs["stores"], population=inputs["population"],
                               areas=inputs["areas"], out=out, layer=layer,
                               buffer_m=args.buffer, client=client)
        finally:
            client.close()
            cluster.close()
        report[f"batch{workers}_s"] = round(time.perf_counter() - t, 2)
        report[f"batch{workers}_stages_s"] = {k: round(v, 2) for k, v in result.seconds.items()}
        report[f"batch{workers}_worker_peak_rss_mib"] = max(
            round(m["worker_peak_rss_mib"]) for m in result.partitions)
        report[f"batch{workers}_censored"] = int(result.points["censored"].sum())
    p1 = report["batch1_stages_s"]["partitions"]  # type: ignore[index]
    p2 = report["batch2_stages_s"]["partitions"]  # type: ignore[index]
    report["efficiency_2_workers"] = round(p1 / (2 * p2), 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
