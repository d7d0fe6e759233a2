"""geo-service batch at prefecture scale: 1 and 2 Dask workers beside one whole-extent run.

The region is make_grid.py's street grid (``--size``, default 1415 → 2,002,225 walk nodes;
``--points`` demand points, default 1,000,000 holding 10,000,000 people; one shop per 500
nodes), partitioned into its ``--partitions`` × ``--partitions`` rectangular areas (default
8 × 8 = 64) and reported on the same areas. Each run is a fresh process (the CLI), timed
wall-clock, with its own peak RSS from ``os.wait4``:

- ``geo-service difficulty`` on the whole extent (one process);
- ``geo-service batch --workers N --fresh`` for N = 1 and 2 (LocalCluster start-up
  included): stage times from its ``summary.json``, each partition's seconds and own peak
  memory from ``partitions.csv``, the driver's peak RSS.

Then: agreement of batch and single run (max |Δ network_m| over uncensored points, areas'
``beyond_65plus``), parallel efficiency of the partition phase with 2 workers, and a
projection for all of Japan from the measured throughput: per-partition seconds fitted as
``a·nodes + b·points + c`` over the 1-worker partitions, applied to ≈ 20 M nodes (times the
measured buffer overlap), ≈ 3 M demand points (populated 125 m mesh cells taken as points),
1,900 partitions (municipalities), plus the serial parts of the driver and the two cut
levels (see ``_project``; Japan's PBF ≈ 2.2 GB).

    python benchmarks/bench_batch.py                               # the issue-11 benchmark
    python benchmarks/bench_batch.py --size 200 --points 20000 --partitions 3   # quick

Results: ``benchmarks/results/bench_batch-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, save_result  # noqa: E402
from bench_pipeline import run_child  # noqa: E402
from make_grid import ensure_region  # noqa: E402

_CLI = "import sys; from geo_service.cli.main import app; sys.argv[0] = 'geo-service'; app()"

JAPAN = {"nodes": 20_000_000, "points": 3_000_000, "stores": 120_000, "partitions": 1_900,
         # geofabrik's japan-latest.osm.pbf (~2.2 GB), read once by osmium tags-filter; the
         # cut is scaled by input bytes (an assumption: its cost follows the bytes decoded)
         "pbf_bytes": 2_200_000_000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1415)
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--partitions", type=int, default=8, help="partitions per side")
    p.add_argument("--buffer", type=float, default=2000.0)
    p.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    p.add_argument("--skip-single", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "_data" / "batch")
    args = p.parse_args(argv)
    nodes = args.size ** 2
    grid = ensure_region(args.out / f"grid{args.size}", [
        "--size", str(args.size), "--points", str(args.points), "--people",
        str(10 * args.points), "--shops", str(max(8, nodes // 500)),
        "--areas", str(args.partitions)])
    report: dict[str, Any] = {"machine": machine(), "size": args.size, "nodes": nodes,
                              "points": args.points, "partitions": args.partitions ** 2,
                              "buffer_m": args.buffer, "pbf_bytes": (grid / "grid.osm.pbf")
                              .stat().st_size}
    inputs = ["--stores", str(grid / "stores.csv"), "--population",
              str(grid / "population.csv"), "--areas", str(grid / "areas.geojson")]
    if not args.skip_single:
        out = args.out / "single"
        shutil.rmtree(out, ignore_errors=True)
        run = run_child([sys.executable, "-c", _CLI, "difficulty", "--network",
                         str(grid / "grid.osm.pbf"), *inputs, "--out", str(out)],
                        args.out / "logs-single")
        _check(run)
        report["single"] = {"wall_s": round(run["wall_s"], 1),
                            "peak_rss_mib": round(run["peak_rss_mib"])}
    for workers in (int(w) for w in args.workers.split(",")):
        out = args.out / f"batch{workers}"
        run = run_child([sys.executable, "-c", _CLI, "batch", "--network",
                         str(grid / "grid.osm.pbf"), "--partitions", str(grid / "areas.geojson"),
                         *inputs, "--buffer", str(args.buffer), "--workers", str(workers),
                         "--fresh", "--out", str(out)], args.out / f"logs-batch{workers}")
        _check(run)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
        report[f"batch{workers}"] = {
            "wall_s": round(run["wall_s"], 1),
            "stages_s": {k: round(v, 1) for k, v in summary["seconds"].items()},
            "driver_peak_rss_mib": round(summary["driver_peak_rss_mib"]),
            "partition_peak_rss_mib": {"max": round(parts["peak_rss_mib"].max()),
                                       "median": round(parts["peak_rss_mib"].median())},
            "worker_peak_rss_mib": round(parts["worker_peak_rss_mib"].max()),
            "partition_s": {"sum": round(parts["seconds"].sum(), 1),
                            "max": round(parts["seconds"].max(), 2),
                            "median": round(parts["seconds"].median(), 2)},
            "partition_nodes": int(parts["nodes"].sum()),
            "censored_points": summary["summary"]["censored_points"],
        }
        if not args.skip_single:
            report[f"batch{workers}"]["agreement"] = _agreement(args.out / "single", out)
    if "batch1" in report and "batch2" in report:
        report["efficiency_2_workers"] = round(
            report["batch1"]["stages_s"]["partitions"]
            / (2 * report["batch2"]["stages_s"]["partitions"]), 2)
    if "batch1" in report:
        report["japan"] = _project(report, args.out / "batch1")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    save_result("bench_batch", report)
    return 0


def _check(run: dict[str, Any]) -> None:
    if run["returncode"] != 0:
        raise SystemExit(f"{run['cmd'][3]} failed:\n{run['stderr'][-3000:]}")


def _agreement(single: Path, batch: Path) -> dict[str, Any]:
    """How the batch's numbers compare with the whole-extent run's."""
    ref = pd.read_csv(single / "points.csv", encoding="utf-8-sig", dtype={"point_id": str})
    got = pd.read_csv(batch / "points.csv", encoding="utf-8-sig", dtype={"point_id": str})
    m = ref.merge(got, on="point_id", suffixes=("_one", "_batch"))
    ok = ~m["censored"].astype(bool)
    ra = pd.read_csv(single / "areas.csv", encoding="utf-8-sig", dtype={"area_id": str})
    ga = pd.read_csv(batch / "areas.csv", encoding="utf-8-sig", dtype={"area_id": str})
    a = ra.merge(ga, on="area_id", suffixes=("_one", "_batch"))
    return {"points_matched": int(len(m)), "points_single": int(len(ref)),
            "uncensored": int(ok.sum()),
            "max_abs_diff_network_m": float(
                (m.loc[ok, "network_m_one"] - m.loc[ok, "network_m_batch"]).abs().max()),
            # CSV values are rounded to 0.01 m: a censored point at 2000.003 m reads 2000.0
            "censored_but_within_buffer_in_single": int(
                (~ok & (m["network_m_one"] < float(json.loads(
                    (batch / "summary.json").read_text())["buffer_m"]) - 0.005)).sum()),
            "max_abs_diff_area_beyond_65plus": float(
                (a["beyond_65plus_one"] - a["beyond_65plus_batch"]).abs().max())}


def _project(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """Japan's wall time on 16 and 64 cores from the 1-worker run's measured stages.

    Serial (driver): reading and splitting the population and merging, mapping the
    overview and writing scale with the points; ``osmium tags-filter`` with the input's
    bytes (an upper bound: every way of the synthetic grid is a street, so it writes what
    it reads); the first cut level with nodes × groups (√partitions). Parallel (tasks):
    the second cut level with nodes × √partitions, the partitions with the fitted
    ``a·nodes + b·points + c`` (nodes including the buffer overlap), the partition maps
    with the partitions; divided by cores × the measured 2-worker efficiency.
    """
    parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    x = np.column_stack([parts["nodes"], parts["demand_points"], np.ones(len(parts))])
    a, b, c = nnls(x.astype(float), parts["seconds"].to_numpy())[0]  # no negative costs
    overlap = report["batch1"]["partition_nodes"] / report["nodes"]
    st = report["batch1"]["stages_s"]
    points = JAPAN["points"] / report["points"]
    nodes = JAPAN["nodes"] / report["nodes"]
    groups = np.sqrt(JAPAN["partitions"]) / np.sqrt(report["partitions"])
    serial = {
        "read_and_inputs": (st["read"] + st.get("inputs", 0.0)) * points,
        "osmium_tags_filter": st.get("cut_filter", 0.0) * JAPAN["pbf_bytes"]
        / report["pbf_bytes"],
        "cut_level_1": st.get("cut_groups", 0.0) * nodes * groups,
        "merge_and_write": (st["merge"] + st.get("write", 0.0)) * points,
    }
    parallel = {
        "cut_level_2": st.get("cut_extracts", 0.0) * nodes * groups,
        "partitions": a * JAPAN["nodes"] * overlap + b * JAPAN["points"]
        + c * JAPAN["partitions"],
        "partition_maps": st.get("maps", 0.0) * JAPAN["partitions"] / report["partitions"],
    }
    eff = min(1.0, report.get("efficiency_2_workers", 1.0))
    total_serial = sum(serial.values())
    return {"fit_s_per_1k_nodes": round(a * 1e3, 4), "fit_s_per_1k_points": round(b * 1e3, 4),
            "fit_s_per_partition": round(c, 3), "buffer_overlap": round(overlap, 2),
            "serial_s": {k: round(v) for k, v in serial.items()},
            "parallel_cpu_s": {k: round(v) for k, v in parallel.items()},
            "efficiency": eff,
            **{f"wall_min_{n}_cores": round(
                (total_serial + sum(parallel.values()) / (n * eff)) / 60, 1)
               for n in (16, 64)}}


if __name__ == "__main__":
    raise SystemExit(main())
