"""Run ``geo-service difficulty`` in-process with per-stage wall time and memory.

Calls exactly what the CLI calls (``load_resource_layer(...).restricted(...)``,
``pipeline.build_region``, ``pipeline.compute_difficulty``, ``pipeline.write_difficulty``)
with a ``pipeline.Stages`` hook that records, at the start of every stage and at the end,
the wall clock, the current RSS and the peak RSS so far. Stage seconds are the pipeline's
own; "import" and "other" (work outside any named stage, e.g. loading the layer
definition) are added so the rows sum to the process's wall time.

Usage (``bench_pipeline.py`` runs it; it can also run alone)::

    python benchmarks/geo_stages.py --data benchmarks/_data --out /tmp/geo [--report r.json]
    python benchmarks/geo_stages.py --data benchmarks/_data --out /tmp/geo \
        --profile benchmarks/results/profile.txt        # pyinstrument call tree
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def _mem() -> tuple[float, float, float]:
    """Current RSS and peak RSS (MiB), and the process's CPU seconds so far."""
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return rss, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="folder written by make_grid.py")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--report", type=Path)
    p.add_argument("--population", default="population.csv",
                   help="demand file in --data (population.csv|.geojson|.gpkg)")
    p.add_argument("--profile", type=Path, metavar="FILE.txt|FILE.html",
                   help="profile the run with pyinstrument (pip install pyinstrument) and "
                        "write the call tree here (timings then include its small overhead)")
    args = p.parse_args(argv)

    repo = Path(__file__).resolve().parent.parent
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    from geo_service.jobs.pipeline import Stages, build_region, compute_difficulty, write_difficulty
    from geo_service.layers import load_resource_layer

    marks: list[tuple[str, float, float, float, float]] = [
        ("import", time.perf_counter(), *_mem())]
    stages = Stages(on_start=lambda name: marks.append((name, time.perf_counter(), *_mem())))
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    d = args.data
    layer = load_resource_layer("food_stores").restricted(None, None)
    region = build_region(network=d / "grid.osm.pbf", stores=str(d / "stores.csv"),
                          population=[d / args.population], areas=[str(d / "areas.geojson")],
                          layer=layer, stages=stages)
    result = compute_difficulty(region, layer=layer, stages=stages)
    write_difficulty(result, args.out, stages=stages)
    end = time.perf_counter()
    if profiler is not None:
        profiler.stop()
        text = (profiler.output_html() if args.profile.suffix == ".html"
                else profiler.output_text(show_all=False, color=False))
        args.profile.write_text(text, encoding="utf-8")
    marks.append(("end", end, *_mem()))

    # Memory at the end of stage i = memory at the start of what follows it.
    # (CPU seconds of a stage: from its start to the next mark; a stage run twice, such
    # as "indicators", is timed by the pipeline's own sum, its CPU at the last run)
    rows = [{"stage": "import", "seconds": marks[0][1] - T_START, "rss_mib": marks[0][2],
             "peak_rss_mib": marks[0][3], "cpu_s": marks[0][4]}]
    for (name, _, _, _, cpu0), (_, _, rss, peak, cpu1) in zip(marks[1:-1], marks[2:],
                                                              strict=True):
        rows.append({"stage": name, "seconds": stages.seconds.get(name, float("nan")),
                     "rss_mib": rss, "peak_rss_mib": peak, "cpu_s": cpu1 - cpu0})
    named = sum(stages.seconds.values())
    rows.append({"stage": "other (outside named stages)",
                 "seconds": (end - marks[0][1]) - named, "rss_mib": marks[-1][2],
                 "peak_rss_mib": marks[-1][3], "cpu_s": float("nan")})
    report = {"stages": rows, "wall_s": end - T_START, "summary": result.summary()}
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    for r in rows:
        print(f"{r['stage']:<32} {r['seconds']:7.2f} s  CPU {r['cpu_s']:6.2f} s  "
              f"RSS {r['rss_mib']:5.0f} MiB  peak {r['peak_rss_mib']:5.0f} MiB")
    print(f"{'total':<32} {end - T_START:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
