"""``geo-service difficulty`` vs the lean pyrosm pipeline at 1M nodes, cold, as users feed it.

Target (issue 19, item 5): on the 1,000 × 1,000 grid with 1,000,000 demand points given as
CSV, GeoJSON or GeoPackage, a cold ``geo-service difficulty`` (no PBF cache) takes at most
half the wall time and half the peak memory of the lean pyrosm + shapely + scipy pipeline
(``lean_pipeline.py``, its pyrosm cache emptied).

Input: ``make_grid.py --size 1000 --points 1000000 --people 10000000`` (1,000,000 walkable
nodes, ~2,000,000 edges in 200,720 ways, 200 shops, 1,000,000 demand points as
``population.csv``, ``population.geojson`` and ``population.gpkg``), generated into
``--work`` when missing. Every run is a fresh Python process, one at a time; wall time is
the parent's clock (interpreter start and imports included), peak memory and CPU time the
child's own (``os.wait4``, see ``bench_pipeline.run_child``); the 1-minute load average is
recorded before each run (the machine is shared: CPU time is the steadier figure). Each
round runs ``difficulty cold`` once per population format, then ``lean``; ``--runs``
rounds (default 3), medians reported. Then once each: ``difficulty cached`` (the PBF
cache beside the file, GeoJSON population) and ``stages`` (``geo_stages.py``: what the
CLI calls, in-process, per-stage wall and CPU seconds and memory; cold, GeoJSON).

With ``--old-tree DIR`` (``git archive <commit> | tar -x -C DIR``) the CLI of that tree
runs cold with each format too, once per round, for a before/after table.

Checks: the outputs of the three formats are byte for byte the same (``points.csv``,
``points.geojson``, ``areas.csv``, ``areas.geojson``), and agree with lean's point by point
(``bench_pipeline.compare_outputs``). Results: ``benchmarks/results/difficulty_1m-*.json``.

Usage::

    python benchmarks/bench_difficulty_1m.py [--runs 3] [--formats csv,geojson,gpkg]
        [--old-tree /tmp/old]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import HERE, machine, save_result, table
from bench_pbf_reader import CACHE_SUFFIX, child, fresh_tmp, region
from bench_pipeline import compare_outputs, geo_command, lean_command

_OLD = ("import sys; sys.path.insert(0, {tree!r}); import geo_service; "
        "assert geo_service.__file__.startswith({tree!r}), geo_service.__file__; ")
_OLD_CLI = _OLD + "from geo_service.cli.main import app; sys.argv[0] = 'geo-service'; app()"
_OLD_STAGES = _OLD + ("import runpy; sys.argv = [{script!r}, *sys.argv[1:]]; "
                      "runpy.run_path({script!r}, run_name='__main__')")


def stages_cmd(data: Path, out: Path, report: Path, old_tree: Path | None) -> list[str]:
    args = ["--data", str(data), "--out", str(out), "--report", str(report)]
    script = str(HERE / "geo_stages.py")
    if old_tree is None:
        return [sys.executable, script, *args]
    return [sys.executable, "-c", _OLD_STAGES.format(tree=str(old_tree), script=script), *args]


FILES = ("points.csv", "points.geojson", "areas.csv", "areas.geojson")


def geo_cold(data: Path, out: Path, fmt: str, tree: Path | None) -> list[str]:
    cmd = geo_command(data, out, [])
    cmd[cmd.index("--population") + 1] = str(data / f"population.{fmt}")
    if tree is not None:
        cmd[2] = _OLD_CLI.format(tree=str(tree))
    return cmd


def same_files(a: Path, b: Path) -> bool:
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in FILES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_pbf"),
                   help="region, outputs and logs (not in the repository)")
    p.add_argument("--size", type=int, default=1000, help="grid side (1000: 1M nodes)")
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3, help="rounds (each format, then lean)")
    p.add_argument("--formats", default="csv,geojson,gpkg",
                   help="population files to feed (comma-separated)")
    p.add_argument("--old-tree", type=Path, help="a source tree of geo-service to compare")
    args = p.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    work, logs = args.work, args.work / f"logs-{args.size}"
    work.mkdir(parents=True, exist_ok=True)
    data = region(work, args.size, args.points)
    pbf = data / "grid.osm.pbf"
    cache = pbf.with_name(pbf.name + CACHE_SUFFIX)
    out = work / f"out-{args.size}"
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    summary: dict[str, Any] = {"machine": machine(), "counts": counts, "formats": formats,
                               "runs": []}
    print(f"{counts['nodes']:,}-node grid, {counts['points']:,} demand points", flush=True)
    runs: list[dict[str, Any]] = summary["runs"]

    def run(label: str, cmd: list[str], tmp: str, *, cold: bool = True) -> dict[str, Any]:
        if cold:
            cache.unlink(missing_ok=True)
        r = child(label, cmd, logs, TMPDIR=fresh_tmp(work, tmp))
        r.pop("stdout", None)
        r["cold"], r["cpu_s"] = cold, r["user_s"] + r["sys_s"]
        runs.append(r)
        return r

    for i in range(args.runs):
        for fmt in formats:
            run(f"difficulty cold {fmt}", geo_cold(data, out / f"new-{fmt}", fmt, None), "new")
        if args.old_tree is not None:
            for fmt in formats:
                run(f"old difficulty cold {fmt}",
                    geo_cold(data, out / f"old-{fmt}", fmt, args.old_tree), "old")
        run("lean", lean_command(data, out / "lean", out / f"lean-{i}.json"), "lean")
    geojson = "geojson" if "geojson" in formats else formats[0]
    run("difficulty cached", geo_cold(data, out / "new-cached", geojson, None), "new",
        cold=False)
    cache.unlink(missing_ok=True)
    run("stages", [*stages_cmd(data, out / "stages", out / "stages.json", None),
                   "--population", f"population.{geojson}"], "new")

    first = out / f"new-{formats[0]}"
    summary["formats_identical"] = {fmt: same_files(first, out / f"new-{fmt}")
                                    for fmt in formats}
    summary["agreement"] = compare_outputs(first, out / "lean")
    if args.old_tree is not None:
        summary["old_identical"] = {fmt: same_files(out / f"old-{fmt}", out / f"new-{fmt}")
                                    for fmt in formats}
    summary["lean_stages"] = json.loads((out / "lean-0.json").read_text())
    summary["stages"] = json.loads((out / "stages.json").read_text())["stages"]

    def med(label: str) -> dict[str, float]:
        rs = [r for r in runs if r["label"] == label]
        return {"runs": len(rs), "wall_s": statistics.median(r["wall_s"] for r in rs),
                "cpu_s": statistics.median(r["cpu_s"] for r in rs),
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rs),
                "load_1min": statistics.median(r["load_1min"] for r in rs)}

    labels = list(dict.fromkeys(r["label"] for r in runs if r["label"] != "stages"))
    summary["medians"] = {label: med(label) for label in labels}
    lean = summary["medians"]["lean"]
    summary["ratios"] = {
        label: {"wall_vs_lean": m["wall_s"] / lean["wall_s"],
                "cpu_vs_lean": m["cpu_s"] / lean["cpu_s"],
                "peak_vs_lean": m["peak_rss_mib"] / lean["peak_rss_mib"],
                "target_met": m["wall_s"] <= lean["wall_s"] / 2
                and m["peak_rss_mib"] <= lean["peak_rss_mib"] / 2}
        for label, m in summary["medians"].items() if label != "lean"}
    print()
    print(table([[r["label"], f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}",
                  f"{r['peak_rss_mib']:.0f}", r["load_1min"]] for r in runs],
                ["run", "wall s", "CPU s", "peak RSS MiB", "load 1 min"]))
    print()
    rows = []
    for label, m in summary["medians"].items():
        ratio = summary["ratios"].get(label)
        rows.append([label, m["runs"], f"{m['wall_s']:.1f}", f"{m['cpu_s']:.1f}",
                     f"{m['peak_rss_mib']:.0f}", f"{m['load_1min']:.1f}",
                     f"{ratio['wall_vs_lean']:.2f}" if ratio else "1",
                     f"{ratio['cpu_vs_lean']:.2f}" if ratio else "1",
                     f"{ratio['peak_vs_lean']:.2f}" if ratio else "1"])
    print(table(rows, ["pipeline", "runs", "median wall s", "median CPU s",
                       "peak RSS MiB", "load", "wall ÷ lean", "CPU ÷ lean", "peak ÷ lean"]))
    print()
    for r in summary["stages"]:
        print(f"  {r['stage']:<30} {r['seconds']:6.2f} s  CPU {r.get('cpu_s', float('nan')):6.2f}"
              f" s  peak {r['peak_rss_mib']:5.0f} MiB")
    print("formats give identical files:", summary["formats_identical"])
    print("agreement with lean:", json.dumps(summary["agreement"]))
    path = save_result("difficulty_1m", summary)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
