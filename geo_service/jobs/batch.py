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
from pyproj import CRS, Transformer

from geo_service import settings
from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine.osm_cut import cut_extract
from geo_service.engine.population import is_polygon_population, read_population
from geo_service.indicators.difficulty import area_indicators
from geo_service.inputs.boundaries import AreaLayer, read_area_layer
from geo_service.inputs.crs import metric_crs_for, transform_geometry
from geo_service.inputs.layer_points import counted, read_stores
from geo_service.inputs.readers import read_vector
from geo_service.jobs.pipeline import Stages
from geo_service.layers import ResourceLayer, load_map_style
from geo_service.outputs import (
    area_table,
    csv_writer,
    geojson_writer,
    points_table,
    safe_name,
    text_writer,
    write_outputs,
)
from geo_service.reports.maps import difficulty_map

PARTITION_POINTS = "points.parquet"
PARTITION_META = "partition.json"
PARTITION_DEMAND = "demand.parquet"
PARTITION_STORES = "stores.parquet"
PARTITION_EXTRACT = "extract.osm.pbf"
PARTITION_MAP = "map.html"
RUN_FILE = "run.json"
#: extents are simplified by this much (metres) before buffering, and grown by as much more
SIMPLIFY_M = 25.0


@dataclass(frozen=True)
class Partition:
    """One unit of work: its code, its polygon and the extent to cut (EPSG:4326 WKB)."""

    partition_id: str
    polygon_wkb: bytes
    extent_wkb: bytes
    folder: str
    crs: str
    """The metric CRS the partition measures in, as WKT."""

    @property
    def polygon(self) -> shapely.Geometry:
        return shapely.from_wkb(self.polygon_wkb)

    @property
    def extent(self) -> shapely.Geometry:
        return shapely.from_wkb(self.extent_wkb)


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
# planning: partitions, population, extents


def read_partition_layer(path: str | Path, *, id_column: str | None) -> gpd.GeoDataFrame:
    """The partition polygons (``partition_id``, ``name``, EPSG:4326; ``attrs["layer"]``
    names the layer). Without ``id_column`` the layer is read as an area layer: N03 行政区域
    by 行政区域コード with its islands joined."""
    if id_column is None:
        area_layer = read_area_layer(path)
        layer = area_layer.areas.to_crs("EPSG:4326")
        ids, names, layer_name = layer["area_id"].astype(str), layer["name"], area_layer.name
    else:
        layer = read_vector(path).to_crs("EPSG:4326")
        if id_column not in layer.columns:
            raise InputError(f"no column {id_column!r}; columns are {list(layer.columns)}",
                             file=path, column=id_column)
        ids = layer[id_column].astype(str)
        names, layer_name = ids, "partition"
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError("partition codes must be unique", file=path,
                         row=int(dup.index[0]) + 1, value=dup.iloc[0])
    folders = ids.map(safe_name)
    if folders.duplicated().any():
        raise InputError("two partition codes give the same folder name "
                         f"({folders[folders.duplicated()].iloc[0]!r})", file=path)
    frame = gpd.GeoDataFrame({"partition_id": ids.to_numpy(),
                              "name": names.astype(str).to_numpy()},
                             geometry=layer.geometry.to_numpy(), crs="EPSG:4326")
    frame.attrs["layer"] = layer_name
    return frame


def forced_crs(crs: str | None) -> CRS | None:
    """The one metric CRS every partition must measure in, if the user gave one."""
    if crs is None:
        return None
    metric = CRS.from_user_input(crs)
    if metric.is_geographic:
        raise InputError(f"the batch CRS must be metric, not {metric.to_string()}",
                         column="crs", value=crs)
    return metric


def _zone_of(bounds: np.ndarray) -> CRS:
    """The plane-rectangular zone :func:`metric_crs_for` picks for a box's centre."""
    west, south, east, north = (float(v) for v in bounds)
    return metric_crs_for((west + east) / 2, (south + north) / 2)


