"""PBF reader benchmark: the streaming reader (geo_service.engine.pbf_reader) vs pyrosm, at scale.

Input: ``make_grid.py`` regions generated into ``--work`` (default ``/tmp/bench_pbf``), one
per ``--size`` (1000 → 1,000,000 walkable nodes, ~2,000,000 edges), each with ``--points``
demand points (default 1,000,000). Every measurement is a fresh Python process; its peak
memory is the child's own ``ru_maxrss`` (``os.wait4``, see ``bench_pipeline.run_child``),
its wall time the parent's clock (interpreter start and imports included). One child at a
time.

(a) the network read alone, at the first ``--size``:

- ``new cold``: ``network_from_pbf`` with no cache beside the file (parse, write the cache,
  build the WalkNetwork); ``new cached``: the same file again (cache hit);
- ``new arrays``: ``read_walk_arrays(cache=False)``, the parse alone (no WalkNetwork);
- ``pyrosm cold``: ``pyrosm.OSM(path).get_network("walking", nodes=True)`` with an empty
  ``TMPDIR`` (pyrosm keeps its own GeoParquet result cache under ``TMPDIR/pyrosm``);
  ``pyrosm cached``: the same with that cache filled by the cold run.

(b) the whole ``geo-service difficulty`` run (``bench_pipeline.geo_command``), new reader
cold and cached, vs ``lean_pipeline.py`` (pyrosm + shapely + scipy, empty ``TMPDIR``) and,
with ``--old-tree DIR`` (e.g. ``git archive <commit> | tar -x -C DIR``), geo-service as it was
with the pyrosm reader. The issue's target: half the time and half the peak memory of the
pyrosm pipeline at 1M nodes.

(c) peak memory of the difficulty run (new reader, cold) at every ``--size``, and the
largest network a machine's RAM holds by a straight line through them — an extrapolation.

Usage::

    python benchmarks/bench_pbf_reader.py --size 1000 --size 1414 \
        [--old-tree /tmp/old] [--only read|difficulty|scale]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import HERE, machine, save_result, table
from bench_pipeline import geo_command, lean_command, run_child
from make_grid import ensure_region

CACHE_SUFFIX = ".walk-v1.npz"  # geo_service.engine.pbf_reader.CACHE_SUFFIX

_READ = {
    "new": "from geo_service.engine.osm import network_from_pbf as read; r = read(path)",
    "new-arrays": ("from geo_service.engine.pbf_reader import read_walk_arrays as read; "
                   "r = read(path, cache=False)"),
    "pyrosm": ("import pyrosm; "
               "r = pyrosm.OSM(path).get_network(network_type='walking', nodes=True)"),
}
_CHILD = ("import json, sys, time; path = sys.argv[1]; t0 = time.perf_counter(); {read}; "
          "print(json.dumps({{'read_s': time.perf_counter() - t0}}))")
_OLD_CLI = ("import sys; sys.path.insert(0, {tree!r}); import geo_service; "
            "assert geo_service.__file__.startswith({tree!r}), geo_service.__file__; "
            "from geo_service.cli.main import app; sys.argv[0] = 'geo-service'; app()")


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the children started inside."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def region(work: Path, size: int, points: int) -> Path:
    return ensure_region(work / f"grid{size}", ["--size", str(size), "--points", str(points),
                                                "--people", str(10 * points)])


def child(label: str, cmd: list[str], logs: Path, **env: str) -> dict[str, Any]:
    """Run one child (``env`` added to its environment); report and return its numbers."""
    with environ(**env):
        r = run_child(cmd, logs / label.replace(" ", "-"))
    if r["returncode"] != 0:
        raise SystemExit(f"{label} failed (exit {r['returncode']}):\n{r['stderr'][-3000:]}")
    try:
        r["read_s"] = json.loads(r["stdout"].strip().splitlines()[-1])["read_s"]
    except (IndexError, ValueError, KeyError):
        r["read_s"] = None
    r["label"], r["load_1min"] = label, round(os.getloadavg()[0], 2)
    print(f"{label}: {r['wall_s']:.2f} s wall, peak RSS {r['peak_rss_mib']:.0f} MiB "
          f"(load {r['load_1min']})", flush=True)
    return r


def fresh_tmp(work: Path, name: str) -> str:
    path = work / "tmp" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def bench_read(data: Path, work: Path, logs: Path) -> list[dict[str, Any]]:
    pbf = data / "grid.osm.pbf"
    pbf.with_name(pbf.name + CACHE_SUFFIX).unlink(missing_ok=True)

    def read(kind: str) -> list[str]:
        return [sys.executable, "-c", _CHILD.format(read=_READ[kind]), str(pbf)]

    runs = [child("new cold", read("new"), logs),
            child("new cached", read("new"), logs),
            child("new arrays (parse only)", read("new-arrays"), logs)]
    tmp = fresh_tmp(work, "pyrosm-read")
    runs += [child("pyrosm cold", read("pyrosm"), logs, TMPDIR=tmp),
             child("pyrosm cached", read("pyrosm"), logs, TMPDIR=tmp)]
    return runs


def bench_difficulty(data: Path, work: Path, logs: Path, old_tree: Path | None,
                     ) -> list[dict[str, Any]]:
    pbf = data / "grid.osm.pbf"
    pbf.with_name(pbf.name + CACHE_SUFFIX).unlink(missing_ok=True)
    out = work / "out"
    runs = [child("difficulty new cold", geo_command(data, out / "new-cold", []), logs,
                  TMPDIR=fresh_tmp(work, "new")),
            child("difficulty new cached", geo_command(data, out / "new-cached", []), logs,
                  TMPDIR=fresh_tmp(work, "new"))]
    if old_tree is not None:
        cmd = geo_command(data, out / "old", [])
        cmd[2] = _OLD_CLI.format(tree=str(old_tree))
        runs.append(child("difficulty geo-service with pyrosm (old tree)", cmd, logs,
                          TMPDIR=fresh_tmp(work, "old")))
    runs.append(child("lean pipeline (pyrosm)", lean_command(data, out / "lean",
                                                            out / "lean.json"), logs,
                      TMPDIR=fresh_tmp(work, "lean")))
    return runs


def bench_scale(sizes: list[int], points: int, work: Path, logs: Path,
                done: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cold difficulty run at every size (``done``: that run at the first size already)."""
    runs = []
    for size in sizes:
        data = region(work, size, points)
        if done is not None and size == sizes[0]:
            runs.append({**done, "reused": True, "nodes": json.loads(
                (data / "manifest.json").read_text())["counts"]["nodes"]})
            continue
        pbf = data / "grid.osm.pbf"
        pbf.with_name(pbf.name + CACHE_SUFFIX).unlink(missing_ok=True)
        r = child(f"difficulty new cold, {size}x{size}",
                  geo_command(data, work / "out" / f"scale{size}", []), logs,
                  TMPDIR=fresh_tmp(work, "scale"))
        r["nodes"] = json.loads((data / "manifest.json").read_text())["counts"]["nodes"]
        runs.append(r)
    return runs


