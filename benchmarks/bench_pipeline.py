"""Pipeline benchmark: the whole shopping-difficulty run, geo-service vs a lean baseline.

Input (``make_grid.py``, generated into ``benchmarks/_data/`` when missing): an OSM PBF of a
317 × 317 street grid (100,489 walkable nodes), 200 shops, 100,000 demand points holding
1,000,000 people, 100 areas. Each run is a fresh Python process (imports included), timed
wall-clock by this script; its peak memory is the child's own ``ru_maxrss`` (``os.wait4``),
so runs do not mask each other.

(a) geo-service: ``geo-service difficulty --network grid.osm.pbf --stores stores.csv
    --population population.csv --areas areas.geojson --out DIR`` (the working tree's code,
    through ``geo_service.cli.main``), with the pipeline's own stage report when it writes one;
(b) lean: ``benchmarks/lean_pipeline.py`` (pyrosm + shapely + scipy, no validation, no
    map), which reports wall time, RSS and peak RSS per stage.

Runs alternate (a), (b), (a), (b)… ``--runs`` times each; the table shows the median wall
time and the highest peak RSS. The two outputs are then compared point by point
(``network_m``, ``straight_m``, ``nearest_store_id``) and area by area (``beyond_65plus``).

Targets (issue 2): geo-service within 2× of lean, under ~15 s and under 1 GB peak.

Usage::

    python benchmarks/bench_pipeline.py            # 3 runs each
    python benchmarks/bench_pipeline.py --runs 5 --only lean
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import HERE, REPO, RESULTS, machine, median, save_result, table
from make_grid import DEFAULT_OUT, ensure_region

TARGET_RATIO = 2.0
TARGET_SECONDS = 15.0
TARGET_MIB = 1024.0

LABELS = {"geo": "geo-service difficulty (CLI)",
          "geo-stages": "geo-service in-process (geo_stages.py)",
          "lean": "lean (pyrosm+shapely+scipy)"}

_CLI = "import sys; from geo_service.cli.main import app; sys.argv[0] = 'geo-service'; app()"


def child_env() -> dict[str, str]:
    """Environment of the child processes: the working tree first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def run_child(cmd: list[str], log_dir: Path) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, the child's own peak RSS (MiB), exit code, logs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_log, err_log = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with open(out_log, "wb") as fo, open(err_log, "wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=child_env(), cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"cmd": cmd, "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024,
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "returncode": proc.returncode,
            "stdout": out_log.read_text(errors="replace")[-5000:],
            "stderr": err_log.read_text(errors="replace")[-5000:]}


def geo_command(data: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-c", _CLI, "difficulty",
            "--network", str(data / "grid.osm.pbf"), "--stores", str(data / "stores.csv"),
            "--population", str(data / "population.csv"),
            "--areas", str(data / "areas.geojson"), "--out", str(out), *extra]


def lean_command(data: Path, out: Path, report: Path) -> list[str]:
    return [sys.executable, str(HERE / "lean_pipeline.py"), "--data", str(data),
            "--out", str(out), "--report", str(report)]


def stages_command(data: Path, out: Path, report: Path) -> list[str]:
    return [sys.executable, str(HERE / "geo_stages.py"), "--data", str(data),
            "--out", str(out), "--report", str(report)]


def geo_available() -> tuple[bool, str]:
    """Whether the working tree's CLI has a ``difficulty`` command."""
    probe = subprocess.run([sys.executable, "-c", _CLI, "difficulty", "--help"],
                           capture_output=True, text=True, env=child_env(), cwd=REPO)
    return probe.returncode == 0, (probe.stderr or probe.stdout).strip().splitlines()[-1:]


