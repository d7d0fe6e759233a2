"""``geo-service difficulty`` vs the lean pyrosm pipeline at 1M nodes (issue 11, part 4).

Target: at 1M nodes, half the wall time and half the peak memory of the pyrosm pipeline
(``lean_pipeline.py``: pyrosm + shapely + scipy).

Input: ``make_grid.py --size 1000 --points 1000000 --people 10000000`` (1,000,000 walkable
nodes, ~2,000,000 edges, 1,000,000 demand points), generated into ``--work`` when missing.
Every run is a fresh Python process, one at a time; wall time is the parent's clock
(interpreter start and imports included), peak memory and CPU the child's own
(``os.wait4``, see ``bench_pipeline.run_child``). Runs:

- ``difficulty cached``: the CLI with the PBF reader's cache beside the file (second and
  later reads of an unchanged extract), ``--runs`` times alternating with lean;
- ``difficulty cold``: the CLI with no cache (the PBF parsed, the cache written), once;
- ``lean``: ``lean_pipeline.py`` with an empty ``TMPDIR`` (pyrosm's own cache), ``--runs``
  times;
- ``stages``: ``geo_stages.py`` (what the CLI calls, in-process, per-stage seconds and
  memory), once, cached network;
- with ``--old-tree DIR`` (``git archive <commit> | tar -x -C DIR``): the CLI and the stage
  report of that tree, for a before/after table.

The outputs are compared with lean's point by point (``bench_pipeline.compare_outputs``:
``max_abs_diff_network_m`` must stay ~0). Results: ``benchmarks/results/difficulty_1m-*.json``.

Usage::

    python benchmarks/bench_difficulty_1m.py [--runs 2] [--old-tree /tmp/old]
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_pbf"),
                   help="region, outputs and logs (not in the repository)")
    p.add_argument("--size", type=int, default=1000, help="grid side (1000: 1M nodes)")
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=2, help="cached-CLI and lean runs each")
    p.add_argument("--old-tree", type=Path, help="a source tree of geo-service to compare")
    args = p.parse_args(argv)
    work, logs = args.work, args.work / "logs-1m"
    work.mkdir(parents=True, exist_ok=True)
    data = region(work, args.size, args.points)
    pbf = data / "grid.osm.pbf"
    cache = pbf.with_name(pbf.name + CACHE_SUFFIX)
    out = work / "out-1m"
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    summary: dict[str, Any] = {"machine": machine(), "counts": counts, "runs": []}
    print(f"{counts['nodes']:,}-node grid, {counts['points']:,} demand points", flush=True)
    runs: list[dict[str, Any]] = summary["runs"]

    def run(label: str, cmd: list[str], tmp: str, *, cold: bool = False) -> dict[str, Any]:
        if cold:
            cache.unlink(missing_ok=True)
        r = child(label, cmd, logs, TMPDIR=fresh_tmp(work, tmp))
        r.pop("stdout", None)
        r["cold"] = cold
        runs.append(r)
        return r

    run("difficulty cold", geo_command(data, out / "new-cold", []), "new", cold=True)
    for i in range(args.runs):
        run("difficulty cached", geo_command(data, out / "new", []), "new")
        run("lean", lean_command(data, out / "lean", out / f"lean-{i}.json"), "lean")
    run("stages", stages_cmd(data, out / "stages", out / "stages.json", None), "new")
    if args.old_tree is not None:
        old_cli = geo_command(data, out / "old-cold", [])
        old_cli[2] = _OLD_CLI.format(tree=str(args.old_tree))
        run("old difficulty cold", old_cli, "old", cold=True)
        old_cli = geo_command(data, out / "old", [])
        old_cli[2] = _OLD_CLI.format(tree=str(args.old_tree))
        run("old difficulty cached", old_cli, "old")
        run("old stages", stages_cmd(data, out / "old-stages", out / "old-stages.json",
                                     args.old_tree), "old")
        summary["old_vs_lean"] = compare_outputs(out / "old", out / "lean")

    summary["agreement"] = compare_outputs(out / "new", out / "lean")
    summary["lean_stages"] = json.loads((out / "lean-0.json").read_text())
    summary["stages"] = json.loads((out / "stages.json").read_text())["stages"]
    if args.old_tree is not None:
        summary["old_stages"] = json.loads((out / "old-stages.json").read_text())["stages"]

    def best(label: str) -> dict[str, float]:
        rs = [r for r in runs if r["label"] == label]
        return {"wall_s": statistics.median(r["wall_s"] for r in rs),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rs)}

    lean = best("lean")
    summary["lean"] = lean
    summary["ratios"] = {}
    for label in ("difficulty cached", "difficulty cold", "old difficulty cached",
                  "old difficulty cold"):
        if any(r["label"] == label for r in runs):
            b = best(label)
            summary["ratios"][label] = {
                "wall_vs_lean": b["wall_s"] / lean["wall_s"],
                "peak_vs_lean": b["peak_rss_mib"] / lean["peak_rss_mib"],
                "target_met": b["wall_s"] <= lean["wall_s"] / 2
                and b["peak_rss_mib"] <= lean["peak_rss_mib"] / 2}
    print()
    print(table([[r["label"], f"{r['wall_s']:.2f}", f"{r['user_s'] + r['sys_s']:.2f}",
                  f"{r['peak_rss_mib']:.0f}", r["load_1min"]] for r in runs],
                ["run", "wall s", "CPU s", "peak RSS MiB", "load 1 min"]))
    print()
    for label, ratio in summary["ratios"].items():
        print(f"{label}: {ratio['wall_vs_lean']:.2f}× lean's wall time, "
              f"{ratio['peak_vs_lean']:.2f}× its peak memory; target (≤ 0.5 both) "
              f"{'met' if ratio['target_met'] else 'not met'}")
    print("agreement with lean:", json.dumps(summary["agreement"]))
    path = save_result("difficulty_1m", summary)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
