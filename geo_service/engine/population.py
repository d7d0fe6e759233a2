"""Demand: where the people are, as points with counts (total, 65+, 75+).

Inputs accepted by :func:`load_population`:

- **points** with counts (CSV with lon/lat, or any point vector file);
- **polygons** with counts (e-Stat 小地域, any GeoJSON), apportioned by
  :func:`apportion_to_network`;
- **JIS X 0410 mesh tables** (mesh code + counts, 1 km … 125 m; census tables
  T001141/T001142/T001225 are understood), turned into cells with ``jismesh``;
- **e-Stat census table T001082** (CP932) + the e-Stat small-area shapefile, joined on
  ``KEY_CODE``.

Apportioning a polygon's counts: demand points are placed every ``spacing`` metres along
the walkable edges inside the polygon, each weighted by the street length it stands for —
or, when building footprints are given, at each building weighted by its footprint area.
A polygon without streets or buildings gets one point at its representative point. The
shares of each polygon sum to one, so every polygon's total is preserved exactly.

Census suppression (秘匿処理): in e-Stat tables ``-`` means "no such person" and is read
as 0; ``X`` marks a suppressed area (``HTKSYORI`` = 2) whose people are counted in the
area named by ``HTKSAKI`` (``HTKSYORI`` = 1). Such an area is merged into its receiving
area's polygon before apportioning, so its people are spread over both, never dropped and
never set to 0. An ``X`` in an area that is not flagged as suppressed is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geo_service import settings
from geo_service._errors import InputError, PopulationError, sheet_rows
from geo_service.engine.network import WalkNetwork
from geo_service.i18n import msg, msg_n
from geo_service.inputs.mesh import CODE_PATTERN, mesh_polygons
from geo_service.inputs.point_files import read_point_rows
from geo_service.inputs.readers import (
    TABLE_SUFFIXES,
    check_unique,
    find_column,
    lon_lat_from_table,
    read_table,
    read_vector,
    repair_polygons,
    to_number,
)
from geo_service.memory import release_free_memory

COUNT_COLUMNS = ("pop_total", "pop_65plus", "pop_75plus")
COUNT_ALIASES: dict[str, tuple[str, ...]] = {
    "pop_total": ("pop_total", "population", "total", "人口", "人口総数", "総数", "総人口",
                  "T001082001", "T001141001", "T001142001", "T001225001", "JINKO"),
    "pop_65plus": ("pop_65plus", "pop65", "pop_65", "65+", "65歳以上", "65歳以上人口",
                   "高齢者人口", "総数65歳以上", "T001082019", "T001141019", "T001142019",
                   "T001225019"),
    "pop_75plus": ("pop_75plus", "pop75", "pop_75", "75+", "75歳以上", "75歳以上人口",
                   "総数75歳以上", "T001082020", "T001141022", "T001142022", "T001225022"),
}
ID_ALIASES = ("point_id", "id", "ID", "area_id", "KEY_CODE", "code", "コード")
MESH_ALIASES = ("mesh_code", "meshcode", "mesh", "KEY_CODE", "メッシュコード", "メッシュ")


def read_counts(df: pd.DataFrame, *, source: str | Path) -> pd.DataFrame:
    """Find and validate the count columns of a table (aliases understood).

    Returns a frame with ``pop_total``, ``pop_65plus`` and ``pop_75plus`` (NaN when the
    file has no 75+ column). ``pop_65plus`` is required; ``pop_total`` defaults to it.
    """
    found = {key: find_column(df.columns, aliases) for key, aliases in COUNT_ALIASES.items()}
    if found["pop_65plus"] is None:
        raise PopulationError(
            "no column of people aged 65+ (expected pop_65plus, 65歳以上人口 or a census code "
            f"such as T001082019); columns are {list(df.columns)}", file=source)
    out = pd.DataFrame(index=df.index)
    for key, column in found.items():
        out[key] = (to_number(df, column, source=source) if column is not None
                    else np.full(len(df), np.nan))
        missing = np.isnan(out[key].to_numpy()) & (column is not None)
        if key == "pop_65plus" and missing.any():
            raise PopulationError(msg("missing count"), file=source,
                                  row=sheet_rows(np.flatnonzero(missing)), column=column)
    if found["pop_total"] is None:
        out["pop_total"] = out["pop_65plus"]
    over = out["pop_65plus"].to_numpy() > out["pop_total"].to_numpy() + 1e-9
    if over.any():
        rows = np.flatnonzero(over)
        raise PopulationError(msg("more people aged 65+ than in total"), file=source,
                              row=sheet_rows(rows), column=found["pop_65plus"],
                              value=out["pop_65plus"].iloc[rows[0]])
    return out


def demand_from_points(gdf: gpd.GeoDataFrame, *, source: str | Path) -> gpd.GeoDataFrame:
    """Demand points from a point layer with counts; ids kept from ``point_id``/``id``."""
    return gpd.GeoDataFrame(_demand_columns(gdf, source=source),
                            geometry=gdf.geometry.to_numpy(), crs=gdf.crs)


def _demand_columns(table: pd.DataFrame, *, source: str | Path) -> dict[str, object]:
    """``point_id`` and the counts of a table of points (ids checked unique)."""
    counts = read_counts(table, source=source)
    id_col = find_column(table.columns, ID_ALIASES)
    ids = (table[id_col].astype(str).reset_index(drop=True) if id_col
           else pd.Series(np.arange(len(table)).astype(str)))
    if id_col:
        check_unique(ids, source=source, column=id_col)
    return {"point_id": ids, **{c: counts[c].to_numpy() for c in COUNT_COLUMNS}}


@dataclass(frozen=True, eq=False)
class DemandRows:
    """Demand points as arrays, before any geometry is made: ``x``/``y`` in ``crs`` and
    the columns of :func:`demand_from_points` (``point_id`` and the counts)."""

    x: np.ndarray
    y: np.ndarray
    crs: CRS
    columns: dict[str, object]

    def frame(self, crs: CRS | str | None = None) -> gpd.GeoDataFrame:
        """The points as a GeoDataFrame in ``crs`` (default their own), each point made
        once, in the target CRS (the numbers of ``GeoDataFrame.to_crs``)."""
        target = self.crs if crs is None else CRS.from_user_input(crs)
        x, y = self.x, self.y
        if not target.is_exact_same(self.crs):
            x, y = Transformer.from_crs(self.crs, target, always_xy=True).transform(x, y)
        return gpd.GeoDataFrame(self.columns, geometry=shapely.points(x, y), crs=target)


def _point_rows(path: Path) -> DemandRows | gpd.GeoDataFrame:
    """Demand points of a vector file as arrays when it holds plain points only, else the
    file as :func:`~geo_service.inputs.readers.read_vector` reads it."""
    rows = read_point_rows(path)
    release_free_memory()  # what parsing the file freed
    if rows is None:
        return read_vector(path)
    return DemandRows(rows.x, rows.y, rows.crs, _demand_columns(rows.attributes, source=path))


def apportion_to_network(
    polygons: gpd.GeoDataFrame,
    net: WalkNetwork,
    *,
    spacing_m: float = settings.demand_spacing_m,
    buildings: gpd.GeoDataFrame | None = None,
    id_column: str = "area_key",
) -> gpd.GeoDataFrame:
    """Spread each polygon's counts over residential demand points inside it.

    Parameters
    ----------
    polygons
        Polygons with ``pop_total``, ``pop_65plus``, ``pop_75plus`` and ``id_column``.
    net
        The walking network; points are placed along its edges inside each polygon.
    spacing_m
        Distance between points along a street.
    buildings
        Optional building footprints; when a polygon holds buildings, its people are
        placed at the buildings, weighted by footprint area.

    Returns
    -------
    Demand points in the network's CRS with ``point_id``, the counts and ``source_area``.
    """
    polys = polygons.to_crs(net.crs).reset_index(drop=True)
    xy, weight = _street_samples(net, spacing_m)
    cand_poly, cand_xy, cand_w = _assign(polys, xy, weight)
    if buildings is not None and len(buildings):
        b = buildings.to_crs(net.crs)
        b = b[b.geom_type.isin(["Polygon", "MultiPolygon"])]
        bxy = shapely.get_coordinates(b.geometry.centroid.to_numpy())
        b_poly, b_xy, b_w = _assign(polys, bxy, b.geometry.area.to_numpy())
        with_buildings = np.isin(cand_poly, b_poly)
        cand_poly = np.concatenate([cand_poly[~with_buildings], b_poly])
        cand_xy = np.vstack([cand_xy[~with_buildings], b_xy])
        cand_w = np.concatenate([cand_w[~with_buildings], b_w])
    empty = np.setdiff1d(np.arange(len(polys)), cand_poly)
    if len(empty):
        rep = shapely.get_coordinates(polys.geometry.iloc[empty].representative_point()
                                      .to_numpy())
        cand_poly = np.concatenate([cand_poly, empty])
        cand_xy = np.vstack([cand_xy, rep])
        cand_w = np.concatenate([cand_w, np.ones(len(empty))])
    order = np.argsort(cand_poly, kind="stable")
    cand_poly, cand_xy, cand_w = cand_poly[order], cand_xy[order], cand_w[order]
    share = cand_w / np.bincount(cand_poly, cand_w, minlength=len(polys))[cand_poly]
    rank = np.arange(len(cand_poly)) - np.searchsorted(cand_poly, cand_poly)
    keys = polys[id_column].astype(str).to_numpy()[cand_poly]
    data = {"point_id": [f"{k}-{r}" for k, r in zip(keys, rank, strict=True)]}
    for column in COUNT_COLUMNS:
        data[column] = polys[column].to_numpy(dtype=float)[cand_poly] * share
    data["source_area"] = keys
    return gpd.GeoDataFrame(data, geometry=shapely.points(cand_xy), crs=net.crs)


def _street_samples(net: WalkNetwork, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing_m`` along every edge (segment midpoints) and their lengths."""
    length = net.edge_length
    count = np.maximum(1, np.ceil(length / spacing_m)).astype(np.int64)
    edge = np.repeat(np.arange(net.n_edges), count)
    step = length[edge] / count[edge]
    rank = np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count)
    pts = shapely.line_interpolate_point(net.edge_geometry[edge], (rank + 0.5) * step)
    return shapely.get_coordinates(pts), step


