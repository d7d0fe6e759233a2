"""Partitioned shopping-difficulty runs on Dask distributed (``geo-service batch``).

A large OSM extract (a prefecture, all of Japan) is split by a polygon layer with codes
(municipalities from 国土数値情報 N03, 小学校区, a grid of boxes). The driver reads the
population (points, mesh tables, e-Stat small areas, any polygon layer with counts: what
``geo-service difficulty`` reads) and the stores once, gives every population row to one
partition (points: the partition covering them; polygons: the partition holding a point
inside them) and plans each partition's *extent*: its polygon united with the population
polygons it owns, grown by the buffer (metres). The extract is then cut once for all
partitions by a streaming OSM tool (osmium-tool's ``extract`` with ``complete_ways`` when
Debian's ``osmium`` is on the PATH, else two pyosmium passes), so no worker ever reads the
whole extract. Each partition is one Dask task: the per-point difficulty computation of
:mod:`geo_service.jobs.pipeline` on its extract, for the population it owns and the stores inside
its extent. The per-point results merge into the file contract of a single run
(``points``, ``areas`` recomputed from the merged points for every reporting layer,
``summary.json``), GeoParquet copies, ``partitions.csv`` with each partition's figures, time
and memory, an overview map per partition (``map.html``) and one map per partition.

Exactness. Network distance is never shorter than the straight line, so every node of a
point's shortest path to a store at network distance *d* ≤ buffer lies within *d* of the
point, inside the extent; the cut keeps every way with a node inside, whole, so the partition
finds the same path and the same distance. The partition's network is a part of the whole,
so its distances are never shorter than the true ones: a point whose distance in its
partition exceeds the buffer (or that reaches no store there) may have a shorter path
outside the cut and is reported as *censored* (``censored`` true, ``network_m``/
``walk_min`` empty), never with a wrong number. The straight-line distance is exact up to
the buffer and empty beyond it. Because the buffer must be ≥ the threshold, a censored
point is beyond the threshold for certain, so ``beyond`` counts and shares per area stay
exact; only ``median_m``/``p90_m`` of areas holding censored points are affected (censored
points count as beyond reach). One caveat: a street segment longer than twice the buffer
that crosses an extent without a node inside it is not in the cut.

Each partition measures in the JGD2011 plane-rectangular zone of its own centre (a national
run spans many zones; one projection for all would distort distances far from its
meridian), or all in one CRS given as ``crs``; the merged output is in ``crs`` or the zone of
the whole extent's centre. The run is resumable: a partition whose folder holds
``partition.json`` is not recomputed, as long as ``partitions/run.json`` shows the same
inputs and settings.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo_service import settings
from geo_service._errors import InputError
from geo_service.engine.osm_cut import cut_extract
from geo_service.engine.population import read_population
from geo_service.i18n import msg
from geo_service.indicators.difficulty import area_indicators
from geo_service.inputs.boundaries import AreaLayer, read_area_layer
from geo_service.inputs.layer_points import counted, read_stores
from geo_service.inputs.sources import Source, describe, file_label, output_metadata
from geo_service.jobs.partitions import (
    PARTITION_EXTRACT,
    PARTITION_META,
    PARTITION_POINTS,
    PARTITION_STORES,
    RUN_FILE,
    SIMPLIFY_M,
    Partition,
    assign_population,
    forced_crs,
    is_done,
    osm_keys,
    plan_partitions,
    read_partition_layer,
    run_partition,
    write_partition_inputs,
    write_partition_map,
    zone_of,
)
from geo_service.jobs.pipeline import Stages
from geo_service.layers import ResourceLayer, load_map_style
from geo_service.outputs import (
    area_table,
    csv_writer,
    geojson_writer,
    points_table,
    text_writer,
    write_outputs,
)
from geo_service.reports.maps import difficulty_map


@dataclass
class BatchResult:
    """The merged result and what each partition did."""

    points: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    partitions: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    """Partitions that failed after their retries (their points are missing)."""
    outside: dict[str, float] = field(default_factory=dict)
    """Population rows inside no partition (rows, people, people 65+): not computed."""
    partition_areas: gpd.GeoDataFrame | None = None
    """The figures of every partition as an area layer (``partitions.csv``)."""


# ----------------------------------------------------------------------------------
# the whole run


def run_batch(
    *,
    pbf: str | Path,
    partitions: str | Path,
    stores: str,
    population: str | Path | Sequence[str | Path],
    areas: Sequence[str | Path] = (),
    out: str | Path,
    layer: ResourceLayer,
    partition_id: str | None = None,
    buffer_m: float = 2000.0,
    threshold_m: float = settings.threshold_m,
    speed: float = settings.walking_speed_mps,
    client: Any = None,
    workers: int | None = None,
    retries: int = 1,
    progress: Callable[[int, int, float], None] | None = None,
    task: Callable[..., dict[str, Any]] | None = None,
    crs: str | None = None,
    fresh: bool = False,
    maps: bool = True,
    cut_tool: str | None = "auto",
    stages: Stages | None = None,
) -> BatchResult:
    """Plan, cut, compute one Dask task per partition, merge and write ``out``.

    Parameters
    ----------
    pbf
        The OSM extract of the whole extent.
    partitions
        Polygon layer with codes (``partition_id`` names the code column; default: the
        area-id guess of area layers).
    stores
        A store file (CSV with lon/lat, GeoJSON …) or ``"osm"`` (shops in the extract).
    population
        What ``geo-service difficulty`` reads: points, a polygon layer with counts, a mesh
        table, or an e-Stat table (and its small-area shapefile).
    areas
        Boundary layers to report on (areas are aggregated from the merged points).
    client
        A ``distributed.Client`` to use (any cluster); otherwise a ``LocalCluster`` of
        ``workers`` single-threaded processes (default: every core) is started and closed.
    task
        Replaces :func:`run_partition` (same arguments; e.g. to wrap it with
        instrumentation).
    fresh
        Forget the partitions of an earlier run in ``out`` (otherwise finished partitions
        are kept, when the earlier run had the same inputs and settings).
    crs
        One metric CRS for every partition (default: each partition's own zone).
    maps
        Write the overview map and one map per partition.
    cut_tool
        ``"auto"`` (osmium-tool when on the PATH), a path to ``osmium``, or None (pyosmium).
    stages
        Timing (and progress) hook: read, inputs, cut, partitions, merge, maps, write.
    """
    if not buffer_m >= threshold_m:
        raise InputError(msg("the buffer must be at least the threshold (a censored point is then "
                             "beyond the threshold for certain)"), column="buffer", value=buffer_m)
    stages = stages or Stages()
    out = Path(out)
    root = out / "partitions"
    population_files = ([population] if isinstance(population, str | Path)
                        else list(population))
    about = output_metadata(file_label(str(pbf)), batch_sources(
        pbf, partitions, population_files, stores, areas))
    with stages("read"):
        part_layer = read_partition_layer(partitions, id_column=partition_id)
        forced = forced_crs(crs)
        metric = forced or zone_of(part_layer.total_bounds)
        people = read_population(population_files)
        store_table = None if stores == "osm" else read_stores(stores, layer)
        area_layers = [read_area_layer(a) for a in areas]
        owner = assign_population(people, part_layer)
        outside = _outside(people, owner)
        if outside["rows"] == len(people):
            raise InputError(msg("no population row lies inside any partition (do the "
                                 "population and the partitions cover the same place?)"),
                             file=population_files[0])
        parts = plan_partitions(part_layer, people, owner, crs=forced, buffer_m=buffer_m,
                                root=root)
        _check_resume(root, fresh=fresh, run={
            "inputs": _fingerprints([pbf, partitions, *population_files,
                                     *([] if stores == "osm" else [stores])]),
            "stores": "osm" if stores == "osm" else "file", "partition_id": partition_id,
            "buffer_m": buffer_m, "threshold_m": threshold_m, "speed": speed,
            "crs": forced.to_wkt() if forced else "zone of each partition",
            "counted": layer.included_ids})
        todo = [i for i, p in enumerate(parts) if not is_done(p)]

    with _dask_client(client, workers) as dask_client:
        if todo:
            with stages("inputs"):
                write_partition_inputs([parts[i] for i in todo], people, owner, todo,
                                       store_table)
            cut: dict[str, float] = {}
            with stages("cut"):
                cut_extract(pbf, [(Path(parts[i].folder) / PARTITION_EXTRACT, parts[i].extent)
                                  for i in todo], client=dask_client, tool=cut_tool,
                            keys=osm_keys(layer, stores_from_osm=stores == "osm"),
                            seconds=cut)
            stages.seconds.update({f"cut_{k}": v for k, v in cut.items()})
        del people

        cpu = time.process_time()
        with stages("partitions"):
            failed = _run_partitions(
                [parts[i] for i in todo], task or run_partition, client=dask_client,
                retries=retries, progress=progress,
                kwargs={"stores": stores, "layer": layer, "buffer_m": buffer_m,
                        "threshold_m": threshold_m, "speed": speed})
        # CPU the driver (and a LocalCluster's scheduler in it) spent meanwhile
        stages.seconds["partitions_driver_cpu"] = time.process_time() - cpu

        with stages("merge"):
            result = _merge(parts, failed, partitions=partitions, metric=metric,
                            stores=store_table, layer=layer, area_layers=area_layers,
                            part_layer=part_layer, threshold_m=threshold_m)
            result.outside = outside
        if maps:
            with stages("maps"):
                _map_partitions(dask_client, parts, result, layer=layer,
                                threshold_m=threshold_m, about=about)
    result.seconds = stages.seconds
    with stages("write"):
        write_batch(result, out, buffer_m=buffer_m, threshold_m=threshold_m, layer=layer,
                    about=about, maps=maps)
    return result


def batch_sources(pbf: str | Path, partitions: str | Path,
                  population: Sequence[str | Path], stores: str,
                  areas: Sequence[str | Path]) -> list[Source]:
    """The sources of a batch run (each file's publisher and attribution, as a region
    records them): the extract (streets, and shops with ``stores="osm"``), the partition
    layer, the population and the reporting layers."""
    return list(dict.fromkeys([
        describe(pbf, "道路網"), describe(stores if stores != "osm" else pbf, "店舗"),
        describe(partitions, "区切り（パーティション）"),
        *[describe(p, "人口") for p in population],
        *[describe(a, f"区域 {Path(a).stem}") for a in areas]]))


@contextmanager
def _dask_client(client: Any, workers: int | None) -> Iterator[Any]:
    """``client``, or one of a ``LocalCluster`` of ``workers`` single-threaded processes
    (default: every core), closed on exit."""
    if client is not None:
        yield client
        return
    import dask.config
    from distributed import Client, LocalCluster

    # the tasks are long and CPU-bound: no statistical profiler sampling the workers'
    # stacks every 10 ms, no GIL monitor, no dashboard
    quiet = {"distributed.worker.profile.enabled": False,
             "distributed.admin.system-monitor.gil.enabled": False}
    with dask.config.set(quiet), \
            LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                         processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as own:
        yield own


def _outside(people: gpd.GeoDataFrame, owner: np.ndarray) -> dict[str, float]:
    lost = owner < 0
    return {"rows": int(lost.sum()), "pop_total": float(people["pop_total"][lost].sum()),
            "pop_65plus": float(people["pop_65plus"][lost].sum())}


def _fingerprints(paths: Sequence[str | Path]) -> list[list[Any]]:
    """Each input's resolved path, size and modification time (what a resume compares)."""
    out = []
    for p in paths:
        path = Path(p).resolve()
        stat = path.stat()
        out.append([str(path), stat.st_size, stat.st_mtime_ns])
    return out


def _check_resume(root: Path, *, fresh: bool, run: dict[str, Any]) -> None:
    """Keep finished partitions only when they were computed from the same run."""
    record = root / RUN_FILE
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    elif record.exists():
        before = json.loads(record.read_text(encoding="utf-8"))
        changed = sorted(k for k in run if before.get(k) != json.loads(json.dumps(run[k])))
        if changed:
            raise InputError(msg("the output folder holds partitions of another run (changed: "
                                 "{changed}); pass --fresh to recompute them all, or another "
                                 "--out", changed=", ".join(changed)), file=root)
    elif any(root.glob(f"*/{PARTITION_META}")):
        raise InputError(msg("the output folder holds partitions of a run that did not record "
                             "its inputs; pass --fresh to recompute them all, or another --out"),
                         file=root)
    root.mkdir(parents=True, exist_ok=True)
    write_outputs(root, {RUN_FILE: text_writer(json.dumps(run, indent=2))})


def _run_partitions(todo: Sequence[Partition], task: Callable[..., dict[str, Any]], *,
                    client: Any, retries: int,
                    progress: Callable[[int, int, float], None] | None,
                    kwargs: dict[str, Any]) -> list[dict[str, str]]:
    """Run the partitions (largest first); return those that failed after their retries
    (the others finish regardless)."""
    from distributed import as_completed

    if not todo:
        return []
    started = time.perf_counter()
    by_size = sorted(todo, key=lambda p: -(Path(p.folder) / PARTITION_EXTRACT).stat().st_size)
    futures = {client.submit(task, p, **kwargs, key=f"partition-{p.folder}",
                             retries=retries, pure=False): p for p in by_size}
    failed = []
    for i, fut in enumerate(as_completed(list(futures)), start=1):
        if fut.status == "error":
            exc = fut.exception()
            failed.append({"partition_id": futures[fut].partition_id,
                           "error": f"{type(exc).__name__}: {exc}"})
        if progress is not None:
            progress(i, len(todo), time.perf_counter() - started)
    return failed


def _merge(parts: Sequence[Partition], failed: list[dict[str, str]], *,
           partitions: str | Path, metric: CRS, stores: gpd.GeoDataFrame | None,
           layer: ResourceLayer, area_layers: list[AreaLayer], part_layer: gpd.GeoDataFrame,
           threshold_m: float) -> BatchResult:
    done = [p for p in parts if is_done(p)]
    if not done:
        raise InputError(msg("every partition failed: {failed}", failed=failed[:3]),
                         file=partitions)
    metas = [json.loads((Path(p.folder) / PARTITION_META).read_text(encoding="utf-8"))
             for p in done]
    frames = [f for f in (gpd.read_parquet(Path(p.folder) / PARTITION_POINTS) for p in done)
              if len(f)]
    if not frames:
        raise InputError(msg("no demand point lies inside any finished partition"),
                         file=partitions)
    points = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                              crs="EPSG:4326").to_crs(metric)
    all_stores = (_stores_of(done, layer) if stores is None else counted(stores, layer)
                  ).to_crs(metric)
    area_frame = (area_indicators(points, area_layers, all_stores, threshold_m=threshold_m)
                  if area_layers else gpd.GeoDataFrame({"layer": []}, geometry=[], crs=metric))
    by_partition = AreaLayer(part_layer.attrs.get("layer", "partition"), gpd.GeoDataFrame(
        {"area_id": part_layer["partition_id"], "name": part_layer["name"]},
        geometry=part_layer.geometry.to_numpy(), crs=part_layer.crs))
    part_areas = area_indicators(points, [by_partition], all_stores, threshold_m=threshold_m)
    return BatchResult(points, area_frame, metas, {}, failed, partition_areas=part_areas)


