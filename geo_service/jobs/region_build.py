"""``geo-service region build``: a named region assembled from the files a municipality has.

A coordinator names the municipality (飯塚市, 市区町村コード 40205) and gives the standard open
files; each is read by the package's own readers, as published:

- streets: an OSM extract (``.osm.pbf``, ``.osm``, an Overpass JSON answer), or
  downloaded for ``place`` (online), or — for offline tests and demonstrations only — a
  generated street grid over the municipality's extent, recorded as synthetic;
- the outline (optional): 国土数値情報 N03 行政区域, the row of the 市区町村コード; streets
  and area layers are clipped to it;
- population: e-Stat T001082 + 小地域 shapefile, a mesh table, points or polygons
  (:func:`~geo_service.engine.population.read_population`); the e-Stat small areas are
  also the area layer 町丁 unless ``areas`` names them;
- area layers: 国土数値情報 A27/A32 (prefecture files, kept to the municipality), e-Stat
  小地域, a 日常生活圏域 mapping table, meshes
  (:func:`~geo_service.jobs.pipeline.load_area_layers`);
- stores: a store list or ``osm`` (the extract's shop tags);
- 将来推計人口 (optional): a 国土数値情報 mesh file or a per-area table
  (:mod:`~geo_service.planning.projection`), checked against the region and copied into
  ``projection/``, where karte and scenario find it for ``--year``;
- 公共施設一覧 (デジタル庁 standard layout) and GTFS-JP feeds: checked here, imported into the
  region's registry (:func:`import_facilities`) and copied into ``gtfs/`` of the region.

Every input becomes a :class:`~geo_service.inputs.sources.Source` in region.json's
``sources`` (publisher recognised from the file; the user may override any field). Every
input is read and checked against the 市区町村コード before anything is written; the
region is written to a temporary folder beside ``out`` and renamed into place.
"""

from __future__ import annotations

import glob
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo_service import settings
from geo_service._errors import InputError
from geo_service.engine.network import WalkNetwork
from geo_service.engine.population import (
    apportion_to_network,
    is_polygon_population,
    read_population,
)
from geo_service.engine.region import Region
from geo_service.i18n import Message, msg
from geo_service.inputs import sources as src
from geo_service.inputs.boundaries import AreaLayer, parse_area_spec, read_area_layer
from geo_service.inputs.crs import metric_crs_for
from geo_service.inputs.gtfs import read_bus_stops
from geo_service.inputs.sources import Source
from geo_service.jobs.pipeline import (
    Stages,
    area_sources,
    load_area_layers,
    load_network,
    load_stores,
)
from geo_service.layers import FOOD_STORE_LAYER, load_resource_layer
from geo_service.planning.projection import REGION_FOLDER as PROJECTION_FOLDER
from geo_service.planning.projection import (
    SavedProjection,
    load_projection,
    projection_years,
)

#: what a source was used for, as kartes and pages name it
ROLES = {"streets": "道路網", "outline": "行政区域", "population": "人口", "stores": "店舗",
         "facilities": "公共施設", "gtfs": "バス（GTFS）", "projection": "将来推計人口"}
#: the area layer the e-Stat small areas become
SMALL_AREA_LAYER = "町丁"
#: how far (m) beyond the outline streets are kept (a walk may cross the border)
OUTLINE_MARGIN_M = 1000.0


@dataclass
class RegionInputs:
    """What ``geo-service region build`` was given (paths as the user typed them)."""

    title: str
    code: str
    outline: Path | None = None
    network: Path | None = None
    place: str | None = None
    bbox: str | None = None
    synthetic_streets_m: float | None = None
    population: list[Path] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    stores: str | None = None
    facilities: list[Path] = field(default_factory=list)
    gtfs: list[Path] = field(default_factory=list)
    source_overrides: list[str] = field(default_factory=list)
    projection: Path | None = None
    projection_layer: str | None = None
    projection_columns: dict[str, str] = field(default_factory=dict)
    threshold_m: float = settings.threshold_m
    speed: float = settings.walking_speed_mps


