"""The shopping-difficulty job end to end: inputs → region → distance field → indicators → files.

The CLI (``geo-service difficulty`` and ``geo-service demo``), the tests and the benchmark
all call :func:`build_region`, :func:`compute_difficulty` (the numbers, nothing written:
what the batch and the planning tools call) and :func:`write_difficulty` (the files);
nothing re-implements a step. Every input is read and validated before anything is
written; outputs are written atomically (see :mod:`geo_service.outputs`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service import settings
from geo_service._errors import InputError, sheet_rows
from geo_service.engine.access import DistanceField
from geo_service.engine.basemap import Basemap
from geo_service.engine.basemap_osm import CLIP_PAD_M, extras_for_network
from geo_service.engine.network import WalkNetwork
from geo_service.engine.osm import (
    features_from_place,
    load_walk_network,
    network_from_bbox,
    network_from_place,
)
from geo_service.engine.population import load_population
from geo_service.engine.region import Region
from geo_service.i18n import msg
from geo_service.indicators.difficulty import DifficultyResult, area_indicators, point_indicators
from geo_service.inputs.boundaries import (
    AreaLayer,
    area_layer_from_mapping,
    mesh_layer,
    parse_area_spec,
    read_area_layer,
)
from geo_service.inputs.layer_points import (
    counted,
    read_stores,
    stores_from_features,
    stores_from_osm,
)
from geo_service.inputs.mesh import MESH_KEYWORDS, mesh_codes_for
from geo_service.inputs.readers import (
    check_lon_lat,
    find_column,
    read_table,
    read_vector,
    to_number,
)
from geo_service.inputs.sources import (
    Source,
    describe,
    file_label,
    online_osm,
)
from geo_service.layers import ResourceLayer, load_map_style
from geo_service.memory import release_free_memory
from geo_service.outputs import (
    area_table,
    csv_writer,
    geojson_writer,
    point_file_writers,
    points_table,
    text_writer,
    write_outputs,
)
from geo_service.reports.maps import EMBED_MAX_VERTICES, difficulty_map

ProgressHook = Callable[[str], None]


@dataclass
class Stages:
    """Named stage timings (seconds), reported at the end of a run."""

    on_start: ProgressHook | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the enclosed block under ``name``."""
        if self.on_start:
            self.on_start(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def load_network(network: str | Path | None, place: str | None, *, dem: str | Path | None,
                 speed: float, bbox: str | None = None) -> WalkNetwork:
    """A walking network from a file, or online (cached) from a place name or a bbox.

    ``bbox`` is ``"west,south,east,north"`` in degrees.
    """
    if sum(x is not None for x in (network, place, bbox)) != 1:
        raise InputError(msg("give exactly one of --network FILE, --place NAME or --bbox W,S,E,N"))
    if network is not None:
        return load_walk_network(network, dem=dem, walking_speed_mps=speed)
    net = (network_from_place(place) if place is not None
           else network_from_bbox(*_parse_bbox(str(bbox)))).with_speed(speed)
    return net.with_dem(dem) if dem else net


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(msg("expected four numbers west,south,east,north"), column="--bbox",
                         value=text) from exc
    if not (west < east and south < north):
        raise InputError(msg("west must be < east and south < north"), column="--bbox", value=text)
    check_lon_lat(np.array([west, east]), np.array([south, north]), source="--bbox")
    return west, south, east, north


def parse_car_rate(value: str | None) -> float | pd.Series | None:
    """A car-availability rate: one number in 0–1, or a CSV of ``area_id, car_rate``."""
    if value is None:
        return None
    try:
        rate: float | pd.Series = float(value)
        rates = np.array([rate])
        source: str | Path = "--car-rate"
    except ValueError:
        source = Path(value)
        table = read_table(source)
        key = find_column(table.columns, ("area_id", "id", "KEY_CODE", "code", "名称", "name"))
        col = find_column(table.columns, ("car_rate", "rate", "自動車利用率", "車利用率"))
        if key is None or col is None:
            raise InputError(msg("a car-rate table needs area_id and car_rate columns"),
                             file=source) from None
        rates = to_number(table, col, source=source)
        rate = pd.Series(rates, index=table[key].astype(str).to_numpy())
    bad = ~((rates >= 0) & (rates <= 1))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(msg("a car-availability rate must be between 0 and 1"), file=source,
                         row=sheet_rows(rows) if isinstance(rate, pd.Series) else None,
                         column="car_rate", value=float(rates[rows[0]]))
    return rate


def load_stores(stores: str | Path, layer: ResourceLayer, *,
                network_file: str | Path | None, place: str | None = None) -> gpd.GeoDataFrame:
    """Stores from a file, or ``"osm"`` to take them from the network's OSM file (or, for
    streets downloaded for ``place``, downloaded with them)."""
    if str(stores) == "osm" and network_file is None and place is not None:
        return stores_from_features(features_from_place(place, layer.osm_filter()), layer)
    if str(stores) == "osm":
        if network_file is None or Path(network_file).suffix.lower() in (".graphml", ".npz"):
            raise InputError(msg("--stores osm needs --network to be an OSM file (.osm.pbf, .osm, "
                                 ".json)"), value=str(network_file))
        return stores_from_osm(network_file, layer)
    return read_stores(stores, layer)


def load_area_layers(specs: list[str], demand: gpd.GeoDataFrame,
                     net: WalkNetwork) -> list[AreaLayer]:
    """Read ``[LABEL=]FILE[+MAPPING]`` specs and mesh keywords, keeping areas near the network.

    Areas that do not touch the network's extent (e.g. the rest of a prefecture in a
    国土数値情報 file) are dropped.
    """
    layers: list[AreaLayer] = []
    hull = shapely.convex_hull(shapely.multipoints(net.node_xy))
    for spec in specs:
        if spec in MESH_KEYWORDS:
            level, mesh_name = MESH_KEYWORDS[spec]
            layers.append(mesh_layer(mesh_codes_for(demand.geometry, level), name=mesh_name))
            continue
        label, path, mapping = parse_area_spec(spec)
        layer = read_area_layer(path, name=None if mapping else label)
        if mapping is not None:
            layer = area_layer_from_mapping(layer, mapping, name=label or mapping.stem)
        metric = layer.areas.to_crs(net.crs)
        keep = metric.intersects(hull).to_numpy()
        if not keep.any():
            raise InputError(msg("no area of this layer overlaps the walking network; check the "
                                 "CRS or use areas of the same town"), file=path)
        layers.append(replace(layer, areas=layer.areas[keep].reset_index(drop=True)))
    names = [a.name for a in layers]
    if len(set(names)) != len(names):
        raise InputError(msg("two area layers share a name {names}; label them: "
                             "--areas 小学校区=FILE", names=names))
    return layers


def build_region(
    *,
    network: str | Path | None = None,
    place: str | None = None,
    bbox: str | None = None,
    stores: str | Path,
    population: list[str | Path],
    areas: list[str],
    dem: str | Path | None = None,
    speed: float = settings.walking_speed_mps,
    layer: ResourceLayer,
    buildings: str | Path | None = None,
    stages: Stages | None = None,
) -> Region:
    """Read and validate every input into a :class:`Region` (nothing is written)."""
    stages = stages or Stages()
    with stages("network"):
        net = load_network(network, place, dem=dem, speed=speed, bbox=bbox)
        extras = extras_for_network(network, net.bounds_lonlat(pad_m=CLIP_PAD_M))
    with stages("stores"):
        all_stores = load_stores(stores, layer, network_file=network, place=place)
    with stages("population"):
        bldg = read_vector(buildings) if buildings else None
        demand = load_population(list(population), net, buildings=bldg)
    with stages("areas"):
        area_layers = load_area_layers(areas, demand, net)
    notes = [n for a in area_layers for n in a.notes]
    return Region(net, demand, area_layers, {layer.id: all_stores},
                  name=file_label(str(network or place or bbox)), notes=notes,
                  basemap_extras=extras,
                  sources=list(dict.fromkeys([
                      describe(network, "道路網") if network is not None
                      else online_osm(place or f"bbox {bbox}"),
                      describe(stores, "店舗") if str(stores) != "osm"
                      else describe(network, "店舗") if network is not None
                      else online_osm(place or f"bbox {bbox}", "店舗"),
                      *[describe(p, "人口") for p in population],
                      *area_sources(areas, area_layers)])))


def area_sources(specs: Sequence[str], layers: Sequence[AreaLayer]) -> list[Source]:
    """The sources of the area layers read from ``specs`` (:func:`load_area_layers`, in
    that order): each file and mapping table, its role the layer's name (区域 小学校区)."""
    found = []
    for spec, layer in zip(specs, layers, strict=True):
        if spec not in MESH_KEYWORDS:
            _, path, mapping = parse_area_spec(spec)
            found += [describe(p, f"区域 {layer.name}") for p in (path, mapping)
                      if p is not None]
    return found


def compute_difficulty(
    region: Region,
    *,
    layer: ResourceLayer,
    threshold_m: float = settings.threshold_m,
    car_rate: float | pd.Series | None = None,
    stages: Stages | None = None,
) -> DifficultyResult:
    """Distance field and indicators of a region (nothing is written).

    Parameters
    ----------
    region
        The study area; ``region.resources[layer.id]`` holds its stores.
    layer
        The store layer definition: which categories count.
    threshold_m
        Walking distance beyond which a person counts as having difficult access.
    car_rate
        Share of 65+ who can use a car, one number or per area id (MAFF adjustment).
    stages
        Timing (and progress) hook.
    """
    if not threshold_m > 0:
        raise InputError(msg("the threshold must be a positive distance in metres"),
                         column="threshold", value=threshold_m)
    stages = stages or Stages()
    points, stores = point_difficulty(region, layer=layer, threshold_m=threshold_m,
                                      stages=stages)
    with stages("indicators"):
        areas = area_indicators(points, region.areas, stores, threshold_m=threshold_m,
                                car_rate=car_rate)
    return DifficultyResult(points, areas, stores, stages.seconds, region.notes, threshold_m,
                            region, layer)


def point_difficulty(
    region: Region,
    *,
    layer: ResourceLayer,
    threshold_m: float = settings.threshold_m,
    stages: Stages | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The per-point half of :func:`compute_difficulty`: the indicators of every demand
    point and the counted stores (both in the network's CRS); no areas (a batch partition
    aggregates areas only after merging)."""
    stages = stages or Stages()
    stores = counted(region.resources[layer.id], layer).to_crs(region.net.crs)
    if stores.empty:
        raise InputError(msg("no stores of the counted categories {ids}",
                             ids=layer.included_ids))
    with stages("attach"):
        demand_att = region.demand_attachment
        store_att = region.attach(stores, source="stores")
    with stages("distance field"):
        access = DistanceField(region.net, store_att).at(demand_att)
    with stages("indicators"):
        points = point_indicators(region.demand, access, stores, threshold_m=threshold_m)
    return points, stores


def write_difficulty(
    result: DifficultyResult,
    out_dir: str | Path,
    *,
    map_style: str | Path = "difficulty",
    extra_resources: Sequence[tuple[ResourceLayer, gpd.GeoDataFrame]] = (),
    subtitle: str = "",
    tiles: bool = True,
    stages: Stages | None = None,
) -> list[Path]:
    """Write a result's files into ``out_dir`` atomically; return their paths.

    ``points.csv``, ``points.geojson``, ``areas.csv``, ``areas.geojson``, ``map.html``
    (with ``extra_resources`` as further marker layers) and ``summary.json``.
    """
    stages = stages or Stages()
    region, layer, points = result.region, result.layer, result.points
    with stages("write"):
        # every point is attached: the write's memory need not stack on the search indexes
        region.net.release_search_indexes()
        release_free_memory()
        style = load_map_style(map_style)
        net = region.net
        basemap = Basemap.of_region(net, region.areas, region.basemap_extras).embedded(
            EMBED_MAX_VERTICES)
        fmap = difficulty_map(result.areas, region.resources[layer.id], layer, style,
                              threshold_m=result.threshold_m, points=points,
                              extra_resources=extra_resources, subtitle=subtitle, tiles=tiles,
                              basemap=basemap, region_name=region.label,
                              attributions=region.attributions)
        html = fmap.get_root().render()
        del fmap, basemap
        meta = {"region": region.label, "municipality_code": region.municipality_code,
                "sources": [s.to_dict() for s in region.sources],
                "attributions": region.attributions, "synthetic": region.synthetic,
                "threshold_m": result.threshold_m,
                "walking_speed_mps": region.net.walking_speed_mps,
                "slope_model": "tobler" if region.net.has_elevation else "flat",
                "metric_crs": region.net.crs.to_string(),
                "counted_categories": layer.included_ids, "notes": result.notes,
                "summary": _finite(result.summary())}
        # the GeoJSON files name the region and its sources as summary.json does
        about = region.output_metadata()
        meta["synthetic"] = about["synthetic"]
        # points.csv and points.geojson in one pass over the table (lon/lat included)
        return write_outputs(out_dir, {
            **point_file_writers(points_table(points), "points.csv", "points.geojson",
                                 metadata=about),
            "areas.csv": csv_writer(area_table(result.areas)),
            "areas.geojson": geojson_writer(result.areas, metadata=about),
            "map.html": text_writer(html),
            "summary.json": text_writer(json.dumps(meta, ensure_ascii=False, indent=2)),
        })


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in values.items()}