def _stores_of(parts: Sequence[Partition], layer: ResourceLayer) -> gpd.GeoDataFrame:
    """The counted shops the partitions found in their extracts (``--stores osm``), each
    once (extents overlap)."""
    frames = [gpd.read_parquet(Path(p.folder) / PARTITION_STORES) for p in parts]
    allst = pd.concat(frames, ignore_index=True).drop_duplicates("store_id")
    return counted(gpd.GeoDataFrame(allst, geometry="geometry", crs="EPSG:4326"), layer)


def _map_partitions(client: Any, parts: Sequence[Partition], result: BatchResult, *,
                    layer: ResourceLayer, threshold_m: float, about: dict[str, Any]) -> None:
    """One map per finished partition, as Dask tasks: the partition's own row and the
    reporting areas that meet its polygon, with their merged figures."""
    areas = result.areas.to_crs("EPSG:4326")
    own = result.partition_areas.to_crs("EPSG:4326")  # type: ignore[union-attr]
    futures = []
    for p in parts:
        if not is_done(p):
            continue
        near = areas[shapely.area(shapely.intersection(areas.geometry.to_numpy(),
                                                       p.polygon)) > 0] if len(areas) else areas
        subset = pd.concat([own[own["area_id"] == p.partition_id], near], ignore_index=True)
        futures.append(client.submit(write_partition_map, p,
                                     gpd.GeoDataFrame(subset, geometry="geometry",
                                                      crs="EPSG:4326"),
                                     layer=layer, threshold_m=threshold_m,
                                     region_name=about["region"],
                                     attributions=about["attributions"], pure=False))
    client.gather(futures)