def assign_population(people: gpd.GeoDataFrame, parts: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the partition each population row belongs to (−1: none).

    A point goes to the first partition covering it; a polygon to the first partition
    holding its representative point (a point inside it), or when none does (a cell on the
    edge of the extent) to the partition it overlaps most, so a polygon is never split.
    """
    geoms = people.to_crs(parts.crs).geometry.to_numpy()
    polygons = is_polygon_population(people)
    probe = shapely.point_on_surface(geoms) if polygons else geoms
    owner = np.full(len(people), -1, dtype=np.int64)
    row, part = parts.sindex.query(probe, predicate="intersects")
    _keep_first(owner, row, part, rank=part)
    if polygons and (owner < 0).any():
        lost = np.flatnonzero(owner < 0)
        row, part = parts.sindex.query(geoms[lost], predicate="intersects")
        overlap = shapely.area(shapely.intersection(geoms[lost][row],
                                                    parts.geometry.to_numpy()[part]))
        _keep_first(owner, lost[row], part, rank=-overlap)
    return owner


def _keep_first(owner: np.ndarray, row: np.ndarray, part: np.ndarray,
                rank: np.ndarray) -> None:
    """Set ``owner[row]`` to the ``part`` of lowest ``rank`` among each row's pairs."""
    order = np.lexsort((rank, row))
    first = np.unique(row[order], return_index=True)[1]
    owner[row[order][first]] = part[order][first]


def plan_partitions(parts: gpd.GeoDataFrame, people: gpd.GeoDataFrame, owner: np.ndarray, *,
                    crs: CRS | None, buffer_m: float, root: str | Path) -> list[Partition]:
    """Each partition's CRS (``crs``, or its own zone) and extent: its polygon and the
    population polygons it owns that reach beyond it, grown by ``buffer_m`` metres."""
    polygons = parts.geometry.to_numpy()
    straddling: dict[int, list[shapely.Geometry]] = {}
    if is_polygon_population(people) and len(people):
        geoms = people.to_crs("EPSG:4326").geometry.to_numpy()
        owned = owner >= 0
        inside = np.zeros(len(people), dtype=bool)
        inside[owned] = shapely.within(geoms[owned], polygons[owner[owned]])
        for row in np.flatnonzero(owned & ~inside):
            straddling.setdefault(int(owner[row]), []).append(geoms[row])
    plans = []
    for i, (code, polygon) in enumerate(zip(parts["partition_id"], polygons, strict=True)):
        metric = crs or _zone_of(shapely.bounds(polygon))
        to_m = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        to_geo = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
        reach = shapely.union_all([polygon, *straddling.get(i, [])])
        grown = shapely.buffer(shapely.simplify(transform_geometry(reach, to_m), SIMPLIFY_M),
                               buffer_m + SIMPLIFY_M)
        plans.append(Partition(str(code), shapely.to_wkb(polygon),
                               shapely.to_wkb(transform_geometry(grown, to_geo)),
                               str(Path(root) / safe_name(str(code))), metric.to_wkt()))
    return plans


def write_partition_inputs(partitions: Sequence[Partition], people: gpd.GeoDataFrame,
                           owner: np.ndarray, index: Sequence[int],
                           stores: gpd.GeoDataFrame | None) -> None:
    """Each partition's population (the rows it owns) and stores (inside its extent), as
    GeoParquet in its folder (exact coordinates; EPSG:4326). The rows are sorted by owner
    once and the stores queried by one tree, not scanned once per partition."""
    people = people.to_crs("EPSG:4326")
    by_owner = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[by_owner], index, side="left")
    ends = np.searchsorted(owner[by_owner], index, side="right")
    if stores is not None:
        store_geoms = stores.to_crs("EPSG:4326")
        part_of, store_of = shapely.STRtree(store_geoms.geometry.to_numpy()).query(
            [p.extent for p in partitions], predicate="covers")
    for k, part in enumerate(partitions):
        folder = Path(part.folder)
        folder.mkdir(parents=True, exist_ok=True)
        people.iloc[by_owner[starts[k]:ends[k]]].to_parquet(folder / PARTITION_DEMAND)
        if stores is not None:
            store_geoms.iloc[np.sort(store_of[part_of == k])].to_parquet(
                folder / PARTITION_STORES)


# ----------------------------------------------------------------------------------
# cutting the extract


def osm_keys(layer: ResourceLayer, *, stores_from_osm: bool) -> list[str]:
    """OSM keys whose ways (and, for stores, nodes) a partition's extract needs."""
    keys = ["highway"]
    if stores_from_osm:
        keys += [k for k in layer.osm_filter() if k != "highway"]
    return keys


# ----------------------------------------------------------------------------------
# one partition (a Dask task)


