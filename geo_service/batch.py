"""Partitioned shopping-difficulty runs on Dask distributed (issue 11, first slice).

A large OSM extract is split by a polygon layer with codes (municipalities, 小学校区, a grid
of boxes): each partition is its polygon plus a buffer (metres). The extract is cut for all
partitions at once by streaming it twice with pyosmium (ways with a node in a partition's
buffered box, with all their nodes; tagged nodes in the box), so each partition's
``.osm.pbf`` is written once and no worker ever reads the whole extract. Each partition is
one Dask task: the difficulty computation of :mod:`geo_service.pipeline` on the partition's
extract, for the demand points inside the partition (not the buffer) and the stores inside
the partition plus buffer. The per-point results are merged into the file contract of a
single run (``points``, ``areas`` recomputed from the merged points, ``summary.json``).

Exactness. Network distance is never shorter than the straight line, so every node of a
point's shortest path to its nearest store at distance *d* ≤ buffer lies within the buffer
of the partition; the cut keeps every way with such a node, whole, so the partition finds
the same path and the same distance. A point whose distance in its partition is beyond the
buffer, or that reaches no store there, may have a shorter path outside the cut: it is
reported as *censored* (``censored`` true, ``network_m``/``walk_min`` empty), never with a
number. Because the buffer must be ≥ the threshold, a censored point is beyond the threshold
for certain, so ``beyond`` counts and shares per area stay exact; only ``median_m``/``p90_m``
of areas holding censored points are affected (censored points count as beyond reach).

Every partition measures in one metric CRS (``crs``, default the zone of the partitions'
centre): its network is re-projected when its own zone differs, and kept as
``network.npz`` in its folder.

Limits of this slice: population and store files must be CSV point tables with lon/lat
(or ``--stores osm``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geo_service import settings
from geo_service._errors import InputError
from geo_service.boundaries import read_area_layer
from geo_service.crs import metric_crs_for
from geo_service.difficulty import area_indicators
from geo_service.layer_points import counted, read_stores
from geo_service.layers import ResourceLayer
from geo_service.outputs import (
    area_table,
    csv_writer,
    geojson_writer,
    points_table,
    text_writer,
    write_outputs,
)
from geo_service.readers import LAT_ALIASES, LON_ALIASES, find_column, read_vector

PARTITION_POINTS = "points.parquet"
PARTITION_META = "partition.json"


@dataclass(frozen=True)
class Partition:
    """One unit of work: its code, its polygon and its buffered box (EPSG:4326)."""

    partition_id: str
    polygon_wkb: bytes
    box: tuple[float, float, float, float]
    folder: str
    crs: str
    """The metric CRS every partition measures in (one for the whole batch)."""

    @property
    def polygon(self) -> shapely.Geometry:
        return shapely.from_wkb(self.polygon_wkb)


@dataclass
class BatchResult:
    """The merged result and what each partition did."""

    points: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    partitions: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    """Partitions that failed after their retries (their points are missing)."""


def _safe_name(code: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code) or "partition"


def read_partitions(path: str | Path, *, id_column: str | None, buffer_m: float,
                    root: str | Path, crs: str | None = None) -> list[Partition]:
    """Partitions from a polygon layer; the buffer is applied in one metric CRS for all
    (``crs``, or the zone :func:`metric_crs_for` picks for the layer's centre)."""
    if not buffer_m > 0:
        raise InputError("the buffer must be a positive distance in metres", column="buffer",
                         value=buffer_m)
    if id_column is None:
        layer = read_area_layer(path).areas.to_crs("EPSG:4326")
        ids = layer["area_id"].astype(str).to_numpy()
    else:
        layer = read_vector(path).to_crs("EPSG:4326")
        if id_column not in layer.columns:
            raise InputError(f"no column {id_column!r}; columns are {list(layer.columns)}",
                             file=path)
        ids = layer[id_column].astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        raise InputError("partition codes must be unique", file=path)
    c = shapely.centroid(shapely.union_all(layer.geometry.to_numpy()))
    metric = CRS.from_user_input(crs) if crs else metric_crs_for(float(c.x), float(c.y))
    if metric.is_geographic:
        raise InputError(f"the batch CRS must be metric, not {metric.to_string()}",
                         column="crs", value=crs)
    to_m = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    to_geo = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    parts = []
    for code, geom in zip(ids, layer.geometry.to_numpy(), strict=True):
        grown = shapely.buffer(_reproject(geom, to_m), buffer_m)
        box = _reproject(grown, to_geo).bounds
        parts.append(Partition(str(code), shapely.to_wkb(geom), tuple(box),
                               str(Path(root) / _safe_name(str(code))), metric.to_wkt()))
    return parts


def _reproject(geom: shapely.Geometry, tr: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def cut_extract(pbf: str | Path, partitions: Sequence[Partition], *,
                name: str = "extract.osm.pbf",
                way_keys: Sequence[str] = ("highway", "shop", "amenity")) -> list[Path]:
    """Write each partition's ``.osm.pbf`` by streaming ``pbf`` twice with pyosmium.

    Pass 1 (ways with node locations): a way with one of ``way_keys`` (streets, shops
    mapped as outlines) goes to every partition whose buffered box
    holds one of its nodes, with all its nodes. Pass 2: nodes those ways use, tagged nodes
    (shops) inside a box, and the ways, in file order. Relations are left out.
    """
    import osmium

    boxes = np.array([p.box for p in partitions], dtype=float)
    k = len(partitions)
    way_sets: list[set[int]] = [set() for _ in range(k)]
    node_sets: list[set[int]] = [set() for _ in range(k)]
    reader = osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    for way in reader:
        if not isinstance(way, osmium.osm.Way) or not any(k in way.tags for k in way_keys):
            continue
        refs, xy = [], []
        for n in way.nodes:
            refs.append(n.ref)
            loc = n.location
            xy.append((loc.lon, loc.lat) if loc.valid() else (np.nan, np.nan))
        arr = np.asarray(xy, dtype=float)
        inside = ((arr[:, None, 0] >= boxes[None, :, 0]) & (arr[:, None, 0] <= boxes[None, :, 2])
                  & (arr[:, None, 1] >= boxes[None, :, 1])
                  & (arr[:, None, 1] <= boxes[None, :, 3])).any(axis=0)
        for j in np.flatnonzero(inside):
            way_sets[j].add(way.id)
            node_sets[j].update(refs)
    paths = []
    writers = []
    for p in partitions:
        Path(p.folder).mkdir(parents=True, exist_ok=True)
        path = Path(p.folder) / name
        path.unlink(missing_ok=True)
        paths.append(path)
        writers.append(osmium.SimpleWriter(str(path)))
    try:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            if isinstance(obj, osmium.osm.Node):
                loc = obj.location
                tagged = len(obj.tags) > 0 and loc.valid()
                for i in range(k):
                    b = boxes[i]
                    if obj.id in node_sets[i] or (
                            tagged and b[0] <= loc.lon <= b[2] and b[1] <= loc.lat <= b[3]):
                        writers[i].add_node(obj)
            elif isinstance(obj, osmium.osm.Way):
                for i in range(k):
                    if obj.id in way_sets[i]:
                        writers[i].add_way(obj)
    finally:
        for w in writers:
            w.close()
    return paths


def _split_table(path: str | Path, partitions: Sequence[Partition], *, name: str,
                 within_box: bool) -> dict[str, int]:
    """Write each partition's rows of a lon/lat CSV, text untouched (exact coordinates).

    ``within_box``: rows in the partition's buffered box (stores); otherwise rows in the
    partition's polygon, each row in the first partition that covers it (demand points).
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lon_col, lat_col = find_column(table.columns, LON_ALIASES), find_column(table.columns,
                                                                            LAT_ALIASES)
    if lon_col is None or lat_col is None:
        raise InputError("batch runs read CSV point tables with lon/lat columns", file=path)
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy()
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy()
    taken = np.zeros(len(table), dtype=bool)
    counts = {}
    pts = shapely.points(lon, lat)
    for p in partitions:
        if within_box:
            b = p.box
            keep = (lon >= b[0]) & (lon <= b[2]) & (lat >= b[1]) & (lat <= b[3])
        else:
            keep = shapely.covers(p.polygon, pts) & ~taken
            taken |= keep
        table[keep].to_csv(Path(p.folder) / name, index=False)
        counts[p.partition_id] = int(keep.sum())
    return counts


def run_partition(part: Partition, *, stores: str, layer: ResourceLayer, buffer_m: float,
                  threshold_m: float, speed: float) -> dict[str, Any]:
    """One Dask task: the difficulty computation on one partition's files.

    Writes ``points.parquet`` (metric CRS of the partition, then EPSG:4326 for merging) and
    ``partition.json`` into the partition's folder, atomically; returns the metadata.
    """
    from geo_service.layer_points import stores_from_osm
    from geo_service.network import load_walk_network
    from geo_service.pipeline import build_region, compute_difficulty

    started = time.perf_counter()
    folder = Path(part.folder)
    population = folder / "population.csv"
    extract = folder / "extract.osm.pbf"
    store_src = str(folder / "stores.csv")
    n_points = len(pd.read_csv(population, dtype=str))
    meta: dict[str, Any] = {"partition_id": part.partition_id, "demand_points": n_points}
    if n_points == 0:
        points = gpd.GeoDataFrame({"point_id": []}, geometry=[], crs="EPSG:4326")
    else:
        # the partition's own polygon as the (one) area layer compute_difficulty needs
        outline = folder / "partition.geojson"
        gpd.GeoDataFrame({"area_id": [part.partition_id], "name": [part.partition_id]},
                         geometry=[part.polygon], crs="EPSG:4326").to_file(outline)
        # parse once, in the batch's CRS, and keep it (network.npz) for build_region
        net = load_walk_network(extract, walking_speed_mps=speed)
        target = CRS.from_wkt(part.crs)
        if not net.crs.equals(target):
            net = _reproject_network(net, target)
        net.save(folder / "network.npz")
        if stores == "osm":
            store_src = str(folder / "stores.gpkg")
            stores_from_osm(extract, layer).to_file(store_src)
        region = build_region(network=folder / "network.npz", stores=store_src,
                              population=[population], areas=[f"partition={outline}"],
                              speed=speed, layer=layer)
        try:
            result = compute_difficulty(region, layer=layer, threshold_m=threshold_m)
            pts = result.points
            meta["stores"] = int(len(result.stores))
        except InputError:  # no counted store within the buffer: every point is censored
            pts = region.demand[["point_id", "pop_total", "pop_65plus", "pop_75plus",
                                 "geometry"]].copy()
            pts["network_m"] = np.nan
            pts["walk_min"] = np.nan
            pts["straight_m"] = np.inf
            pts["nearest_store_id"] = ""
            pts["reachable"] = False
            pts["beyond"] = True
            pts["beyond_straight"] = True
            meta["stores"] = 0
        censored = ~pts["reachable"].to_numpy() | (pts["network_m"].to_numpy() > buffer_m)
        pts["censored"] = censored
        pts.loc[censored, ["network_m", "walk_min"]] = np.nan
        pts.loc[censored, "nearest_store_id"] = ""
        pts.loc[censored, "reachable"] = False
        pts.loc[censored, "beyond"] = True
        pts["partition"] = part.partition_id
        points = pts.to_crs("EPSG:4326")
        meta["metric_crs"] = region.net.crs.to_string()
        meta["nodes"] = int(region.net.n_nodes)
        meta["censored"] = int(censored.sum())
    meta["seconds"] = time.perf_counter() - started
    meta["pid"] = os.getpid()
    # the worker process's peak resident memory so far (not this partition's alone)
    meta["worker_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_outputs(folder, {
        PARTITION_POINTS: lambda path: points.to_parquet(path),
        PARTITION_META: text_writer(json.dumps(meta, ensure_ascii=False, indent=2)),
    })
    return meta


def _reproject_network(net: Any, crs: CRS) -> Any:
    """The network in another metric CRS (nodes and edge vertices transformed)."""
    from geo_service.network import WalkNetwork

    tr = Transformer.from_crs(net.crs, crs, always_xy=True)
    xy = np.column_stack(tr.transform(net.node_xy[:, 0], net.node_xy[:, 1]))
    coords = shapely.get_coordinates(net.edge_geometry)
    geoms = shapely.set_coordinates(net.edge_geometry.copy(), np.column_stack(
        tr.transform(coords[:, 0], coords[:, 1])))
    return WalkNetwork.from_edges(net.node_id, xy, net.edge_u, net.edge_v, geoms, crs=crs,
                                  node_z=net.node_z, walking_speed_mps=net.walking_speed_mps,
                                  source=net.source)


def is_done(part: Partition) -> bool:
    return (Path(part.folder) / PARTITION_META).exists()


def run_batch(
    *,
    pbf: str | Path,
    partitions: str | Path,
    stores: str,
    population: str | Path,
    areas: Sequence[str | Path] = (),
    out: str | Path,
    layer: ResourceLayer,
    partition_id: str | None = None,
    buffer_m: float = 2000.0,
    threshold_m: float = settings.threshold_m,
    speed: float = settings.walking_speed_mps,
    client: Any = None,
    workers: int = 2,
    retries: int = 1,
    progress: Callable[[int, int, float], None] | None = None,
    task: Callable[..., dict[str, Any]] | None = None,
    crs: str | None = None,
) -> BatchResult:
    """Cut, compute one Dask task per partition, merge and write ``out`` atomically.

    ``client``: a ``distributed.Client`` to use (any cluster); otherwise a ``LocalCluster``
    of ``workers`` single-threaded processes is started and closed. Partitions whose folder
    already holds a result are not recomputed (resume). ``task`` replaces
    :func:`run_partition` (same arguments; e.g. to wrap it with instrumentation).
    """
    if buffer_m < threshold_m:
        raise InputError("the buffer must be at least the threshold (a censored point is then "
                         "beyond the threshold for certain)", column="buffer", value=buffer_m)
    seconds: dict[str, float] = {}
    out = Path(out)
    t = time.perf_counter()
    parts = read_partitions(partitions, id_column=partition_id, buffer_m=buffer_m,
                            root=out / "partitions", crs=crs)
    todo = [p for p in parts if not is_done(p)]
    if todo:
        cut_extract(pbf, todo)
        _split_table(population, todo, name="population.csv", within_box=False)
        if stores != "osm":
            _split_table(stores, todo, name="stores.csv", within_box=True)
    seconds["cut"] = time.perf_counter() - t

    t = time.perf_counter()
    failed: list[dict[str, str]] = []
    if todo:
        failed = _run_on_dask(
            todo, task or run_partition, client=client, workers=workers, retries=retries,
            progress=progress,
            kwargs={"stores": stores, "layer": layer, "buffer_m": buffer_m,
                    "threshold_m": threshold_m, "speed": speed})
    seconds["partitions"] = time.perf_counter() - t

    t = time.perf_counter()
    done = [p for p in parts if is_done(p)]
    if not done:
        raise InputError(f"every partition failed: {failed[:3]}", file=partitions)
    metas = [json.loads((Path(p.folder) / PARTITION_META).read_text(encoding="utf-8"))
             for p in done]
    frames = [gpd.read_parquet(Path(p.folder) / PARTITION_POINTS) for p in done]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise InputError("no demand point lies inside any partition", file=partitions)
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                              crs="EPSG:4326")
    metric = CRS.from_wkt(parts[0].crs)
    points = merged.to_crs(metric)
    all_stores = (_stores_of(parts, layer) if stores == "osm"
                  else counted(read_stores(stores, layer), layer)).to_crs(metric)
    layers = [read_area_layer(a) for a in areas]
    area_frame = (area_indicators(points, layers, all_stores, threshold_m=threshold_m)
                  if layers else gpd.GeoDataFrame({"layer": []}, geometry=[], crs=metric))
    seconds["merge"] = time.perf_counter() - t
    result = BatchResult(points, area_frame, metas, seconds, failed)
    write_batch(result, out, buffer_m=buffer_m, threshold_m=threshold_m, layer=layer,
                pbf=str(pbf))
    return result


def _stores_of(parts: Sequence[Partition], layer: ResourceLayer) -> gpd.GeoDataFrame:
    from geo_service.layer_points import stores_from_osm

    frames = [stores_from_osm(Path(p.folder) / "extract.osm.pbf", layer) for p in parts]
    allst = pd.concat(frames, ignore_index=True).drop_duplicates("store_id")
    return counted(gpd.GeoDataFrame(allst, geometry="geometry", crs=frames[0].crs), layer)


def _run_on_dask(todo: Sequence[Partition], task: Callable[..., dict[str, Any]], *,
                 client: Any, workers: int, retries: int,
                 progress: Callable[[int, int, float], None] | None,
                 kwargs: dict[str, Any]) -> list[dict[str, str]]:
    """Run the partitions; return those that failed after their retries (the others
    finish regardless)."""
    from distributed import Client, LocalCluster, as_completed

    own = client is None
    cluster = None
    if own:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        started = time.perf_counter()
        futures = {client.submit(task, p, **kwargs, key=f"partition-{p.folder}",
                                 retries=retries, pure=False): p for p in todo}
        failed = []
        for i, fut in enumerate(as_completed(list(futures)), start=1):
            if fut.status == "error":
                failed.append({"partition_id": futures[fut].partition_id,
                               "error": f"{type(fut.exception()).__name__}: "
                                        f"{fut.exception()}"})
            if progress is not None:
                progress(i, len(todo), time.perf_counter() - started)
        return failed
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


def write_batch(result: BatchResult, out: str | Path, *, buffer_m: float, threshold_m: float,
                layer: ResourceLayer, pbf: str) -> list[Path]:
    """The file contract of a single run, plus ``censored``/``partition`` and GeoParquet."""
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
            "complete": not result.failed, "failed_partitions": result.failed,
            "summary": summary, "seconds": result.seconds, "partitions": result.partitions}
    writers = {
        "points.csv": csv_writer(table),
        "points.geojson": geojson_writer(gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"]), geometry=points.geometry.to_numpy(),
            crs=points.crs)),
        "points.parquet": lambda path: points.to_crs("EPSG:4326").to_parquet(path),
        "summary.json": text_writer(json.dumps(meta, ensure_ascii=False, indent=2)),
    }
    if len(result.areas):
        writers["areas.csv"] = csv_writer(area_table(result.areas))
        writers["areas.geojson"] = geojson_writer(result.areas)
        writers["areas.parquet"] = lambda path: result.areas.to_crs("EPSG:4326").to_parquet(path)
    return write_outputs(out, writers)


def clear_partitions(out: str | Path) -> None:
    """Forget finished partitions (the next run recomputes all)."""
    shutil.rmtree(Path(out) / "partitions", ignore_errors=True)


