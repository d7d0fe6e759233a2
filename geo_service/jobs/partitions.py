"""One partition of a ``geo-service batch`` run (:mod:`geo_service.jobs.batch`): the
partition layer, who owns which population row, each partition's extent and measuring CRS,
its input files, the per-partition computation (one Dask task) and its map."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine.population import is_polygon_population
from geo_service.i18n import msg
from geo_service.inputs.boundaries import read_area_layer
from geo_service.inputs.crs import metric_crs_for, transform_geometry
from geo_service.inputs.readers import read_vector
from geo_service.layers import ResourceLayer, load_map_style
from geo_service.outputs import (
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
            raise InputError(msg("no column {column!r}; columns are {columns}", column=id_column,
                                 columns=list(layer.columns)),
                             file=path, column=id_column)
        ids = layer[id_column].astype(str)
        names, layer_name = ids, "partition"
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(msg("partition codes must be unique"), file=path,
                         row=int(dup.index[0]) + 1, value=dup.iloc[0])
    folders = ids.map(safe_name)
    if folders.duplicated().any():
        raise InputError(msg("two partition codes give the same folder name ({folder!r})",
                             folder=folders[folders.duplicated()].iloc[0]), file=path)
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
        raise InputError(msg("the batch CRS must be metric, not {crs}", crs=metric.to_string()),
                         column="crs", value=crs)
    return metric


def zone_of(bounds: np.ndarray) -> CRS:
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
        metric = crs or zone_of(shapely.bounds(polygon))
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
                        threshold_m: float, region_name: str = "",
                        attributions: Sequence[str] = ()) -> str:
    """A Dask task: the partition's map (its areas' merged figures and the stores inside
    it) as ``map.html`` in its folder, named ``region_name`` with the run's
    ``attributions`` in its legend; returns the path. The demand points stay in
    ``points.parquet``: thousands of dots made a map 15× slower and 17× larger."""
    folder = Path(part.folder)
    stores = gpd.read_parquet(folder / PARTITION_STORES)
    stores = stores[shapely.covers(part.polygon, stores.geometry.to_numpy())]
    fmap = difficulty_map(areas, stores, layer, load_map_style("difficulty"),
                          threshold_m=threshold_m,
                          subtitle=f"{part.partition_id} · batch",
                          region_name=region_name, attributions=attributions)
    write_outputs(folder, {PARTITION_MAP: text_writer(fmap.get_root().render())})
    return str(folder / PARTITION_MAP)