def run_partition(part: Partition, *, stores: str, layer: ResourceLayer, buffer_m: float,
                  threshold_m: float, speed: float) -> dict[str, Any]:
    """One Dask task: the per-point difficulty computation on one partition's files.

    Reads the partition's extract (the parsed network is cached beside it), its population
    (polygons are apportioned to its streets as in a single run) and its stores (or the
    shops in its extract, for ``stores="osm"``). Writes ``points.parquet`` (EPSG:4326) and
    ``partition.json`` into the partition's folder, atomically; returns the metadata.
    """
    from geo_service.engine.osm import load_walk_network
    from geo_service.engine.population import apportion_to_network
    from geo_service.engine.region import Region
    from geo_service.inputs.layer_points import stores_from_osm
    from geo_service.jobs.pipeline import point_difficulty

    started = time.perf_counter()
    measured = _reset_peak_rss()
    folder = Path(part.folder)
    people = gpd.read_parquet(folder / PARTITION_DEMAND)
    meta: dict[str, Any] = {"partition_id": part.partition_id, "population_rows": len(people)}
    points = gpd.GeoDataFrame({"point_id": []}, geometry=[], crs="EPSG:4326")
    writers = {}
    if stores == "osm":  # the shops of the extract inside the extent, kept for the merge
        found = stores_from_osm(folder / PARTITION_EXTRACT, layer).to_crs("EPSG:4326")
        store_points = found[shapely.covers(part.extent, found.geometry.to_numpy())]
        writers[PARTITION_STORES] = lambda path: store_points.to_parquet(path)
    else:
        store_points = gpd.read_parquet(folder / PARTITION_STORES)
    if len(people):
        target = CRS.from_wkt(part.crs)
        meta["metric_crs"] = target.to_string()
        try:
            net = load_walk_network(folder / PARTITION_EXTRACT, walking_speed_mps=speed)
        except EmptyNetworkError:
            net = None  # no street inside the extent: every point is censored
        if net is not None and not net.crs.equals(target):
            net = net.to_crs(target)
        if net is None:
            demand = people.to_crs(target)  # polygons stay whole: one censored row each
            demand = demand.assign(point_id=demand.get("point_id", demand.get("area_key")))
            pts = _censored_points(demand.set_geometry(demand.representative_point()))
            meta["stores"], meta["nodes"] = 0, 0
        else:
            demand = (apportion_to_network(people, net) if is_polygon_population(people)
                      else people.to_crs(net.crs))
            region = Region(net, demand, [], {layer.id: store_points}, name=part.partition_id)
            try:
                pts, counted_stores = point_difficulty(region, layer=layer,
                                                       threshold_m=threshold_m)
                meta["stores"] = int(len(counted_stores))
            except InputError:  # no counted store within the extent
                pts = _censored_points(region.demand)
                meta["stores"] = 0
            meta["nodes"] = int(net.n_nodes)
        censored = ~pts["reachable"].to_numpy() | ~(pts["network_m"].to_numpy() <= buffer_m)
        pts["censored"] = censored
        pts.loc[censored, ["network_m", "walk_min"]] = np.nan
        pts.loc[censored, "nearest_store_id"] = ""
        pts.loc[censored, "reachable"] = False
        pts.loc[censored, "beyond"] = True
        pts.loc[~(pts["straight_m"].to_numpy() <= buffer_m), "straight_m"] = np.nan
        pts["partition"] = part.partition_id
        points = pts.to_crs("EPSG:4326")
        meta["demand_points"] = int(len(points))
        meta["censored"] = int(censored.sum())
    meta["seconds"] = time.perf_counter() - started
    meta["pid"] = os.getpid()
    # the worker's peak resident memory during this partition (Linux), else since it started
    meta["peak_rss_mib"] = _peak_rss_mib() if measured else None
    meta["worker_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_outputs(folder, {
        **writers,
        PARTITION_POINTS: lambda path: points.to_parquet(path),
        PARTITION_META: text_writer(json.dumps(meta, ensure_ascii=False, indent=2)),
    })
    return meta


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float | None:
    """Peak RSS since the last :func:`_reset_peak_rss` (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _censored_points(demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Demand points with no store found within the buffer (every value censored)."""
    pts = demand[["point_id", "pop_total", "pop_65plus", "pop_75plus", "geometry"]].copy()
    pts["network_m"] = np.nan
    pts["walk_min"] = np.nan
    pts["straight_m"] = np.nan
    pts["nearest_store_id"] = ""
    pts["reachable"] = False
    pts["beyond"] = True
    pts["beyond_straight"] = True
    return pts


def is_done(part: Partition) -> bool:
    """Whether the partition's result is on disk (a rerun skips it)."""
    return (Path(part.folder) / PARTITION_META).exists()