def build_named_region(inputs: RegionInputs, *, stages: Stages | None = None) -> Region:
    """Read and check every input into a named :class:`Region` with its sources (nothing
    is written; the 将来推計人口 file, which needs the region, is checked by
    :func:`check_projection`)."""
    stages = stages or Stages()
    title = inputs.title.strip()
    if not title:
        raise InputError(msg("the region needs a name (--name 飯塚市)"), column="--name")
    code = src.municipality_code(inputs.code)
    require_files(inputs)
    sources: list[Source] = []
    outline = None
    if inputs.outline is not None:
        outline = read_outline(inputs.outline, code)
        sources.append(src.describe(inputs.outline, ROLES["outline"]))
    with stages("population"):
        people = read_population(list(inputs.population)) if inputs.population else None
        if people is None:
            raise InputError(msg("give the population (--population: an e-Stat table and "
                                 "its small-area shapefile, a mesh table, points or "
                                 "polygons)"), column="--population")
        check_population_code(people, code, inputs.population)
        sources += [src.describe(p, ROLES["population"]) for p in inputs.population]
    extent = outline if outline is not None else _extent_of(people)
    with stages("network"):
        if inputs.synthetic_streets_m is not None:
            if any(x is not None for x in (inputs.network, inputs.place, inputs.bbox)):
                raise InputError(msg("give either real streets (--network/--place/--bbox) "
                                     "or --synthetic-streets, not both"),
                                 column="--synthetic-streets")
            net = street_grid(extent, inputs.synthetic_streets_m, speed=inputs.speed)
            what = f"生成した格子状の道路網（{inputs.synthetic_streets_m:g} m 間隔）"
            sources.append(src.synthetic(ROLES["streets"], what))
        else:
            net = load_network(inputs.network, inputs.place, dem=None, speed=inputs.speed,
                               bbox=inputs.bbox)
            sources.append(src.describe(inputs.network, ROLES["streets"])
                           if inputs.network is not None
                           else src.online_osm(inputs.place or f"bbox {inputs.bbox}"))
        if outline is not None:
            net = clip_network(net, outline, OUTLINE_MARGIN_M)
    with stages("population"):
        demand = (apportion_to_network(people, net) if is_polygon_population(people)
                  else people.to_crs(net.crs))
    with stages("areas"):
        specs = list(inputs.areas)
        estat_shp = _estat_boundary(inputs.population)
        if estat_shp is not None and not any(parse_area_spec(s)[1] == estat_shp for s in specs
                                             if s not in _MESH_SPECS):
            specs.insert(0, f"{SMALL_AREA_LAYER}={estat_shp}")
        layers = load_area_layers(specs, demand, net)
        if outline is not None:
            layers = [clip_layer(a, outline) for a in layers]
        sources += area_sources(specs, layers)
    resources: dict[str, gpd.GeoDataFrame] = {}
    if inputs.stores is not None:
        with stages("stores"):
            layer = load_resource_layer(FOOD_STORE_LAYER)
            resources[layer.id] = load_stores(inputs.stores, layer, network_file=inputs.network,
                                              place=inputs.place)
            if inputs.stores != "osm":
                sources.append(src.describe(inputs.stores, ROLES["stores"]))
            else:
                sources.append(src.describe(inputs.network, ROLES["stores"])
                               if inputs.network is not None
                               else src.online_osm(inputs.place or "", ROLES["stores"]))
    for path in inputs.facilities:
        check_facilities(path, code)
        sources.append(src.describe(path, ROLES["facilities"]))
    if inputs.gtfs:
        check_feeds(inputs.gtfs, net)
        sources += [src.describe(p, ROLES["gtfs"]) for p in inputs.gtfs]
    if inputs.projection is not None:
        sources.append(src.describe(inputs.projection, ROLES["projection"]))
    for spec in inputs.source_overrides:
        sources = src.override(sources, spec)
    notes = [n for a in layers for n in a.notes]
    if inputs.synthetic_streets_m is not None:
        notes.insert(0, "道路網は生成した格子です（実在の道路ではありません）")
    return Region(net, demand, layers, resources, name=title, notes=notes,
                  threshold_m=inputs.threshold_m, title=title, municipality_code=code,
                  sources=_unique(sources))