def extrapolate(scale: list[dict[str, Any]], mem_gib: float) -> dict[str, Any] | None:
    """Nodes a machine of ``mem_gib`` holds, by a straight line through the measured peaks."""
    pts = sorted((r["nodes"], r["peak_rss_mib"]) for r in scale)
    if len(pts) < 2 or pts[-1][0] == pts[0][0]:
        return None
    (n0, m0), (n1, m1) = pts[0], pts[-1]
    slope = (m1 - m0) / (n1 - n0)  # MiB per node
    base = m0 - slope * n0
    nodes = (mem_gib * 1024 - base) / slope
    return {"mib_per_million_nodes": slope * 1e6, "intercept_mib": base,
            "mem_gib": mem_gib, "max_nodes_extrapolated": nodes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_pbf"),
                   help="regions, outputs and logs (not in the repository)")
    p.add_argument("--size", type=int, action="append",
                   help="grid side (repeatable; the first is used for (a) and (b))")
    p.add_argument("--points", type=int, default=1_000_000, help="demand points")
    p.add_argument("--old-tree", type=Path, help="a source tree of geo-service with pyrosm")
    p.add_argument("--only", choices=["read", "difficulty", "scale"], action="append")
    args = p.parse_args(argv)
    sizes = args.size or [1000]
    only = set(args.only or ["read", "difficulty", "scale"])
    args.work.mkdir(parents=True, exist_ok=True)
    logs = args.work / "logs"
    summary: dict[str, Any] = {"machine": machine(), "sizes": sizes, "points": args.points}
    data = region(args.work, sizes[0], args.points)
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    summary["counts"] = counts
    print(f"{counts['nodes']:,}-node grid, {counts['points']:,} demand points; load average "
          f"before: {summary['machine']['loadavg_1min']}", flush=True)
    if "read" in only:
        summary["read"] = bench_read(data, args.work, logs)
    if "difficulty" in only:
        summary["difficulty"] = bench_difficulty(data, args.work, logs, args.old_tree)
    if "scale" in only:
        first = next((r for r in summary.get("difficulty", []) if r["label"] ==
                      "difficulty new cold"), None)
        summary["scale"] = bench_scale(sizes, args.points, args.work, logs, first)
        summary["extrapolation"] = extrapolate(summary["scale"],
                                               summary["machine"].get("mem_gib", 24.0))
    rows = [[r["label"], f"{r['wall_s']:.2f}",
             "-" if r.get("read_s") is None else f"{r['read_s']:.2f}",
             f"{r['user_s'] + r['sys_s']:.2f}", f"{r['peak_rss_mib']:.0f}", r["load_1min"]]
            for key in ("read", "difficulty", "scale") for r in summary.get(key, [])
            if not r.get("reused")]
    print()
    print(table(rows, ["run", "wall s", "import+read s (child)", "CPU s", "peak RSS MiB",
                       "load 1 min"]))
    if summary.get("extrapolation"):
        e = summary["extrapolation"]
        print(f"\npeak memory grows {e['mib_per_million_nodes']:.0f} MiB per million nodes "
              f"(intercept {e['intercept_mib']:.0f} MiB): {e['mem_gib']:g} GiB holds about "
              f"{e['max_nodes_extrapolated'] / 1e6:.1f} M nodes (linear extrapolation)")
    for r in (r for key in ("read", "difficulty", "scale") for r in summary.get(key, [])):
        r.pop("stdout", None)
    path = save_result("bench_pbf_reader", summary)
    print(f"results: {path} ({HERE.name}/results)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
