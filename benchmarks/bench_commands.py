"""Commands a coordinator waits for, as fresh processes (issue 19, item 1): a store closure
from the CLI < 3 s at 250,000 nodes, ``site --k 10`` < 2 s, ``gaps`` < 2 s, process start
included.

Data (built once under ``benchmarks/_data/commands/``): bench_api's 250,000-node region
(a 500 × 500 street grid on gentle hills, 25,000 demand points, 25 areas) with 200
supermarkets on seeded random nodes as its food-store layer, and a registry of bench_api's
5,000 resources (places, polygon / radius / walking-time / 小学校区 / whole-city services,
mobile-sales routes) in the data directory ``GEO_SERVICE_DATA_DIR`` of the runs; and the
demo region (``geo-service gaps`` without ``--region`` builds it there once).

Each command is run as a person runs it (a new ``python`` process: imports, region,
registry, compute, printing), wall time measured around the process and its CPU time
(user + system) from ``os.wait4``, the 1-minute load average recorded before each run
(a shared 2-core machine: wall time waits for other people's work, CPU time does not):

- **cold**: the region's ``cache/`` removed first (what the first command after a region
  is built or the registry changed pays: it computes and saves the baseline);
- **warm**: ``--runs`` more runs, medians reported (what every later command pays).

Also ``python -X importtime -c "import geo_service.cli.main"`` (the CLI's import time) and
a bare ``python -c pass`` for scale. ``--old-tree DIR`` (``git archive <commit> | tar -x
-C DIR``) runs the same commands with that tree's code for comparison.

Usage::

    python benchmarks/bench_commands.py [--runs 5] [--old-tree /tmp/old]

Results: printed and written to ``benchmarks/results/bench_commands-<time>.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPO, import_geo_service, machine, median, save_result, table  # noqa: E402

import_geo_service()

DATA = HERE / "_data" / "commands"
REGION = DATA / "region"
DATA_DIR = DATA / "data"
SEED = 20261129
N_STORES = 200
_CLI = "import sys; from geo_service.cli.main import app; sys.argv[0] = 'geo-service'; app()"


def build() -> None:
    """The region with 200 stores and its registry of 5,000 resources (once)."""
    if (REGION / "region.json").exists():
        return
    import geopandas as gpd
    import numpy as np
    import shapely
    from bench_api import build_region, registry_items

    from geo_service.config import ServiceSettings
    from geo_service.engine.region import Region
    from geo_service.registry.store import open_store

    region = Region.load(build_region())
    net = region.net
    nodes = np.random.default_rng(SEED).choice(net.n_nodes, N_STORES, replace=False)
    region.resources["food_stores"] = gpd.GeoDataFrame(
        {"store_id": [f"S{k:03d}" for k in range(N_STORES)],
         "name": [f"店{k:03d}" for k in range(N_STORES)],
         "category": ["supermarket"] * N_STORES},
        geometry=shapely.points(net.node_xy[nodes] + np.array([3.0, 0.0])), crs=net.crs)
    region.save(REGION)
    url = ServiceSettings(data_dir=DATA_DIR).registry_url(region.key)
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(url, layers={a.name: a for a in region.areas})
    store.add_many(registry_items(net.bounds_lonlat()), user="bench")


def env(tree: Path | None) -> dict[str, str]:
    out = {**os.environ, "GEO_SERVICE_DATA_DIR": str(DATA_DIR)}
    out.pop("GEO_SERVICE_REGION_DIR", None)
    out.pop("GEO_SERVICE_DATABASE_URL", None)
    out["PYTHONPATH"] = str(tree or REPO)
    return out


def run_timed(cmd: list[str], tree: Path | None) -> dict:
    """Run ``cmd``: wall seconds, the child's CPU seconds (``os.wait4``) and the load."""
    load = os.getloadavg()[0]
    log = DATA / "last_output.txt"
    with open(log, "wb") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env(tree), cwd=DATA)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({code}):\n{text[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "load_1min": load,
            "output": text[-2000:]}


def commands(scenarios: Path) -> dict[str, list[str]]:
    region = ["--region", str(REGION)]
    return {
        "scenario create --close (250k nodes)": [
            "scenario", "create", "閉店", "--close", "S100", "--replace",
            "--folder", str(scenarios), *region],
        "site --k 10 (250k nodes)": ["site", "--need", "food_store", "--k", "10", *region],
        "gaps (250k nodes)": ["gaps", *region],
        "gaps (demo)": ["gaps"],
    }


def import_time(tree: Path | None) -> dict:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import geo_service.cli.main"], capture_output=True, text=True,
                         env=env(tree), check=True).stderr
    total = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| geo_service\.cli\.main$", out,
                       flags=re.M)
    bare = [run_timed([sys.executable, "-c", "pass"], tree)["wall_s"] for _ in range(3)]
    started = [run_timed([sys.executable, "-c", "import geo_service.cli.main"], tree)
               for _ in range(3)]
    return {"cli_import_us": int(total[-1]) if total else None,
            "python_start_s": median(bare),
            "cli_import_process_s": median([s["wall_s"] for s in started]),
            "cli_import_process_cpu_s": median([s["cpu_s"] for s in started])}