def write_partition_map(part: Partition, areas: gpd.GeoDataFrame, *, layer: ResourceLayer,
                        threshold_m: float) -> str:
    """A Dask task: the partition's map (its areas' merged figures and the stores inside
    it) as ``map.html`` in its folder; returns the path. The demand points stay in
    ``points.parquet``: thousands of dots made a map 15× slower and 17× larger."""
    folder = Path(part.folder)
    stores = gpd.read_parquet(folder / PARTITION_STORES)
    stores = stores[shapely.covers(part.polygon, stores.geometry.to_numpy())]
    fmap = difficulty_map(areas, stores, layer, load_map_style("difficulty"),
                          threshold_m=threshold_m,
                          subtitle=f"{part.partition_id} · batch")
    write_outputs(folder, {PARTITION_MAP: text_writer(fmap.get_root().render())})
    return str(folder / PARTITION_MAP)


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
        raise InputError("the buffer must be at least the threshold (a censored point is then "
                         "beyond the threshold for certain)", column="buffer", value=buffer_m)
    stages = stages or Stages()
    out = Path(out)
    root = out / "partitions"
    population_files = ([population] if isinstance(population, str | Path)
                        else list(population))
    with stages("read"):
        part_layer = read_partition_layer(partitions, id_column=partition_id)
        forced = forced_crs(crs)
        metric = forced or _zone_of(part_layer.total_bounds)
        people = read_population(population_files)
        store_table = None if stores == "osm" else read_stores(stores, layer)
        area_layers = [read_area_layer(a) for a in areas]
        owner = assign_population(people, part_layer)
        outside = _outside(people, owner)
        if outside["rows"] == len(people):
            raise InputError("no population row lies inside any partition (do the "
                             "population and the partitions cover the same place?)",
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
                                threshold_m=threshold_m)
    result.seconds = stages.seconds
    with stages("write"):
        write_batch(result, out, buffer_m=buffer_m, threshold_m=threshold_m, layer=layer,
                    pbf=str(pbf), maps=maps)
    return result


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
            raise InputError(f"the output folder holds partitions of another run (changed: "
                             f"{', '.join(changed)}); pass --fresh to recompute them all, or "
                             "another --out", file=root)
    elif any(root.glob(f"*/{PARTITION_META}")):
        raise InputError("the output folder holds partitions of a run that did not record "
                         "its inputs; pass --fresh to recompute them all, or another --out",
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
        raise InputError(f"every partition failed: {failed[:3]}", file=partitions)
    metas = [json.loads((Path(p.folder) / PARTITION_META).read_text(encoding="utf-8"))
             for p in done]
    frames = [f for f in (gpd.read_parquet(Path(p.folder) / PARTITION_POINTS) for p in done)
              if len(f)]
    if not frames:
        raise InputError("no demand point lies inside any finished partition",
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
                    layer: ResourceLayer, threshold_m: float) -> None:
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
                                     layer=layer, threshold_m=threshold_m, pure=False))
    client.gather(futures)


def write_batch(result: BatchResult, out: str | Path, *, buffer_m: float, threshold_m: float,
                layer: ResourceLayer, pbf: str, maps: bool = True) -> list[Path]:
    """The file contract of a single run (points as CSV and GeoParquet: a national
    ``points.geojson`` would be gigabytes), plus ``censored``/``partition``,
    ``partitions.csv`` and the overview ``map.html`` (figures per partition)."""
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
    meta = {"region": pbf, "mode": "batch (dask)", "threshold_m": threshold_m,
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
        writers["areas.geojson"] = geojson_writer(result.areas)
        writers["areas.parquet"] = lambda path: result.areas.to_crs("EPSG:4326").to_parquet(path)
    if result.partition_areas is not None:
        part_table = _partition_table(result)
        writers["partitions.csv"] = csv_writer(part_table)
        writers["partitions.geojson"] = geojson_writer(gpd.GeoDataFrame(
            part_table, geometry=result.partition_areas.geometry.to_numpy(),
            crs=result.partition_areas.crs))
        if maps:  # outlines simplified to 25 m: N03 at full detail is hundreds of MB
            outlines = result.partition_areas.assign(geometry=shapely.simplify(
                result.partition_areas.geometry.to_numpy(), SIMPLIFY_M, preserve_topology=True))
            fmap = difficulty_map(outlines, gpd.GeoDataFrame(
                {"store_id": [], "name": [], "category": []}, geometry=[], crs="EPSG:4326"),
                layer, load_map_style("difficulty"), threshold_m=threshold_m,
                subtitle=f"{len(result.partitions)} partitions · batch")
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

