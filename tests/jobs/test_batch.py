"""geo-service batch (issue 11): partitioned runs on a Dask LocalCluster equal one run.

The region is a street grid PBF from benchmarks/make_grid.py (60 × 60 nodes 80 m apart,
8 shops, 3,000 demand points), cut into 2 × 2 partitions; areas are reported on a 5 × 5
layer whose areas straddle the partition borders.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import CRS
from typer.testing import CliRunner

pytest.importorskip("distributed")
pytest.importorskip("osmium")
pytestmark = pytest.mark.dask

from distributed import Client, LocalCluster  # noqa: E402

from geo_service._errors import InputError  # noqa: E402
from geo_service.cli.main import app  # noqa: E402
from geo_service.jobs.batch import run_batch  # noqa: E402
from geo_service.jobs.partitions import run_partition  # noqa: E402
from geo_service.jobs.pipeline import build_region, compute_difficulty  # noqa: E402
from geo_service.layers import load_resource_layer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GRID = ["--size", "60", "--shops", "8", "--points", "3000", "--people", "30000"]


def _make_grid():
    spec = importlib.util.spec_from_file_location("make_grid", ROOT / "benchmarks/make_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    make_grid = _make_grid()
    parts = tmp_path_factory.mktemp("grid2")
    report = tmp_path_factory.mktemp("grid5")
    make_grid.main([*GRID, "--areas", "2", "--out", str(parts)])  # 4 partitions
    make_grid.main([*GRID, "--areas", "5", "--out", str(report)])  # same grid, 25 areas
    return {"pbf": parts / "grid.osm.pbf", "partitions": parts / "areas.geojson",
            "stores": parts / "stores.csv", "population": parts / "population.csv",
            "areas": report / "areas.geojson"}


@pytest.fixture(scope="module")
def layer():
    return load_resource_layer("food_stores")


@pytest.fixture(scope="module")
def reference(grid, layer):
    """One `difficulty` computation on the whole extent."""
    region = build_region(network=grid["pbf"], stores=str(grid["stores"]),
                          population=[grid["population"]], areas=[str(grid["areas"])],
                          layer=layer)
    return compute_difficulty(region, layer=layer)


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def _batch(grid, layer, client, out, buffer_m):
    return run_batch(pbf=grid["pbf"], partitions=grid["partitions"], stores=str(grid["stores"]),
                     population=grid["population"], areas=[grid["areas"]], out=out,
                     layer=layer, buffer_m=buffer_m, client=client)


@pytest.mark.parametrize("buffer_m", [2000.0, 600.0])
def test_partitioned_run_equals_single_run(grid, layer, reference, client, tmp_path, buffer_m):
    result = _batch(grid, layer, client, tmp_path, buffer_m)
    ref = reference.points.set_index("point_id")
    got = result.points.set_index("point_id")
    assert sorted(got.index) == sorted(ref.index)  # every point, in exactly one partition
    got = got.loc[ref.index]
    within = ref["reachable"].to_numpy() & (ref["network_m"].to_numpy() <= buffer_m)
    assert 0 < within.sum() < len(ref)  # both kinds of point occur
    # exact where the nearest store is within the buffer ...
    np.testing.assert_allclose(got["network_m"].to_numpy()[within],
                               ref["network_m"].to_numpy()[within], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["walk_min"].to_numpy()[within],
                               ref["walk_min"].to_numpy()[within], rtol=0, atol=1e-9)
    assert (got["nearest_store_id"].to_numpy()[within]
            == ref["nearest_store_id"].to_numpy()[within]).all()
    # ... censored (no number) exactly where it is not
    assert (got["censored"].to_numpy() == ~within).all()
    assert got.loc[~within, "network_m"].isna().all()
    # areas straddling partitions: the same counts (buffer ≥ threshold: censored = beyond)
    ref_areas = reference.areas.set_index("area_id")
    got_areas = result.areas.set_index("area_id").loc[ref_areas.index]
    for col in ("pop_65plus", "beyond_65plus", "beyond_65plus_straight", "stores_in_area"):
        np.testing.assert_allclose(got_areas[col].to_numpy(float),
                                   ref_areas[col].to_numpy(float), rtol=0, atol=1e-9)
    # the file contract of a single run, plus censored/partition and GeoParquet
    points = pd.read_csv(tmp_path / "points.csv", encoding="utf-8-sig")
    assert {"network_m", "censored", "partition"} <= set(points.columns)
    assert len(points) == len(ref)
    for name in ("areas.csv", "areas.geojson", "points.parquet",
                 "areas.parquet"):
        assert (tmp_path / name).exists()
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["summary"]["censored_points"] == int((~within).sum())
    assert len(summary["partitions"]) == 4


def test_partitions_ran_on_dask_workers_and_resume(grid, layer, client, tmp_path):
    result = _batch(grid, layer, client, tmp_path, 2000.0)
    worker_pids = set(client.run(os.getpid).values())
    pids = {p["pid"] for p in result.partitions}
    assert pids <= worker_pids and os.getpid() not in pids
    assert {p["partition_id"] for p in result.partitions} == {"A001", "A002", "A003", "A004"}
    folders = [p for p in (tmp_path / "partitions").iterdir() if p.is_dir()]
    assert sorted(p.name for p in folders) == ["A001", "A002", "A003", "A004"]
    for folder in folders:
        assert (folder / "extract.osm.pbf").stat().st_size > 0
        assert "<html" in (folder / "map.html").read_text(encoding="utf-8").lower()
    # resume: a finished partition is not recomputed; a missing one is
    (tmp_path / "partitions" / "A003" / "partition.json").unlink()
    before = {p.name: (p / "partition.json").read_text() for p in folders
              if (p / "partition.json").exists()}
    again = _batch(grid, layer, client, tmp_path, 2000.0)
    after = {p.name: (p / "partition.json").read_text() for p in folders}
    assert all(after[k] == v for k, v in before.items()) and "A003" in after
    pd.testing.assert_frame_equal(
        again.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True),
        result.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True))


def test_buffer_below_threshold_is_refused(grid, layer, client, tmp_path):
    with pytest.raises(InputError, match="buffer"):
        _batch(grid, layer, client, tmp_path, 300.0)


def test_cli_batch_on_an_existing_scheduler(grid, client, tmp_path):
    result = CliRunner().invoke(app, [
        "batch", "--pbf", str(grid["pbf"]), "--partitions", str(grid["partitions"]),
        "--population", str(grid["population"]), "--stores", str(grid["stores"]),
        "--areas", str(grid["areas"]), "--buffer", "2000", "--out", str(tmp_path),
        "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    assert "区画 4/4" in result.output and "打ち切り" in result.output
    areas = pd.read_csv(tmp_path / "areas.csv", encoding="utf-8-sig")
    assert len(areas) == 25


def _always_fails_in_a003_until_fixed(part, **kwargs):
    """run_partition, but A003 raises on every attempt while its folder holds ``broken``."""
    if part.partition_id == "A003" and (Path(part.folder).parent.parent / "broken").exists():
        raise InputError("this partition's input is broken", file=part.folder)
    return run_partition(part, **kwargs)


def test_a_failing_partition_is_reported_and_the_others_finish(grid, layer, reference, client,
                                                              tmp_path):
    import cloudpickle

    out = tmp_path / "out"
    out.mkdir()
    (out / "broken").write_text("A003 fails", encoding="utf-8")
    kwargs = {"pbf": grid["pbf"], "partitions": grid["partitions"],
              "stores": str(grid["stores"]), "population": grid["population"],
              "areas": [grid["areas"]], "out": out, "layer": layer, "buffer_m": 2000.0,
              "client": client, "task": _always_fails_in_a003_until_fixed}
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        result = run_batch(**kwargs)
        assert [f["partition_id"] for f in result.failed] == ["A003"]
        assert "InputError" in result.failed[0]["error"]  # after its retry
        assert {p["partition_id"] for p in result.partitions} == {"A001", "A002", "A004"}
        table = pd.read_csv(grid["population"], dtype=str)
        assert 0 < len(result.points) < len(table)
        assert set(result.points["partition"]) == {"A001", "A002", "A004"}
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["complete"] is False
        assert summary["failed_partitions"][0]["partition_id"] == "A003"
        parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig").set_index(
            "partition_id")
        assert bool(parts.loc["A003", "failed"]) and parts.loc["A003", "pop_65plus"] == 0
        # fixed, rerun: only the failed partition is computed, and the result is whole
        done_before = {p: (out / "partitions" / p / "partition.json").read_text()
                       for p in ("A001", "A002", "A004")}
        (out / "broken").unlink()
        again = run_batch(**kwargs)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert not again.failed and len(again.points) == len(table)
    assert all((out / "partitions" / p / "partition.json").read_text() == text
               for p, text in done_before.items())
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["complete"] is True
    _assert_exact_or_censored(again.points, reference.points, 2000.0)


def _die_once_in_a002(part, **kwargs):
    """run_partition, but the worker process dies the first time it starts A002."""
    marker = Path(part.folder) / "killed-once"
    if part.partition_id == "A002" and not marker.exists():
        marker.write_text("the worker was killed here once", encoding="utf-8")
        os._exit(1)
    return run_partition(part, **kwargs)


def test_a_worker_killed_mid_partition_is_retried_and_the_result_is_identical(
        grid, layer, client, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        killed = run_batch(pbf=grid["pbf"], partitions=grid["partitions"],
                           stores=str(grid["stores"]), population=grid["population"],
                           areas=[grid["areas"]], out=tmp_path / "killed", layer=layer,
                           buffer_m=2000.0, client=client, task=_die_once_in_a002)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (tmp_path / "killed" / "partitions" / "A002" / "killed-once").exists()
    assert not killed.failed and len(killed.partitions) == 4
    plain = _batch(grid, layer, client, tmp_path / "plain", 2000.0)
    pd.testing.assert_frame_equal(
        killed.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True),
        plain.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True))
    for name in ("points.csv", "areas.csv"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def _assert_exact_or_censored(got_points, ref_points, buffer_m, atol=1e-6):
    ref = ref_points.set_index("point_id")
    got = got_points.set_index("point_id").loc[ref.index]
    within = ref["reachable"].to_numpy() & (ref["network_m"].to_numpy() <= buffer_m)
    assert within.any()
    np.testing.assert_allclose(got["network_m"].to_numpy()[within],
                               ref["network_m"].to_numpy()[within], rtol=0, atol=atol)
    assert (got["nearest_store_id"].to_numpy()[within]
            == ref["nearest_store_id"].to_numpy()[within]).all()
    assert (got["censored"].to_numpy() == ~within).all()


def test_stores_from_the_extract(grid, layer, client, tmp_path):
    region = build_region(network=grid["pbf"], stores="osm", population=[grid["population"]],
                          areas=[str(grid["areas"])], layer=layer)
    ref = compute_difficulty(region, layer=layer)
    got = run_batch(pbf=grid["pbf"], partitions=grid["partitions"], stores="osm",
                    population=grid["population"], areas=[grid["areas"]], out=tmp_path,
                    layer=layer, buffer_m=2000.0, client=client)
    assert ref.points["nearest_store_id"].str.startswith("node/").any()
    _assert_exact_or_censored(got.points, ref.points, 2000.0)
    # every shop counted once, though the partitions' extents overlap
    ref_areas = ref.areas.set_index("area_id")
    got_areas = got.areas.set_index("area_id").loc[ref_areas.index]
    assert (got_areas["stores_in_area"] == ref_areas["stores_in_area"]).all()
    assert ref_areas["stores_in_area"].sum() == 8
    # every written map and GeoJSON names the run and its sources (the per-partition maps
    # had neither; summary.json gave the extract's full path as the region)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["region"] == "grid" and summary["attributions"] == [
        "© OpenStreetMap contributors"]
    assert [(x["role"], x["file"]) for x in summary["sources"]] == [
        ("道路網", "grid.osm.pbf"), ("店舗", "grid.osm.pbf"),
        ("区切り（パーティション）", "areas.geojson"), ("人口", "population.csv"),
        ("区域 areas", "areas.geojson")]
    maps = sorted((tmp_path / "partitions").glob("*/map.html"))
    assert len(maps) == 4
    for path in [tmp_path / "map.html", *maps]:
        html = path.read_text(encoding="utf-8")
        assert '<div class="gs-sources">© OpenStreetMap contributors</div>' in html, path
        assert "<h1>grid　" in html, path
    for name in ("areas.geojson", "partitions.geojson"):
        about = json.loads((tmp_path / name).read_text(encoding="utf-8"))["metadata"]
        assert about["region"] == "grid" and about["attributions"] == [
            "© OpenStreetMap contributors"], name


def test_every_partition_measures_in_the_batch_crs(grid, layer, client, tmp_path):
    from geo_service.engine.osm import load_walk_network

    # the grid's own zone is EPSG:6670 (II); measure everything in zone III instead
    net = load_walk_network(grid["pbf"]).to_crs(CRS.from_epsg(6671))
    net.save(tmp_path / "whole.npz")
    region = build_region(network=tmp_path / "whole.npz", stores=str(grid["stores"]),
                          population=[grid["population"]], areas=[str(grid["areas"])],
                          layer=layer)
    ref = compute_difficulty(region, layer=layer)
    got = run_batch(pbf=grid["pbf"], partitions=grid["partitions"], stores=str(grid["stores"]),
                    population=grid["population"], areas=[grid["areas"]],
                    out=tmp_path / "out", layer=layer, buffer_m=2000.0, client=client,
                    crs="EPSG:6671")
    assert {m["metric_crs"] for m in got.partitions} == {"EPSG:6671"}
    assert got.points.crs.equals(CRS.from_epsg(6671))
    _assert_exact_or_censored(got.points, ref.points, 2000.0)


def _mesh_table(grid, path):
    """The grid's people summed into ½ meshes (500 m cells, 9-digit codes)."""
    import jismesh.utils as ju

    pop = pd.read_csv(grid["population"])
    codes = ju.to_meshcode(pop["lat"].to_numpy(), pop["lon"].to_numpy(), 4).astype(str)
    table = (pop.assign(mesh_code=codes).groupby("mesh_code")[["pop_total", "pop_65plus"]]
             .sum().reset_index())
    table.to_csv(path, index=False)
    return table