def _assign(polys: gpd.GeoDataFrame, xy: np.ndarray,
            weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which polygon each candidate point falls in (first one when polygons overlap)."""
    pts = shapely.points(xy)
    which, poly = polys.sindex.query(pts, predicate="within")
    first = np.unique(which, return_index=True)[1]
    which, poly = which[first], poly[first]
    return poly, xy[which], weight[which]


# ----------------------------------------------------------------------------------
# e-Stat small areas and meshes


def read_estat_small_areas(table: str | Path, boundaries: str | Path) -> gpd.GeoDataFrame:
    """Join an e-Stat T001082 table to the small-area shapefile on ``KEY_CODE``.

    Returns polygons (one per receiving area, suppressed areas merged in) with
    ``area_key``, ``name`` and the counts. Multi-part areas (several shapefile rows with
    one ``KEY_CODE``) are dissolved.
    """
    df = read_table(table)
    if "KEY_CODE" not in df.columns:
        raise InputError(msg("no KEY_CODE column: not an e-Stat small-area table"), file=table)
    shp = read_vector(boundaries)
    if "KEY_CODE" not in shp.columns:
        raise InputError(msg("no KEY_CODE column: not an e-Stat boundary file"), file=boundaries)
    shp, _ = repair_polygons(shp, boundaries)
    name_col = "S_NAME" if "S_NAME" in shp.columns else "KEY_CODE"
    shp = shp.dissolve(by="KEY_CODE", aggfunc={name_col: "first"}).reset_index()
    shp["KEY_CODE"] = shp["KEY_CODE"].astype(str)
    df = df.assign(_row=np.arange(len(df)) + 3)  # file line: two header rows
    table_rows = df[df["KEY_CODE"].isin(shp["KEY_CODE"])].reset_index(drop=True)
    missing = sorted(set(shp["KEY_CODE"]) - set(table_rows["KEY_CODE"]))
    if missing:
        raise PopulationError(msg_n("{n} small area of the boundary file has no row in "
                                    "the table (e.g. {code})",
                                    "{n} small areas of the boundary file have no row in "
                                    "the table (e.g. {code})", len(missing),
                                    code=missing[0]), file=table,
                              column="KEY_CODE", value=missing[0])
    counts = _estat_counts(table_rows, source=table)
    shp = shp.rename(columns={name_col: "name"})[["KEY_CODE", "name", "geometry"]]
    return _merge_suppressed(table_rows, counts, shp, source=table)


def _estat_counts(rows: pd.DataFrame, *, source: str | Path) -> pd.DataFrame:
    """Counts of e-Stat rows: '-' is 0; 'X' only in rows flagged HTKSYORI = 2."""
    flag = rows.get("HTKSYORI", pd.Series("0", index=rows.index)).fillna("0").astype(str)
    suppressed = flag.str.strip() == "2"
    clean = rows.copy()
    value_cols = [c for c in rows.columns if c.startswith("T0")]
    for col in value_cols:
        cells = clean[col].astype("string").str.strip()
        x_cells = cells.str.upper().eq("X").fillna(False).to_numpy()
        stray = x_cells & ~suppressed.to_numpy()
        if stray.any():
            i = int(np.flatnonzero(stray)[0])
            raise PopulationError(msg("suppressed cell 'X' in an area not flagged HTKSYORI=2"),
                                  file=source, row=int(rows["_row"].iloc[i]), column=col,
                                  value="X")
        clean[col] = cells.mask(cells == "-", "0").mask(x_cells, pd.NA)
    counts = pd.DataFrame(0.0, index=rows.index, columns=list(COUNT_COLUMNS))
    ok = ~suppressed
    if ok.any():
        good = read_counts(clean[ok].reset_index(drop=True), source=source)
        counts.loc[ok, list(COUNT_COLUMNS)] = good[list(COUNT_COLUMNS)].to_numpy()
    return counts


def _merge_suppressed(rows: pd.DataFrame, counts: pd.DataFrame, shp: gpd.GeoDataFrame, *,
                      source: str | Path) -> gpd.GeoDataFrame:
    """Merge each suppressed area's polygon into the area that carries its people."""
    keys = rows["KEY_CODE"].astype(str)
    flag = rows.get("HTKSYORI", pd.Series("0", index=rows.index)).fillna("0").astype(str)
    target = keys.copy()
    for i in np.flatnonzero((flag.str.strip() == "2").to_numpy()):
        to = str(rows["HTKSAKI"].iloc[i] or "").strip()
        full = keys.iloc[i][: len(keys.iloc[i]) - len(to)] + to if to else ""
        if full not in set(keys):
            raise PopulationError(msg("suppressed area points to an unknown receiving area"),
                                  file=source, row=int(rows["_row"].iloc[i]),
                                  column="HTKSAKI", value=to)
        target.iloc[i] = full
    areas = shp.set_index("KEY_CODE")
    parts = gpd.GeoDataFrame({"area_key": target.to_numpy()},
                             geometry=areas.geometry.loc[keys].to_numpy(), crs=shp.crs)
    merged = parts.dissolve(by="area_key").reset_index()
    table = pd.concat([keys.rename("area_key"), counts], axis=1).groupby("area_key").sum()
    merged = merged.join(table, on="area_key")
    merged["name"] = areas["name"].reindex(merged["area_key"]).to_numpy()
    return merged


def read_mesh_table(path: str | Path) -> gpd.GeoDataFrame:
    """Read a mesh population table into cell polygons with counts (suppression merged)."""
    df = read_table(path)
    code_col = find_column(df.columns, MESH_ALIASES)
    if code_col is None:
        raise InputError(msg("no mesh code column (mesh_code, KEY_CODE, メッシュコード)"),
                         file=path)
    df = df.assign(_row=np.arange(len(df)) + 2, KEY_CODE=df[code_col].astype(str).str.strip())
    counts = _estat_counts(df, source=path)
    cells = gpd.GeoDataFrame({"KEY_CODE": df["KEY_CODE"], "name": df["KEY_CODE"]},
                             geometry=mesh_polygons(df["KEY_CODE"], source=path,
                                                    column=code_col).to_numpy(),
                             crs="EPSG:4326")
    check_unique(cells["KEY_CODE"], source=path, column=code_col)
    return _merge_suppressed(df, counts, cells[["KEY_CODE", "name", "geometry"]], source=path)


def is_mesh_table(path: str | Path) -> bool:
    """Whether a table's key column holds JIS mesh codes (8–11 digits, no polygons)."""
    df = read_table(path, nrows=50)
    col = find_column(df.columns, MESH_ALIASES)
    if col is None:
        return False
    codes = df[col].dropna().astype(str).str.strip()
    return bool(len(codes)) and bool(codes.str.fullmatch(CODE_PATTERN).all()) \
        and find_column(df.columns, ("lon", "lat", "経度", "緯度")) is None


# ----------------------------------------------------------------------------------
# dispatch


def load_population(
    paths: list[str | Path],
    net: WalkNetwork,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    spacing_m: float = settings.demand_spacing_m,
) -> gpd.GeoDataFrame:
    """Read population from one file (points, polygons, mesh table) or an e-Stat pair.

    Parameters
    ----------
    paths
        One file, or an e-Stat table plus its small-area shapefile (either order). A lone
        e-Stat table ``tblT001082C{code}.txt`` finds ``r2ka{code}.shp`` beside it.
    net
        The walking network (for apportioning polygons and the metric CRS).

    Returns
    -------
    Demand points in the network's CRS: ``point_id``, ``pop_total``, ``pop_65plus``,
    ``pop_75plus`` and, for apportioned inputs, ``source_area``.
    """
    people = _read_people(paths)
    if isinstance(people, DemandRows):
        return people.frame(net.crs)
    if is_polygon_population(people):
        return apportion_to_network(people, net, spacing_m=spacing_m, buildings=buildings)
    return people.to_crs(net.crs)


def is_polygon_population(people: gpd.GeoDataFrame) -> bool:
    """Whether :func:`read_population` returned polygons (to apportion), not points."""
    return "area_key" in people.columns


def read_population(paths: list[str | Path]) -> gpd.GeoDataFrame:
    """People as the files give them, before any network is known.

    Returns either demand points (``point_id`` and the counts) or polygons with counts
    (``area_key`` and the counts: e-Stat small areas, mesh cells, any polygon layer) that
    :func:`apportion_to_network` spreads over the streets; in the file's CRS.
    """
    people = _read_people(paths)
    return people.frame() if isinstance(people, DemandRows) else people


def _read_people(paths: list[str | Path]) -> DemandRows | gpd.GeoDataFrame:
    """:func:`read_population`, with point files left as arrays (no geometries yet)."""
    files = [Path(p) for p in paths]
    tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
    vectors = [p for p in files if p not in tables]
    if len(files) == 2 and len(tables) == 1 and len(vectors) == 1:
        return read_estat_small_areas(tables[0], vectors[0])
    if len(files) != 1:
        raise InputError(msg("give one population file, or an e-Stat table and its shapefile"),
                         value=[str(p) for p in files])
    path = files[0]
    if path.suffix.lower() in TABLE_SUFFIXES:
        df = read_table(path)
        if "KEY_CODE" in df.columns and any(c.startswith("T001082") for c in df.columns):
            return read_estat_small_areas(path, _estat_boundary_beside(path))
        if is_mesh_table(path):
            return read_mesh_table(path)
        lon, lat, lon_col, lat_col = lon_lat_from_table(df, path)
        df = df.drop(columns=[lon_col, lat_col])
        return DemandRows(lon, lat, CRS.from_epsg(4326), _demand_columns(df, source=path))
    gdf = _point_rows(path)
    if isinstance(gdf, DemandRows):
        return gdf
    if set(gdf.geom_type.dropna()) <= {"Point"}:
        return demand_from_points(gdf, source=path)
    gdf, _ = repair_polygons(gdf, path)
    counts = read_counts(gdf, source=path)
    id_col = find_column(gdf.columns, ID_ALIASES)
    keys = gdf[id_col].astype(str) if id_col else pd.Series(np.arange(len(gdf)).astype(str))
    check_unique(keys.reset_index(drop=True), source=path, column=id_col or "row")
    return gpd.GeoDataFrame({"area_key": keys.to_numpy(), **{c: counts[c].to_numpy()
                                                              for c in COUNT_COLUMNS}},
                            geometry=gdf.geometry.to_numpy(), crs=gdf.crs)


def _estat_boundary_beside(table: Path) -> Path:
    code = "".join(ch for ch in table.stem if ch.isdigit())[-5:]
    for candidate in sorted(table.parent.glob(f"*{code}*.shp")):
        return candidate
    raise InputError(msg("an e-Stat table needs its small-area shapefile: pass both files "
                         "(--population {table} --population r2ka{code}.shp)",
                         table=table.name, code=code), file=table)