def compare_outputs(geo_out: Path, lean_out: Path) -> dict[str, Any]:
    """Point-by-point and area-by-area agreement of the two pipelines' CSV outputs."""
    import numpy as np
    import pandas as pd

    res: dict[str, Any] = {}
    try:
        g = pd.read_csv(geo_out / "points.csv", encoding="utf-8-sig",
                        dtype={"point_id": str, "nearest_store_id": str})
        lp = pd.read_csv(lean_out / "points.csv", encoding="utf-8-sig",
                         dtype={"point_id": str, "nearest_store_id": str})
        m = lp.merge(g, on="point_id", suffixes=("_lean", "_geo"))
        res["points_matched"] = len(m)
        res["points_lean"], res["points_geo"] = len(lp), len(g)
        both = m["network_m_lean"].notna() & m["network_m_geo"].notna()
        res["max_abs_diff_network_m"] = float(
            np.abs(m.loc[both, "network_m_lean"] - m.loc[both, "network_m_geo"]).max())
        res["reachable_mismatch"] = int(
            (m["network_m_lean"].isna() != m["network_m_geo"].isna()).sum())
        res["max_abs_diff_straight_m"] = float(
            np.abs(m["straight_m_lean"] - m["straight_m_geo"]).max())
        res["nearest_store_mismatch"] = int(
            (m["nearest_store_id_lean"].fillna("") != m["nearest_store_id_geo"].fillna(""))
            .sum())
    except (OSError, KeyError, ValueError) as exc:
        res["points_error"] = f"{type(exc).__name__}: {exc}"
    try:
        ga = pd.read_csv(geo_out / "areas.csv", encoding="utf-8-sig", dtype={"area_id": str})
        la = pd.read_csv(lean_out / "areas.csv", encoding="utf-8-sig", dtype={"area_id": str})
        m = la.merge(ga, on="area_id", suffixes=("_lean", "_geo"))
        res["areas_matched"] = len(m)
        for col in ("pop_65plus", "beyond_65plus", "beyond_65plus_straight", "stores_in_area"):
            res[f"max_abs_diff_{col}"] = float(np.abs(m[f"{col}_lean"] - m[f"{col}_geo"]).max())
    except (OSError, KeyError, ValueError) as exc:
        res["areas_error"] = f"{type(exc).__name__}: {exc}"
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_OUT, help="region (make_grid.py)")
    p.add_argument("--runs", type=int, default=3, help="runs of each pipeline")
    p.add_argument("--stage-runs", type=int, default=1,
                   help="extra in-process geo-service runs (geo_stages.py) for the per-stage "
                        "breakdown; the median one is shown")
    p.add_argument("--only", choices=["geo", "lean"], help="run one pipeline only")
    p.add_argument("--geo-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `geo-service difficulty` (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the output folders")
    args = p.parse_args(argv)

    data = ensure_region(args.data) if args.data == DEFAULT_OUT else args.data
    mach = machine()  # before the runs, so the load average is other processes'
    work = RESULTS / "pipeline"
    shutil.rmtree(work, ignore_errors=True)
    kinds = [k for k in ("geo", "lean") if args.only in (None, k)]
    if "geo" in kinds:
        ok, why = geo_available()
        if not ok:
            print(f"geo-service difficulty is not available yet ({' '.join(why)}); "
                  "running the lean pipeline only", flush=True)
            kinds.remove("geo")

    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    schedule = [(i, k) for i in range(args.runs) for k in kinds]
    if "geo" in kinds:
        schedule += [(i, "geo-stages") for i in range(args.stage_runs)]
        runs["geo-stages"] = []
    for i, kind in schedule:
        out = work / f"{kind}-{i}" / "out"
        report = out.parent / "stages.json"
        if kind == "geo":
            cmd = geo_command(data, out, args.geo_arg)
        elif kind == "geo-stages":
            cmd = stages_command(data, out, report)
        else:
            cmd = lean_command(data, out, report)
        r = run_child(cmd, out.parent)
        if r["returncode"] != 0:
            print(f"{kind} run {i} failed (exit {r['returncode']}):\n{r['stderr'][-3000:]}",
                  file=sys.stderr)
            return 1
        r["stages"] = (json.loads(report.read_text(encoding="utf-8"))["stages"]
                       if report.exists() else None)
        r["out"] = str(out)
        runs[kind].append(r)
        print(f"{kind} run {i}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB",
              flush=True)

    summary: dict[str, Any] = {"machine": mach, "data": str(data), "runs": runs}
    info = json.loads((data / "manifest.json").read_text(encoding="utf-8"))["counts"]
    print(f"\nwhole difficulty pipeline: {info['nodes']:,}-node PBF grid, {info['shops']} shops,"
          f" {info['points']:,} demand points ({info['people']:,} people), {info['areas']} "
          f"areas; {args.runs} runs each ({summary['machine']['date_utc']}, load avg before "
          f"{summary['machine']['loadavg_1min']})")
    rows = []
    med = {k: median([r["wall_s"] for r in v]) for k, v in runs.items()}
    peak = {k: max(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
    for k, v in runs.items():
        label = LABELS[k]
        rows.append([label, f"{med[k]:.2f}", f"{min(r['wall_s'] for r in v):.2f}",
                     f"{median([r['user_s'] + r['sys_s'] for r in v]):.2f}", f"{peak[k]:.0f}"])
    print(table(rows, ["pipeline", "median wall s", "min wall s", "CPU s", "peak RSS MiB"]))
    for k, v in runs.items():
        mid = sorted(v, key=lambda r: r["wall_s"])[len(v) // 2]
        if mid["stages"]:
            print(f"\nstages of the median {LABELS[k]} run:")
            print(table([[s.get("stage", s.get("name", "?")), f"{s.get('seconds', 0):.2f}",
                          _fmt(s.get("rss_mib")), _fmt(s.get("peak_rss_mib"))]
                         for s in mid["stages"]],
                        ["stage", "seconds", "RSS MiB", "peak RSS MiB"]))

    status = 0
    if "geo" in runs and "lean" in runs:
        ratio = med["geo"] / med["lean"]
        checks = {
            f"geo / lean ≤ {TARGET_RATIO:g}×": (ratio, ratio <= TARGET_RATIO, f"{ratio:.2f}×"),
            f"geo under {TARGET_SECONDS:g} s": (med["geo"], med["geo"] < TARGET_SECONDS,
                                                 f"{med['geo']:.2f} s"),
            "geo under 1 GiB peak": (peak["geo"], peak["geo"] < TARGET_MIB,
                                     f"{peak['geo']:.0f} MiB"),
        }
        print()
        for name, (_, ok, shown) in checks.items():
            print(f"{name}: {shown}  {'PASS' if ok else 'FAIL'}")
            status = status or (0 if ok else 2)
        cpu = {k: median([r["user_s"] + r["sys_s"] for r in runs[k]]) for k in ("geo", "lean")}
        best = {k: min(r["wall_s"] for r in runs[k]) for k in ("geo", "lean")}
        print(f"(geo / lean by min wall {best['geo'] / best['lean']:.2f}×, by median CPU time "
              f"{cpu['geo'] / cpu['lean']:.2f}×: CPU time is the steadier figure when other "
              "processes share the cores)")
        summary["ratio_geo_lean"] = ratio
        summary["ratio_geo_lean_min_wall"] = best["geo"] / best["lean"]
        summary["ratio_geo_lean_cpu"] = cpu["geo"] / cpu["lean"]
        cmp_ = compare_outputs(Path(runs["geo"][0]["out"]), Path(runs["lean"][0]["out"]))
        summary["agreement"] = cmp_
        print("agreement geo vs lean: " + ", ".join(f"{k} = {v:g}" if isinstance(v, float)
                                                    else f"{k} = {v}" for k, v in cmp_.items()))
    path = save_result("pipeline", summary)
    print(f"results: {path}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return status


def _fmt(x: Any) -> str:
    return f"{x:.0f}" if isinstance(x, int | float) else "-"


if __name__ == "__main__":
    raise SystemExit(main())