def test_a_mesh_table_is_apportioned_in_one_partition_as_in_one_run(grid, layer, client,
                                                                   tmp_path):
    table = _mesh_table(grid, tmp_path / "mesh.csv")
    region = build_region(network=grid["pbf"], stores=str(grid["stores"]),
                          population=[tmp_path / "mesh.csv"], areas=[str(grid["areas"])],
                          layer=layer)
    ref = compute_difficulty(region, layer=layer)
    got = run_batch(pbf=grid["pbf"], partitions=grid["partitions"], stores=str(grid["stores"]),
                    population=tmp_path / "mesh.csv", areas=[grid["areas"]],
                    out=tmp_path / "out", layer=layer, buffer_m=2000.0, client=client)
    # cells straddle the partition borders: each goes whole to one partition, whose extent
    # grows to hold it, so the same street samples (same ids) get the same distances
    assert len(table) > 30
    assert sorted(got.points["point_id"]) == sorted(ref.points["point_id"])
    _assert_exact_or_censored(got.points, ref.points, 2000.0)
    assert got.points["pop_65plus"].sum() == pytest.approx(table["pop_65plus"].sum())
    ref_areas = ref.areas.set_index("area_id")
    got_areas = got.areas.set_index("area_id").loc[ref_areas.index]
    for col in ("pop_65plus", "beyond_65plus"):
        np.testing.assert_allclose(got_areas[col].to_numpy(float),
                                   ref_areas[col].to_numpy(float), rtol=0, atol=1e-9)