def check_projection(inputs: RegionInputs, region: Region) -> SavedProjection:
    """The 将来推計人口 file must read for the region: its years (a mesh file's PTC_yyyy
    after the base year, a table's ``year`` column) and, for the first of them, its
    figures matched to the region's demand points or areas
    (:func:`~geo_service.planning.projection.load_projection` refuses what it cannot
    read, naming the file, row, column and value)."""
    assert inputs.projection is not None
    years = projection_years(inputs.projection)
    load_projection(inputs.projection, region, year=years[0] if years else 0,
                    layer=inputs.projection_layer, columns=inputs.projection_columns or None)
    return SavedProjection(Path(inputs.projection), years, inputs.projection_layer,
                           dict(inputs.projection_columns))


_MESH_SPECS = ("mesh250", "mesh500", "mesh1km")


def save_region(region: Region, out: str | Path, *, gtfs: Sequence[Path] = (),
                replace_existing: bool = False,
                projection: SavedProjection | None = None) -> Path:
    """Write ``region`` (with copies of its GTFS feeds, in ``gtfs/``, and of its
    将来推計人口 file with ``projection.json``, in ``projection/``) to a temporary folder
    beside ``out`` and rename it into place: a failure leaves nothing half-written."""
    out = Path(out)
    if out.exists() and not replace_existing:
        raise InputError(msg("the folder exists; choose another or give --force to replace "
                             "it"), file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        region.save(work)
        if gtfs:
            (work / "gtfs").mkdir()
            for feed in gtfs:
                copy = shutil.copytree if Path(feed).is_dir() else shutil.copy2
                copy(feed, work / "gtfs" / Path(feed).name)
        if projection is not None:
            _save_projection(projection, work / PROJECTION_FOLDER)
        if out.exists():
            old = out.with_name(f".{out.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            work.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _save_projection(projection: SavedProjection, folder: Path) -> None:
    """Copy the projection file (a shapefile with its .dbf, .shx, .prj …) into ``folder``
    and describe it in ``projection.json``."""
    folder.mkdir()
    path = projection.file
    siblings = sorted(path.parent.glob(f"{glob.escape(path.stem)}.*")) \
        if path.suffix.lower() == ".shp" else [path]
    for f in siblings:
        shutil.copy2(f, folder / f.name)
    meta = {"file": path.name, "years": projection.years, "layer": projection.layer,
            "columns": projection.columns}
    (folder / "projection.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1),
                                            encoding="utf-8")


# ---------------------------------------------------------------------------- checks

def require_files(inputs: RegionInputs) -> None:
    """Every file named exists (the message names the option that gave it)."""
    given: list[tuple[str, Path | None]] = [
        ("--outline", inputs.outline), ("--network", inputs.network),
        *[("--population", p) for p in inputs.population],
        *[("--facilities", p) for p in inputs.facilities],
        *[("--gtfs", p) for p in inputs.gtfs], ("--projection", inputs.projection),
        *[("--areas", p) for spec in inputs.areas if spec not in _MESH_SPECS
          for p in parse_area_spec(spec)[1:]],
        ("--stores", Path(inputs.stores) if inputs.stores not in (None, "osm") else None)]
    for option, path in given:
        if path is not None and not Path(path).exists():
            raise InputError(msg("file not found"), file=path, column=option)

def read_outline(path: Path, code: str) -> shapely.Geometry:
    """The municipality's outline (lon/lat) from a 国土数値情報 N03 file (or any area file
    whose ids are 市区町村コード)."""
    layer = read_area_layer(path)
    ids = layer.areas["area_id"].astype(str).str.strip().str[:5]
    hit = (ids == code).to_numpy()
    if not hit.any():
        raise InputError(msg("no area with 市区町村コード {code} in the outline file (it "
                             "holds {codes} …)", code=code,
                             codes=", ".join(sorted(set(ids))[:5])),
                         file=path, column="N03_007", value=code)
    return shapely.union_all(layer.areas[hit].to_crs(4326).geometry.to_numpy())


def check_population_code(people: gpd.GeoDataFrame, code: str, paths: list[Path]) -> None:
    """e-Stat small areas must belong to the municipality: their KEY_CODE starts with
    its 市区町村コード."""
    if not is_polygon_population(people) or _estat_boundary(paths) is None:
        return
    keys = people["area_key"].astype(str)
    wrong = ~keys.str.startswith(code)
    if wrong.any():
        table = next((p for p in paths if p.suffix.lower() in (".txt", ".csv")), paths[0])
        raise InputError(msg("{wrong} of {n} small areas belong to another municipality "
                             "than {code}", wrong=int(wrong.sum()), n=len(keys), code=code),
                         file=table, column="KEY_CODE", value=keys[wrong].iloc[0])


def check_facilities(path: Path, code: str) -> None:
    """A 公共施設一覧 must be readable as a resource list and be the municipality's: its
    全国地方公共団体コード column (where given) is the 市区町村コード."""
    from geo_service.registry.imports import read_resource_table

    table = read_resource_table(path).frame
    if "名称" not in table.columns or not {"緯度", "経度"} <= set(table.columns):
        raise InputError(msg("not a 公共施設一覧 (needs 名称, 緯度, 経度; columns are "
                             "{columns} …)", columns=", ".join(table.columns[:8])), file=path)
    column = "全国地方公共団体コード"
    if column in table.columns:
        codes = table[column].astype(str).str.strip().str[:5]
        wrong = (codes != code) & (codes != "")
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            raise InputError(msg("a row of another municipality than {code}", code=code),
                             file=path, row=row + 2, column=column,
                             value=table[column].iloc[row])


def check_feeds(paths: list[Path], net: WalkNetwork) -> None:
    """Every GTFS feed must read and have stops within the region's streets."""
    west, south, east, north = net.bounds_lonlat(pad_m=settings.max_snap_m)
    for path in paths:
        stops = read_bus_stops([path])
        inside = stops["lon"].between(west, east) & stops["lat"].between(south, north)
        if not inside.any():
            raise InputError(msg("no stop of this feed lies in the region"),
                             file=f"{path}/stops.txt", column="stop_lat",
                             value=float(stops["lat"].iloc[0]))


# ---------------------------------------------------------------------------- geometry

def street_grid(extent: shapely.Geometry, spacing_m: float, *,
                speed: float = settings.walking_speed_mps) -> WalkNetwork:
    """A square street grid every ``spacing_m`` metres over ``extent`` (lon/lat), for
    offline tests and demonstrations: generated streets, never real ones."""
    if not spacing_m >= 20:
        raise InputError(msg("a street grid's spacing is at least 20 m"),
                         column="--synthetic-streets", value=spacing_m)
    centre = extent.centroid
    crs = metric_crs_for(centre.x, centre.y)
    shape = gpd.GeoSeries([extent], crs=4326).to_crs(crs).iloc[0]
    west, south, east, north = shape.bounds
    xs = np.arange(west, east + spacing_m, spacing_m)
    ys = np.arange(south, north + spacing_m, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    inside = shapely.contains_xy(shapely.buffer(shape, spacing_m), xy[:, 0], xy[:, 1])
    index = np.full(len(xy), -1)
    index[inside] = np.arange(int(inside.sum()))
    grid = index.reshape(gy.shape)
    u = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    v = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    keep = (u >= 0) & (v >= 0)
    n = int(inside.sum())
    return WalkNetwork.from_edges(np.arange(n), xy[inside], u[keep], v[keep], None, crs=crs,
                                  walking_speed_mps=speed, source="synthetic-grid")


def clip_network(net: WalkNetwork, outline: shapely.Geometry, margin_m: float) -> WalkNetwork:
    """The edges of ``net`` with both ends within ``margin_m`` of ``outline`` (lon/lat)."""
    shape = shapely.buffer(net.to_metric(outline), margin_m)
    shapely.prepare(shape)
    inside = shapely.contains_xy(shape, net.node_xy[:, 0], net.node_xy[:, 1])
    keep = inside[net.edge_u] & inside[net.edge_v]
    if not keep.any():
        raise InputError(msg("no street of the network lies within the municipality's "
                             "outline; is the extract of another place?"),
                         file=net.source or None)
    used = np.zeros(net.n_nodes, dtype=bool)
    used[net.edge_u[keep]] = used[net.edge_v[keep]] = True
    new = np.cumsum(used) - 1
    geometry = None if net.straight_edges else net.edge_geometry[keep]
    return WalkNetwork.from_edges(
        net.node_id[used], net.node_xy[used], new[net.edge_u[keep]], new[net.edge_v[keep]],
        geometry, crs=net.crs, node_z=None if net.node_z is None else net.node_z[used],
        walking_speed_mps=net.walking_speed_mps, source=net.source)


def clip_layer(layer: AreaLayer, outline: shapely.Geometry) -> AreaLayer:
    """The areas of ``layer`` within the outline, cut to it (a prefecture's school
    districts to one municipality's)."""
    areas = layer.areas.to_crs(4326)
    cut = areas.geometry.intersection(outline)
    keep = (~cut.is_empty & (cut.area > 0.01 * areas.geometry.area)).to_numpy()
    if not keep.any():
        raise InputError(msg("no area of layer {layer!r} lies within the municipality",
                             layer=layer.name), file=layer.source)
    clipped = areas[keep].assign(geometry=cut[keep].to_numpy()).to_crs(layer.areas.crs)
    return replace(layer, areas=clipped.reset_index(drop=True))


def _extent_of(people: gpd.GeoDataFrame) -> shapely.Geometry:
    """The municipality's extent from its population polygons (or points' hull)."""
    geoms = people.to_crs(4326).geometry.to_numpy()
    if is_polygon_population(people):
        return shapely.union_all(geoms)
    return shapely.convex_hull(shapely.union_all(geoms)).buffer(0.002)


def _estat_boundary(paths: list[Path]) -> Path | None:
    """The e-Stat small-area shapefile among the population files (or beside the table)."""
    for p in paths:
        if p.suffix.lower() == ".shp" and src.describe(p, "").publisher == src.ESTAT_PUBLISHER:
            return p
    for p in paths:
        if p.name.lower().startswith("tblt"):
            code = "".join(ch for ch in p.stem if ch.isdigit())[-5:]
            return next(iter(sorted(p.parent.glob(f"*ka{code}*.shp"))), None)
    return None


def _unique(sources: list[Source]) -> list[Source]:
    return list(dict.fromkeys(sources))


def import_facilities(region: Region, files: list[Path], store: Any) -> list[Message | str]:
    """Import the 公共施設一覧 files into the region's registry (category 公共施設), unless
    the registry already holds resources; returns what was done, one line each (a
    rejected row's problem as the importer words it)."""
    from geo_service.registry.import_rows import ImportContext
    from geo_service.registry.imports import import_resources, read_resource_table
    from geo_service.service.walking import serve_region

    serve_region(store, region)
    if store.count(include_staff=True):
        return [msg("the registry already holds {n:,} resources: the public facilities were "
                    "not imported (geo-service import resources FILE --category 公共施設 "
                    "--update refreshes them)", n=store.count(include_staff=True))]
    lines: list[Message | str] = []
    for path in files:
        report = import_resources(store, read_resource_table(path), ctx=ImportContext(
            default_category="公共施設", source=path.name, layers=store.layers),
            partial=True, user="region build")
        lines.append(msg("{file}: {written:,} imported into the registry, {rejected:,} "
                         "rows rejected", file=path.name, written=report.written,
                         rejected=len(report.problems)))
        lines += [f"  {p}" for p in report.problems[:5]]
    return lines