def write_batch(result: BatchResult, out: str | Path, *, buffer_m: float, threshold_m: float,
                layer: ResourceLayer, about: dict[str, Any], maps: bool = True) -> list[Path]:
    """The file contract of a single run (points as CSV and GeoParquet: a national
    ``points.geojson`` would be gigabytes), plus ``censored``/``partition``,
    ``partitions.csv`` and the overview ``map.html`` (figures per partition); ``about``
    (:func:`~geo_service.inputs.sources.output_metadata`: the run's name, sources and
    attributions) goes into ``summary.json``, the GeoJSON files and the maps."""
    started = time.perf_counter()
    points = result.points
    table = points_table(points)
    table["censored"] = points["censored"].to_numpy()
    table["partition"] = points["partition"].to_numpy()
    p65 = float(points["pop_65plus"].sum())
    beyond = float((points["pop_65plus"] * points["beyond"]).sum())
    summary = {
        "demand_points": int(len(points)), "areas": int(len(result.areas)),
        "pop_65plus": p65, "beyond_65plus": beyond,
        "beyond_share": beyond / p65 if p65 else None,
        "censored_points": int(points["censored"].sum()),
        "censored_65plus": float((points["pop_65plus"] * points["censored"]).sum()),
        "unreachable_65plus": float(
            (points["pop_65plus"] * (~points["reachable"] & ~points["censored"])).sum()),
    }
    meta = {**about, "mode": "batch (dask)", "threshold_m": threshold_m,
            "buffer_m": buffer_m, "counted_categories": layer.included_ids,
            "metric_crs": points.crs.to_string(),
            "complete": not result.failed, "failed_partitions": result.failed,
            "outside_partitions": result.outside,
            "summary": summary, "partitions": result.partitions}
    writers = {
        "points.csv": csv_writer(table),
        "points.parquet": lambda path: points.to_crs("EPSG:4326").to_parquet(path),
    }
    if len(result.areas):
        writers["areas.csv"] = csv_writer(area_table(result.areas))
        writers["areas.geojson"] = geojson_writer(result.areas, metadata=about)
        writers["areas.parquet"] = lambda path: result.areas.to_crs("EPSG:4326").to_parquet(path)
    if result.partition_areas is not None:
        part_table = _partition_table(result)
        writers["partitions.csv"] = csv_writer(part_table)
        writers["partitions.geojson"] = geojson_writer(gpd.GeoDataFrame(
            part_table, geometry=result.partition_areas.geometry.to_numpy(),
            crs=result.partition_areas.crs), metadata=about)
        if maps:  # outlines simplified to 25 m: N03 at full detail is hundreds of MB
            outlines = result.partition_areas.assign(geometry=shapely.simplify(
                result.partition_areas.geometry.to_numpy(), SIMPLIFY_M, preserve_topology=True))
            fmap = difficulty_map(outlines, gpd.GeoDataFrame(
                {"store_id": [], "name": [], "category": []}, geometry=[], crs="EPSG:4326"),
                layer, load_map_style("difficulty"), threshold_m=threshold_m,
                subtitle=f"{len(result.partitions)} partitions · batch",
                region_name=about["region"], attributions=about["attributions"])
            writers["map.html"] = text_writer(fmap.get_root().render())

    def write_summary(path: Path) -> None:  # last: it reports how long writing took
        meta["seconds"] = {**result.seconds, "write": time.perf_counter() - started}
        meta["driver_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        text_writer(json.dumps(meta, ensure_ascii=False, indent=2))(path)

    writers["summary.json"] = write_summary
    return write_outputs(out, writers)


def _partition_table(result: BatchResult) -> pd.DataFrame:
    """Each partition's area figures with what its task did (points, censored, stores,
    nodes, seconds, worker peak memory); failed partitions have no task figures."""
    assert result.partition_areas is not None
    table = area_table(result.partition_areas).drop(columns=["layer"])
    runs = pd.DataFrame(result.partitions).reindex(columns=[
        "partition_id", "demand_points", "censored", "stores", "nodes", "seconds",
        "peak_rss_mib", "worker_peak_rss_mib"]).set_index("partition_id")
    joined = table.join(runs, on="area_id")
    failed = {f["partition_id"] for f in result.failed}
    joined["failed"] = joined["area_id"].isin(failed)
    return joined.rename(columns={"area_id": "partition_id"})