def measure(tree: Path | None, runs: int, label: str) -> dict:
    scenarios = DATA / f"scenarios_{label}"
    results = {}
    for name, args in commands(scenarios).items():
        cmd = [sys.executable, "-c", _CLI, *args]
        cache = (REGION if "--region" in args else DATA_DIR / "demo" / "region") / "cache"
        if name == "gaps (demo)":
            run_timed(cmd, tree)  # the demo region is built once (not timed)
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(DATA_DIR / "cache", ignore_errors=True)
        cold = run_timed(cmd, tree)
        warm = [run_timed(cmd, tree) for _ in range(runs)]
        results[name] = {"cold": cold, "warm": warm,
                         "warm_wall_s": median([w["wall_s"] for w in warm]),
                         "warm_cpu_s": median([w["cpu_s"] for w in warm]),
                         "warm_load_1min": median([w["load_1min"] for w in warm])}
        print(f"[{label}] {name}: cold {cold['wall_s']:.1f} s (CPU {cold['cpu_s']:.1f} s), "
              f"warm median {results[name]['warm_wall_s']:.2f} s wall, "
              f"{results[name]['warm_cpu_s']:.2f} s CPU, load "
              f"{results[name]['warm_load_1min']:.1f}", flush=True)
    results["import"] = import_time(tree)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-tree", type=Path, default=None)
    args = parser.parse_args()
    build()
    trees = {"this tree": None}
    if args.old_tree is not None:
        trees = {"old tree": args.old_tree, **trees}
    found = {label: measure(tree, args.runs, label.replace(" ", "_"))
             for label, tree in trees.items()}
    goals = {"scenario create --close (250k nodes)": 3.0, "site --k 10 (250k nodes)": 2.0,
             "gaps (250k nodes)": 2.0, "gaps (demo)": 2.0}
    rows = []
    for name, goal in goals.items():
        for label, res in found.items():
            r = res[name]
            rows.append([name, label, f"{r['cold']['wall_s']:.1f} s / {r['cold']['cpu_s']:.1f} s",
                         f"{r['warm_wall_s']:.2f} s", f"{r['warm_cpu_s']:.2f} s",
                         f"{r['warm_load_1min']:.1f}",
                         f"< {goal:g} s: {'met' if r['warm_wall_s'] < goal else 'missed'} "
                         f"(CPU {'met' if r['warm_cpu_s'] < goal else 'missed'})"])
    print(table(rows, ["command", "code", "cold wall / CPU", "warm wall (median)",
                       "warm CPU (median)", "load (1 min)", "goal"]))
    for label, res in found.items():
        imp = res["import"]
        print(f"{label}: import geo_service.cli.main {imp['cli_import_us'] / 1e6:.2f} s "
              f"(-X importtime); a process importing it {imp['cli_import_process_s']:.2f} s "
              f"wall, {imp['cli_import_process_cpu_s']:.2f} s CPU; python -c pass "
              f"{imp['python_start_s']:.2f} s")
    print("saved", save_result("bench_commands", {"machine": machine(), "runs": args.runs,
                                                  "results": found}))


if __name__ == "__main__":
    main()
