"""Small helpers shared by the benchmark scripts (timing, memory, machine info, output)."""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"


def import_geo_service() -> None:
    """Make ``geo_service`` importable from a source checkout that is not pip-installed."""
    try:
        import geo_service  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(REPO))


def time_repeats(fn: Callable[[], Any], repeats: int, *, warmup: int = 1) -> tuple[list[float],
                                                                                    Any]:
    """Run ``fn`` ``warmup`` + ``repeats`` times; return the timed seconds and the last result.

    The garbage collector runs before and is disabled during each timed call.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return times, result


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Current resident set size of this process, MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import numpy
    import scipy
    import shapely

    info: dict[str, Any] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "numpy": numpy.__version__, "scipy": scipy.__version__,
        "shapely": shapely.__version__,
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                               if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def save_result(name: str, payload: dict[str, Any]) -> Path:
    """Write a JSON result to ``benchmarks/results/<name>-<UTC timestamp>.json``."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str),
                    encoding="utf-8")
    return path


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def bench_backends(choice: str, sqlite_file: Path) -> list[tuple[str, str]]:
    """The (name, URL) of the registries to measure for ``--backend`` ``choice`` (sqlite,
    postgis or both): ``sqlite_file``, and the PostGIS database of
    ``GEO_SERVICE_BENCH_PG_URL`` (or ``GEO_SERVICE_TEST_PG_URL``; it is wiped)."""
    backends = []
    if choice in ("sqlite", "both"):
        backends.append(("sqlite", f"sqlite:///{sqlite_file}"))
    pg = os.environ.get("GEO_SERVICE_BENCH_PG_URL") or os.environ.get("GEO_SERVICE_TEST_PG_URL")
    if choice in ("postgis", "both"):
        if pg:
            backends.append(("postgis", pg))
        else:
            print("PostGIS skipped: set GEO_SERVICE_BENCH_PG_URL (bash .ci/postgis.sh prints one)")
    return backends


@contextmanager
def serve_api(env: dict[str, str], *, port: int, workers: int = 1,
              cwd: Path | None = None) -> Iterator[str]:
    """Run the API as deployed (uvicorn, ``workers`` processes, access log off) on loopback
    with ``env``; yield its base URL once ``/health`` answers; stop it on the way out."""
    import httpx

    cmd = [sys.executable, "-m", "uvicorn", "geo_service.api.main:app_from_env", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, cwd=cwd)  # -m puts cwd first on the path
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker that does not stop
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