def _cut_comparison(grid, layer, client):
    """Arguments of two batch runs whose cuts are compared (osmium-tool needed)."""
    import shutil

    if shutil.which("osmium") is None:
        pytest.skip("osmium-tool (Debian package) is not installed")
    return {"pbf": grid["pbf"], "partitions": grid["partitions"],
            "stores": str(grid["stores"]), "population": grid["population"],
            "areas": [grid["areas"]], "layer": layer, "buffer_m": 600.0, "client": client,
            "maps": False}


def test_the_pyosmium_cut_gives_the_same_result_as_osmium_tool(grid, layer, client, tmp_path):
    kwargs = _cut_comparison(grid, layer, client)
    tool = run_batch(out=tmp_path / "tool", **kwargs)
    python = run_batch(out=tmp_path / "python", cut_tool=None, **kwargs)
    pd.testing.assert_frame_equal(
        tool.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True),
        python.points.drop(columns="geometry").sort_values("point_id").reset_index(drop=True))
    assert (tmp_path / "tool" / "areas.csv").read_bytes() == \
        (tmp_path / "python" / "areas.csv").read_bytes()


def test_a_rerun_with_other_settings_is_refused_unless_fresh(grid, layer, client, tmp_path):
    kwargs = {"pbf": grid["pbf"], "partitions": grid["partitions"],
              "stores": str(grid["stores"]), "population": grid["population"],
              "out": tmp_path, "layer": layer, "client": client, "maps": False}
    run_batch(buffer_m=2000.0, **kwargs)
    with pytest.raises(InputError, match="another run.*buffer_m.*--fresh"):
        run_batch(buffer_m=1000.0, **kwargs)
    (tmp_path / "partitions" / "run.json").unlink()  # an older run kept no record
    with pytest.raises(InputError, match="did not record"):
        run_batch(buffer_m=2000.0, **kwargs)
    again = run_batch(buffer_m=1000.0, fresh=True, **kwargs)
    assert {m["partition_id"] for m in again.partitions} == {"A001", "A002", "A003", "A004"}
    assert json.loads((tmp_path / "summary.json").read_text())["buffer_m"] == 1000.0


def test_people_outside_every_partition_are_counted_not_lost(grid, layer, client, tmp_path):
    pop = pd.read_csv(grid["population"], dtype=str)
    far = pd.DataFrame([{"point_id": "far-away", "lon": "131.5", "lat": "34.5",
                         "pop_total": "10", "pop_65plus": "4"}])
    pd.concat([pop, far]).to_csv(tmp_path / "pop.csv", index=False)
    result = CliRunner().invoke(app, [
        "batch", "--pbf", str(grid["pbf"]), "--partitions", str(grid["partitions"]),
        "--population", str(tmp_path / "pop.csv"), "--stores", str(grid["stores"]),
        "--out", str(tmp_path / "out"), "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    assert "人口の 1 行" in result.output
    assert "徒歩500m超の65歳以上の割合が高い順" in result.output  # the partitions, hardest first
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["outside_partitions"] == {"rows": 1, "pop_total": 10.0, "pop_65plus": 4.0}
    assert "far-away" not in set(pd.read_csv(tmp_path / "out" / "points.csv")["point_id"])
    # the overview: one row per partition, adding up to the whole
    parts = pd.read_csv(tmp_path / "out" / "partitions.csv", encoding="utf-8-sig")
    assert len(parts) == 4 and parts["demand_points"].sum() == len(pop)
    assert parts["pop_65plus"].sum() == pytest.approx(pop["pop_65plus"].astype(float).sum())
    assert (parts["seconds"] > 0).all()
    assert (parts["peak_rss_mib"] > 0).all()
    assert (parts["peak_rss_mib"] <= parts["worker_peak_rss_mib"] + 5).all()  # same process
    overview = (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    assert all(code in overview for code in ("A001", "A002", "A003", "A004"))


def _cli_batch(grid, out, *extra):
    return CliRunner().invoke(app, [
        "batch", "--pbf", str(grid["pbf"]), "--partitions", str(grid["partitions"]),
        "--population", str(grid["population"]), "--stores", str(grid["stores"]),
        "--areas", str(grid["areas"]), "--no-maps", "--out", str(out), *extra])


def test_a_cluster_started_from_the_shell_with_a_scheduler_file(grid, reference, tmp_path):
    """The README's HPC recipe: `dask scheduler` and `dask worker` processes (as srun would
    start them), then `geo-service batch --scheduler-file`."""
    import subprocess
    import time

    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host",
                               "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if sched_file.exists():
                break
            time.sleep(0.1)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
             "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        result = _cli_batch(grid, tmp_path / "out", "--scheduler-file", str(sched_file))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
    assert result.exit_code == 0, result.output
    assert "区画 4/4" in result.output
    points = pd.read_csv(tmp_path / "out" / "points.csv", encoding="utf-8-sig",
                         dtype={"point_id": str, "nearest_store_id": str})
    points["nearest_store_id"] = points["nearest_store_id"].fillna("")
    _assert_exact_or_censored(points, reference.points, 2000.0, atol=0.005 + 1e-9)  # CSV: cm


STAND_IN_SBATCH = """#!/usr/bin/env bash
# Slurm's sbatch, standing in: run the job script now, in its own process group.
cp "$1" "{jobs}/job-$$.sh"
setsid bash "{jobs}/job-$$.sh" > "{jobs}/job-$$.log" 2>&1 < /dev/null &
echo "$!" >> "{jobs}/submitted"
echo "Submitted batch job $!"
"""
STAND_IN_SCANCEL = """#!/usr/bin/env bash
for job in "$@"; do kill -- "-$job" 2>/dev/null; echo "$job" >> "{jobs}/cancelled"; done
exit 0
"""


def test_cluster_slurm_submits_worker_jobs_from_the_dask_config(grid, reference, tmp_path,
                                                                monkeypatch):
    """`--cluster slurm --workers 2` with the queue settings in a jobqueue.yaml: two jobs
    go to sbatch (a stand-in that runs them here), the run finishes on them, and closing
    cancels them with scancel."""
    pytest.importorskip("dask_jobqueue")
    import dask.config

    jobs, bin_dir, config = tmp_path / "jobs", tmp_path / "bin", tmp_path / "dask"
    for folder in (jobs, bin_dir, config):
        folder.mkdir()
    for name, text in (("sbatch", STAND_IN_SBATCH), ("scancel", STAND_IN_SCANCEL)):
        (bin_dir / name).write_text(text.format(jobs=jobs), encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    (config / "jobqueue.yaml").write_text(
        "jobqueue:\n  slurm:\n    cores: 1\n    processes: 1\n    memory: 2GB\n"
        "    walltime: '00:30:00'\n    queue: short\n    interface: lo\n"
        f"    log-directory: {jobs}\n", encoding="utf-8")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    dask.config.refresh(paths=[*dask.config.paths, str(config)])  # as ~/.config/dask is read
    try:
        result = _cli_batch(grid, tmp_path / "out", "--cluster", "slurm", "--workers", "2")
    finally:
        dask.config.refresh()
    assert result.exit_code == 0, result.output
    submitted = (jobs / "submitted").read_text().split()
    assert len(submitted) == 2
    script = next(jobs.glob("job-*.sh")).read_text()
    assert "#SBATCH -p short" in script and "#SBATCH -t 00:30:00" in script
    assert sorted((jobs / "cancelled").read_text().split()) == sorted(submitted)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert {m["pid"] for m in summary["partitions"]}.isdisjoint({os.getpid()})
    points = pd.read_csv(tmp_path / "out" / "points.csv", encoding="utf-8-sig",
                         dtype={"point_id": str, "nearest_store_id": str})
    points["nearest_store_id"] = points["nearest_store_id"].fillna("")
    _assert_exact_or_censored(points, reference.points, 2000.0, atol=0.005 + 1e-9)  # CSV: cm


def test_cluster_options_are_checked(grid, tmp_path):
    pytest.importorskip("dask_jobqueue")
    result = _cli_batch(grid, tmp_path, "--cluster", "slurm")  # no cores/memory configured
    assert result.exit_code == 2 and "jobqueue.yaml" in result.output
    result = _cli_batch(grid, tmp_path, "--cluster", "kubernetes")
    assert result.exit_code == 2 and "slurm" in result.output
    result = _cli_batch(grid, tmp_path, "--scheduler-file", str(tmp_path / "none.json"))
    assert result.exit_code == 2 and "スケジューラのファイルがありません" in result.output


def test_each_partition_measures_in_its_own_zone(tmp_path):
    """A national run spans zones: 北九州 (130.9°E) measures in zone II, 山口 (131.9°E) in
    III, 那覇 (127.7°E) in XV; a given --crs puts them all in one."""
    import geopandas as gpd
    import shapely as sh

    from geo_service.jobs.partitions import (
        assign_population,
        plan_partitions,
        read_partition_layer,
    )

    gpd.GeoDataFrame({"code": ["kitakyushu", "yamaguchi", "naha"]},
                     geometry=[sh.box(130.85, 33.85, 130.95, 33.95),
                               sh.box(131.85, 34.15, 131.95, 34.25),
                               sh.box(127.65, 26.18, 127.75, 26.25)],
                     crs="EPSG:4326").to_file(tmp_path / "parts.geojson")
    layer = read_partition_layer(tmp_path / "parts.geojson", id_column="code")
    people = gpd.GeoDataFrame({"point_id": ["a", "b", "c"], "pop_total": [1.0] * 3,
                               "pop_65plus": [1.0] * 3, "pop_75plus": [0.0] * 3},
                              geometry=sh.points([(130.9, 33.9), (131.9, 34.2),
                                                  (127.7, 26.2)]), crs="EPSG:4326")
    owner = assign_population(people, layer)
    assert owner.tolist() == [0, 1, 2]
    own = plan_partitions(layer, people, owner, crs=None, buffer_m=1000, root=tmp_path)
    assert [CRS.from_wkt(p.crs).to_epsg() for p in own] == [6670, 6671, 6683]
    one = plan_partitions(layer, people, owner, crs=CRS.from_epsg(6670), buffer_m=1000,
                          root=tmp_path)
    assert {CRS.from_wkt(p.crs).to_epsg() for p in one} == {6670}
    # the extent is the box grown by 1 km (plus the simplification margin) either way
    for p in own:
        grown = gpd.GeoSeries([p.extent], crs="EPSG:4326").to_crs(CRS.from_wkt(p.crs))
        box = gpd.GeoSeries([p.polygon], crs="EPSG:4326").to_crs(CRS.from_wkt(p.crs))
        assert grown.iloc[0].contains(box.iloc[0].buffer(999))
        assert not grown.iloc[0].contains(box.iloc[0].buffer(1100))


def test_many_partitions_are_cut_in_two_levels_with_the_same_result(grid, layer, client,
                                                                   tmp_path, monkeypatch):
    import shapely

    from geo_service.engine import osm_cut

    kwargs = _cut_comparison(grid, layer, client)
    run_batch(out=tmp_path / "one", **kwargs)
    monkeypatch.setattr(osm_cut, "GROUP_SIZE", 2)  # 4 partitions: 2 groups of 2
    assert [len(g) for g in osm_cut.spatial_groups(
        [shapely.box(130 + i, 33, 130.5 + i, 33.5) for i in range(4)])] == [2, 2]
    run_batch(out=tmp_path / "two", **kwargs)
    for a, b in zip(sorted((tmp_path / "one" / "partitions").glob("*/extract.osm.pbf")),
                    sorted((tmp_path / "two" / "partitions").glob("*/extract.osm.pbf")),
                    strict=True):
        assert _way_ids(a) == _way_ids(b)
    assert (tmp_path / "one" / "points.csv").read_bytes() == \
        (tmp_path / "two" / "points.csv").read_bytes()
    assert not list((tmp_path / "two" / "partitions").glob("_cut-*"))  # work files removed


def _way_ids(path):
    import osmium

    return sorted(w.id for w in osmium.FileProcessor(str(path), osmium.osm.WAY))


def test_spatial_groups_are_compact_and_cover_every_outline():
    import shapely

    from geo_service.engine.osm_cut import spatial_groups

    cells = [shapely.box(c, r, c + 1, r + 1) for r in range(8) for c in range(8)]
    groups = spatial_groups(cells)
    assert [len(g) for g in groups] == [8] * 8
    assert sorted(i for g in groups for i in g) == list(range(64))
    for g in groups:  # Z-order runs of 8 on an 8 × 8 grid are 4 × 2 or 2 × 4 blocks
        w, s, e, n = shapely.union_all([cells[i] for i in g]).bounds
        assert (e - w) * (n - s) == 8


def test_three_by_three_municipalities_with_stores_on_their_borders(layer, client, tmp_path):
    """The issue's case: 3 × 3 municipalities of street grid in one .osm.pbf, with stores
    near the partition borders, so that many people's nearest store is in the next
    municipality: the batch equals one run for every point within the buffer."""
    import geopandas as gpd
    import shapely

    make_grid = _make_grid()
    make_grid.main([*GRID, "--areas", "3", "--out", str(tmp_path / "g")])
    g = tmp_path / "g"
    cells = gpd.read_file(g / "areas.geojson").geometry.to_numpy()
    # points along the cells' borders, less those on the outline of the whole grid
    along = shapely.get_coordinates(shapely.segmentize(shapely.boundary(cells), 0.002))
    outline = shapely.buffer(shapely.boundary(shapely.union_all(cells)), 0.001)
    inner = along[~shapely.covers(outline, shapely.points(along))]
    rng = np.random.default_rng(7)
    pick = inner[rng.choice(len(inner), 12, replace=False)] + rng.normal(0, 0.0003, (12, 2))
    stores = pd.read_csv(g / "stores.csv")
    extra = pd.DataFrame({"store_id": [f"border{i}" for i in range(12)],
                          "category": "supermarket", "name": "境界の店",
                          "lon": pick[:, 0], "lat": pick[:, 1]})
    pd.concat([stores, extra]).to_csv(g / "stores.csv", index=False)
    region = build_region(network=g / "grid.osm.pbf", stores=str(g / "stores.csv"),
                          population=[g / "population.csv"], areas=[str(g / "areas.geojson")],
                          layer=layer)
    ref = compute_difficulty(region, layer=layer)
    got = run_batch(pbf=g / "grid.osm.pbf", partitions=g / "areas.geojson",
                    stores=str(g / "stores.csv"), population=g / "population.csv",
                    areas=[g / "areas.geojson"], out=tmp_path / "out", layer=layer,
                    buffer_m=1000.0, client=client, maps=False)
    assert len(got.partitions) == 9
    # many points are served across a border
    by_point = ref.points.set_index("point_id")["nearest_store_id"]
    served = got.points.set_index("point_id").loc[by_point.index]
    across = by_point.str.startswith("border") & ~served["censored"]
    assert across.sum() > 100
    _assert_exact_or_censored(got.points, ref.points, 1000.0)
    ref_areas = ref.areas.set_index("area_id")
    got_areas = got.areas.set_index("area_id").loc[ref_areas.index]
    for col in ("pop_65plus", "beyond_65plus", "beyond_65plus_straight", "stores_in_area"):
        np.testing.assert_allclose(got_areas[col].to_numpy(float),
                                   ref_areas[col].to_numpy(float), rtol=0, atol=1e-9)


def _overpass_to_pbf(source, target):
    """The real 門司港 Overpass response written as an OSM PBF (nodes, then ways, by id)."""
    import osmium
    from osmium.osm.mutable import Node, Way

    data = json.loads(source.read_text(encoding="utf-8"))
    nodes = sorted((e for e in data["elements"] if e["type"] == "node"), key=lambda e: e["id"])
    ways = sorted((e for e in data["elements"] if e["type"] == "way"), key=lambda e: e["id"])
    writer = osmium.SimpleWriter(str(target))
    try:
        for e in nodes:
            writer.add_node(Node(id=e["id"], location=(e["lon"], e["lat"]),
                                 tags=e.get("tags", {})))
        for e in ways:
            writer.add_way(Way(id=e["id"], nodes=e["nodes"], tags=e.get("tags", {})))
    finally:
        writer.close()
    return nodes


def test_real_streets_of_mojiko_in_two_partitions_equal_one_run(layer, client, tmp_path):
    """門司港's real OSM streets (long segments, dead ends, stairs), cut into a west and an
    east partition across the middle of the town: every point within the buffer gets the
    single run's distance and store."""
    import geopandas as gpd
    import shapely

    from tests.conftest import shared_file

    nodes = _overpass_to_pbf(shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json"),
                             tmp_path / "mojiko.osm.pbf")
    lon = np.array([e["lon"] for e in nodes])
    lat = np.array([e["lat"] for e in nodes])
    w, e_, s, n = np.quantile(lon, 0.1), np.quantile(lon, 0.9), np.quantile(lat, 0.1), \
        np.quantile(lat, 0.9)
    mid = float(np.median(lon))
    gpd.GeoDataFrame({"code": ["west", "east"]},
                     geometry=[shapely.box(w, s, mid, n), shapely.box(mid, s, e_, n)],
                     crs="EPSG:4326").to_file(tmp_path / "halves.geojson")
    rng = np.random.default_rng(11)
    pd.DataFrame({"point_id": [f"m{i}" for i in range(1500)],
                  "lon": rng.uniform(w, e_, 1500), "lat": rng.uniform(s, n, 1500),
                  "pop_total": 10, "pop_65plus": 4}).to_csv(tmp_path / "pop.csv", index=False)
    pick = rng.choice(len(nodes), 6, replace=False)
    pd.DataFrame({"store_id": [f"s{i}" for i in range(6)], "category": "スーパー",
                  "lon": lon[pick] + 0.0002, "lat": lat[pick]}).to_csv(tmp_path / "stores.csv",
                                                                        index=False)
    region = build_region(network=tmp_path / "mojiko.osm.pbf", stores=str(tmp_path / "stores.csv"),
                          population=[tmp_path / "pop.csv"],
                          areas=[str(tmp_path / "halves.geojson")], layer=layer)
    ref = compute_difficulty(region, layer=layer)
    got = run_batch(pbf=tmp_path / "mojiko.osm.pbf", partitions=tmp_path / "halves.geojson",
                    partition_id="code", stores=str(tmp_path / "stores.csv"),
                    population=tmp_path / "pop.csv", out=tmp_path / "out", layer=layer,
                    buffer_m=800.0, client=client, maps=False)
    within = ref.points["reachable"] & (ref.points["network_m"] <= 800.0)
    assert 300 < within.sum() < 1500  # both exact and censored points occur
    _assert_exact_or_censored(got.points, ref.points, 800.0)
