"""Future population: projected 65+ / 75+ applied to a region's demand points.

Two kinds of file are read (:func:`load_projection` tells them apart by their columns):

- **国土数値情報 将来推計人口 mesh files** (500 m or 1 km; shapefile, GeoJSON, GPKG or a
  CSV of the attribute table): a mesh code (``MESH_ID``) and, per year, ``PTN_yyyy``
  (total), ``PTC_yyyy`` (65+) and ``PTD_yyyy`` (75+), as in the H30 (2015-based) edition
  and later. Each demand point takes its mesh's rate of change from the file's base year
  (its earliest year, the census the projection starts from) to the target year:
  ``pop_65plus × PTC_target / PTC_base`` (the same for 75+ and the total). Older editions
  name their columns otherwise (e.g. ``POP2010`` …); a file whose columns cannot be
  identified is refused — it is never guessed — and the columns can be named instead
  (``columns={"65plus": "…", "base_65plus": "…", …}``).
- **a table per area** (CSV/Excel): ``area_id`` (and optionally ``layer`` and ``year``)
  with either factors (``factor_65plus``, ``factor_75plus``, ``factor_total``, or one
  ``factor`` for all) or projected counts (``pop_65plus``, ``pop_75plus``, ``pop_total``),
  which become factors against the region's current counts in that area.

Counts are scaled, never moved: a mesh or area that holds no demand point today gets no
one in the future (its projected people are reported in the notes). Points in meshes the
file lacks, or outside every area of the table's layer, keep today's counts (also noted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service._errors import InputError, sheet_rows
from geo_service.engine.region import Region
from geo_service.i18n import Message, Term, msg, msg_n
from geo_service.inputs.boundaries import AreaLayer, layer_id
from geo_service.inputs.mesh import mesh_codes_for
from geo_service.inputs.readers import (
    TABLE_SUFFIXES,
    check_unique,
    find_column,
    read_table,
    read_vector,
)
from geo_service.inputs.readers import to_number as _to_number

#: ``PTN_2035`` total, ``PTC_2035`` 65+, ``PTD_2035`` 75+ (国土数値情報 H30 edition and later)
YEAR_COLUMN = re.compile(r"^PT([NCD])_?(\d{4})$", re.IGNORECASE)
ROLE_OF_LETTER = {"N": "total", "C": "65plus", "D": "75plus"}
#: the roles a file's columns may be given explicitly for
ROLES = ("65plus", "75plus", "total", "base_65plus", "base_75plus", "base_total")
MESH_ID_ALIASES = ("MESH_ID", "mesh_code", "meshcode", "MESHCODE", "mesh", "KEY_CODE",
                   "メッシュコード", "メッシュ")
AREA_ID_ALIASES = ("area_id", "id", "KEY_CODE", "code", "区域ID", "コード")
FACTOR_ALIASES = {
    "65plus": ("factor_65plus", "factor65", "factor_65", "倍率_65歳以上", "65歳以上倍率"),
    "75plus": ("factor_75plus", "factor75", "factor_75", "倍率_75歳以上", "75歳以上倍率"),
    "total": ("factor_total", "倍率_総数", "総数倍率"),
}
COUNT_ALIASES = {
    "65plus": ("pop_65plus", "pop65", "65歳以上", "65歳以上人口", "projected_65plus"),
    "75plus": ("pop_75plus", "pop75", "75歳以上", "75歳以上人口", "projected_75plus"),
    "total": ("pop_total", "人口総数", "総人口", "projected_total"),
}


#: the folder of a saved region holding its 将来推計人口 file and ``projection.json``
REGION_FOLDER = "projection"


@dataclass(frozen=True)
class SavedProjection:
    """The 将来推計人口 file saved with a region (``region build --projection``): karte and
    scenario use it when given ``--year`` without ``--projection``."""

    file: Path
    years: list[int]
    layer: str | None = None
    columns: dict[str, str] = field(default_factory=dict)


def region_projection(region: Region) -> SavedProjection | None:
    """The projection saved in ``region``'s folder, or None (none saved, or a region
    built in memory)."""
    import json

    if region.folder is None:
        return None
    meta_path = region.folder / REGION_FOLDER / "projection.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return SavedProjection(meta_path.parent / meta["file"], [int(y) for y in meta["years"]],
                           meta.get("layer"), dict(meta.get("columns") or {}))


def pick_projection(region: Region, file: Path | None, year: int | None, *,
                    layer: str | None = None, columns: dict[str, str] | None = None
                    ) -> tuple[Path, int, str | None, dict[str, str]] | None:
    """The projection a command uses for ``--projection FILE --year YYYY``: the file given
    (it always wins), else the region's own (:func:`region_projection`) when only a year is
    given; None when neither is. Returns (file, year, layer, columns)."""
    if file is None and year is None:
        return None
    if year is None:
        raise InputError(msg("--projection FILE needs --year YYYY"), column="--year")
    if file is not None:
        return file, year, layer, dict(columns or {})
    saved = region_projection(region)
    if saved is None:
        raise InputError(msg("--year needs a projection: --projection FILE, or a region built "
                             "with one (region build --projection)"), column="--projection")
    if saved.years and year not in saved.years:
        raise InputError(msg("the region's projection {file} has the years {years}",
                             file=saved.file.name, years=Term("、".join(map(str, saved.years)),
                                                              ", ".join(map(str, saved.years)))),
                         column="--year", value=year)
    return saved.file, year, layer or saved.layer, dict(columns or saved.columns)


def projection_years(path: str | Path) -> list[int]:
    """The years a projection file gives figures for: a mesh file's PTC_yyyy after its
    base year, a per-area table's ``year`` values ([] when it has no year column: its
    figures stand for any year asked)."""
    table = _read_any(Path(path))
    by_role = _year_columns(table)
    if "65plus" in by_role:
        return sorted(by_role["65plus"])[1:]
    year_col = find_column(table.columns, ("year", "年", "年次"))
    if year_col is None:
        return []
    return sorted({int(y) for y in pd.to_numeric(table[year_col], errors="coerce").dropna()})


class ProjectionError(InputError):
    """A projection file cannot be read as a projection (columns, years, ids, values)."""


@dataclass
class Projection:
    """Per demand point: factors that turn today's counts into the year's.

    ``factor_75plus`` / ``factor_total`` are None when the file has no such figures:
    75+ then becomes unknown (NaN) and the total stays as it is (raised to 65+ where
    the projected 65+ would exceed it).
    """

    year: int
    source: str
    factor_65plus: np.ndarray
    factor_75plus: np.ndarray | None = None
    factor_total: np.ndarray | None = None
    notes: list[Message] = field(default_factory=list)


def project_demand(demand: gpd.GeoDataFrame, projection: Projection) -> gpd.GeoDataFrame:
    """A copy of ``demand`` with the year's counts (the input is not modified)."""
    if len(projection.factor_65plus) != len(demand):
        raise ValueError("a projection is made for the demand points of one region")
    out = demand.copy()
    out["pop_65plus"] = demand["pop_65plus"].to_numpy(dtype=float) * projection.factor_65plus
    out["pop_75plus"] = (demand["pop_75plus"].to_numpy(dtype=float) * projection.factor_75plus
                         if projection.factor_75plus is not None else np.nan)
    total = demand["pop_total"].to_numpy(dtype=float)
    if projection.factor_total is not None:
        total = total * projection.factor_total
    out["pop_total"] = np.maximum(total, out["pop_65plus"].to_numpy())
    return out


def _read_any(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ProjectionError(msg("file not found"), file=path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table(path)
    gdf = read_vector(path)
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name))


def load_projection(path: str | Path, region: Region, *, year: int, layer: str | None = None,
                    columns: dict[str, str] | None = None) -> Projection:
    """Read a projection file for ``year`` and match it to the region's demand points.

    Parameters
    ----------
    path
        A 国土数値情報 将来推計人口 mesh file, or a table per area.
    region
        The region whose demand points are projected.
    year
        The target year (e.g. 2035).
    layer
        For a table per area: the area layer its ids belong to (name or id); by default
        the one layer holding all of them.
    columns
        Column names per role (:data:`ROLES`) for files whose names are not understood.
    """
    path = Path(path)
    table = _read_any(path)
    if table.empty:
        raise ProjectionError(msg("the file holds no rows"), file=path)
    columns = dict(columns or {})
    unknown = set(columns) - set(ROLES)
    if unknown:
        raise ProjectionError(msg("unknown column roles; roles are {roles}",
                                  roles=", ".join(ROLES)), file=path, value=sorted(unknown)[0])
    for role, name in columns.items():
        if name not in table.columns:
            raise ProjectionError(msg("no column {name!r} (given for {role}); columns are "
                                      "{columns}", name=name, role=role,
                                      columns=list(table.columns)), file=path, column=name)
    mesh_col = find_column(table.columns, MESH_ID_ALIASES)
    if mesh_col is not None and find_column(table.columns, AREA_ID_ALIASES[:1]) is None:
        return _mesh_projection(table, path, region, year=year, mesh_col=mesh_col,
                                columns=columns)
    return _area_projection(table, path, region, year=year, layer=layer, columns=columns)


def _year_columns(table: pd.DataFrame) -> dict[str, dict[int, str]]:
    found: dict[str, dict[int, str]] = {}
    for col in table.columns:
        m = YEAR_COLUMN.match(str(col).strip())
        if m:
            found.setdefault(ROLE_OF_LETTER[m.group(1).upper()], {})[int(m.group(2))] = col
    return found


def _mesh_projection(table: pd.DataFrame, path: Path, region: Region, *, year: int,
                     mesh_col: str, columns: dict[str, str]) -> Projection:
    by_role = _year_columns(table)
    picked: dict[str, str] = {}
    notes: list[Message] = []
    if columns:
        if not {"65plus", "base_65plus"} <= set(columns):
            raise ProjectionError(msg("naming the columns of a projection file needs at "
                                      "least 65plus and base_65plus"), file=path)
        picked = columns
    else:
        if "65plus" not in by_role:
            raise ProjectionError(msg(
                "cannot identify the columns of people aged 65+ by year (expected PTC_yyyy "
                "for 65+, PTD_yyyy for 75+ and PTN_yyyy for the total, as in 国土数値情報 "
                "将来推計人口 H30 and later); refusing to guess. Columns are {columns}; name "
                "them with columns 65plus=…, base_65plus=… (and 75plus, base_75plus, total, "
                "base_total)", columns=list(table.columns)[:30]), file=path)
        years = sorted(by_role["65plus"])
        if year not in by_role["65plus"]:
            raise ProjectionError(msg("no 65+ column for {year}; the file has the years "
                                      "{years}", year=year, years=", ".join(map(str, years))),
                                  file=path, column=f"PTC_{year}", value=year)
        base = years[0]
        if base >= year:
            raise ProjectionError(msg("{year} is the file's first year ({base}); a "
                                      "projection needs a later year than its base",
                                      year=year, base=base), file=path, value=year)
        for role in ("65plus", "75plus", "total"):
            cols = by_role.get(role, {})
            if year in cols and base in cols:
                picked[role], picked[f"base_{role}"] = cols[year], cols[base]
        notes.append(msg("projection {file}: {year} from its base year {base} "
                         "({column} / {base_column})", file=path.name, year=year, base=base,
                         column=picked["65plus"], base_column=picked["base_65plus"]))
    codes = table[mesh_col].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    lengths = set(codes.str.len())
    levels = {8: 3, 9: 4, 10: 5, 11: 6}
    bad = ~codes.str.fullmatch(r"\d{8,11}")
    if bad.any() or len(lengths) != 1:
        rows = np.flatnonzero(bad.to_numpy()) if bad.any() else np.flatnonzero(
            (codes.str.len() != codes.str.len().iloc[0]).to_numpy())
        raise ProjectionError(msg("not a JIS X 0410 mesh code (8–11 digits, one level per "
                                  "file)"),
                              file=path, row=sheet_rows(rows), column=mesh_col,
                              value=codes.iloc[rows[0]])
    check_unique(codes.reset_index(drop=True), source=path, column=mesh_col)
    values = {role: _to_number(table, col, source=path) for role, col in picked.items()}
    hitoku = find_column(table.columns, (f"HITOKU{year}", f"HITOKU_{year}"))
    if hitoku is not None:
        flagged = table[hitoku].fillna("").astype(str).str.strip().isin(["", "0"])
        if (~flagged).any():
            notes.append(msg_n("projection {file}: {n} mesh is marked in {column} (秘匿); "
                               "its figures are used as given",
                               "projection {file}: {n} meshes are marked in {column} (秘匿); "
                               "their figures are used as given", int((~flagged).sum()),
                               file=path.name, column=hitoku))
    point_codes = mesh_codes_for(region.demand.geometry, levels[lengths.pop()]).to_numpy()
    index = pd.Index(codes.to_numpy())
    row = index.get_indexer(point_codes)
    factors = {role: _factors(values.get(role), values.get(f"base_{role}"), row)
               for role in ("65plus", "75plus", "total")}
    missing = row < 0
    if missing.any():
        p65 = region.demand["pop_65plus"].to_numpy(dtype=float)
        notes.append(msg_n("projection {file}: {n} mesh with {people:,.0f} people 65+ is "
                           "not in the file; they keep today's counts",
                           "projection {file}: {n} meshes with {people:,.0f} people 65+ are "
                           "not in the file; they keep today's counts",
                           len(set(point_codes[missing])), file=path.name,
                           people=float(p65[missing].sum())))
    notes += _unplaced(values.get("65plus"), values.get("base_65plus"), row, path.name)
    f65 = factors["65plus"]
    assert f65 is not None  # 65plus is always picked
    return Projection(year, str(path), f65, factors["75plus"], factors["total"], notes)


def _factors(projected: np.ndarray | None, base: np.ndarray | None,
             row: np.ndarray) -> np.ndarray | None:
    """Per point: projected / base of its row (1 where the row is missing or base is 0)."""
    if projected is None or base is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(base > 0, projected / base, 1.0)
    return np.where(row >= 0, ratio[np.maximum(row, 0)], 1.0)


def _unplaced(projected: np.ndarray | None, base: np.ndarray | None, row: np.ndarray,
              name: str) -> list[Message]:
    if projected is None or base is None:
        return []
    used = np.zeros(len(projected), dtype=bool)
    used[row[row >= 0]] = True
    lost = (base <= 0) & (projected > 0) & used
    if not lost.any():
        return []
    return [msg_n("projection {file}: {people:,.0f} people 65+ projected in {n} mesh with "
                  "no one aged 65+ in the base year are not placed",
                  "projection {file}: {people:,.0f} people 65+ projected in {n} meshes with "
                  "no one aged 65+ in the base year are not placed", int(lost.sum()),
                  file=name, people=float(projected[lost].sum()))]


def _area_projection(table: pd.DataFrame, path: Path, region: Region, *, year: int,
                     layer: str | None, columns: dict[str, str]) -> Projection:
    id_col = find_column(table.columns, AREA_ID_ALIASES)
    if id_col is None:
        raise ProjectionError(msg(
            "neither a mesh code column (MESH_ID …) nor an area id column (area_id …); "
            "columns are {columns}", columns=list(table.columns)[:30]), file=path)
    notes: list[Message] = []
    year_col = find_column(table.columns, ("year", "年", "年次"))
    if year_col is not None:
        years = pd.to_numeric(table[year_col], errors="coerce")
        if not (years == year).any():
            known = ", ".join(str(int(y)) for y in sorted(set(years.dropna())))
            raise ProjectionError(msg("no rows for {year}; the table has {known}", year=year,
                                      known=known), file=path, column=year_col, value=year)
        keep = (years == year).to_numpy()
        rows_in_file = np.flatnonzero(keep)
        table = table[keep].reset_index(drop=True)
    else:
        rows_in_file = np.arange(len(table))
        notes.append(msg("projection {file}: no year column; its figures are taken as "
                         "those of {year}", file=path.name, year=year))
    ids = table[id_col].astype(str).str.strip()
    if len(set(ids)) != len(ids):
        check_unique(ids, source=path, column=id_col)
    target = _pick_layer(region.areas, ids, path, layer, id_col, rows_in_file)
    factor_cols = {role: columns.get(role) or find_column(table.columns, aliases)
                   for role, aliases in FACTOR_ALIASES.items()}
    one = find_column(table.columns, ("factor", "倍率"))
    count_cols = {role: columns.get(role) or find_column(table.columns, aliases)
                  for role, aliases in COUNT_ALIASES.items()}
    which = target.assign(region.demand.geometry.to_crs(target.areas.crs))
    index = pd.Index(target.areas["area_id"].astype(str).to_numpy())
    area_of_row = index.get_indexer(ids.to_numpy())
    n_areas = len(index)
    factors: dict[str, np.ndarray | None] = {}
    if factor_cols["65plus"] or one:
        for role in ("65plus", "75plus", "total"):
            col = factor_cols[role] or (one if role != "total" or factor_cols["65plus"] is None
                                        else None)
            if col is None:
                factors[role] = None
                continue
            per_area = np.ones(n_areas)
            per_area[area_of_row] = _to_number(table, col, source=path)
            factors[role] = per_area
        kind = msg("factors")
    elif count_cols["65plus"]:
        demand = region.demand
        inside = which >= 0
        for role, column in (("65plus", "pop_65plus"), ("75plus", "pop_75plus"),
                             ("total", "pop_total")):
            col = count_cols[role]
            if col is None:
                factors[role] = None
                continue
            today = np.bincount(which[inside], demand[column].to_numpy(dtype=float)[inside],
                                minlength=n_areas)
            projected = np.full(n_areas, np.nan)
            projected[area_of_row] = _to_number(table, col, source=path)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(today > 0, projected / today, 1.0)
            lost = (today <= 0) & (projected > 0)
            if lost.any() and role == "65plus":
                notes.append(msg_n("projection {file}: {people:,.0f} people 65+ projected in "
                                   "{n} area with no demand point today are not placed",
                                   "projection {file}: {people:,.0f} people 65+ projected in "
                                   "{n} areas with no demand point today are not placed",
                                   int(lost.sum()), file=path.name,
                                   people=float(projected[lost].sum())))
            factors[role] = np.where(np.isnan(ratio), 1.0, ratio)
        kind = msg("counts")
    else:
        raise ProjectionError(msg(
            "cannot identify the projection columns: expected factor_65plus (or factor) or "
            "projected counts pop_65plus / 65歳以上人口; columns are {columns}",
            columns=list(table.columns)[:30]), file=path)
    covered = np.zeros(n_areas, dtype=bool)
    covered[area_of_row] = True
    p65 = region.demand["pop_65plus"].to_numpy(dtype=float)
    uncovered = ~covered[np.maximum(which, 0)] | (which < 0)
    if (uncovered & (p65 > 0)).any():
        notes.append(msg("projection {file}: {people:,.0f} people 65+ live in areas of "
                         "{layer} the table does not list, or outside them; they keep "
                         "today's counts", file=path.name, layer=target.name,
                         people=float(p65[uncovered].sum())))
    notes.append(msg("projection {file}: {kind} per area of {layer} for {year}",
                     file=path.name, kind=kind, layer=target.name, year=year))

    def per_point(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        return np.where(which >= 0, values[np.maximum(which, 0)], 1.0)

    f65 = per_point(factors["65plus"])
    assert f65 is not None
    return Projection(year, str(path), f65, per_point(factors["75plus"]),
                      per_point(factors["total"]), notes)


def _pick_layer(layers: list[AreaLayer], ids: pd.Series, path: Path, layer: str | None,
                id_col: str, rows_in_file: np.ndarray) -> AreaLayer:
    if layer is not None:
        named = [a for a in layers if layer in (a.name, layer_id(a.name))]
        if not named:
            raise ProjectionError(msg("no area layer {layer!r}; the region has {layers}",
                                      layer=layer, layers=", ".join(a.name for a in layers)),
                                  file=path, value=layer)
        candidates = named
    else:
        candidates = [a for a in layers if set(ids) <= set(a.areas["area_id"].astype(str))]
        if len(candidates) > 1:
            raise ProjectionError(msg("the ids fit several area layers ({layers}); name one",
                                      layers=", ".join(a.name for a in candidates)),
                                  file=path, column=id_col)
        if not candidates:  # name the ids that fit no layer, against the best layer
            candidates = sorted(layers, key=lambda a: -len(set(ids) & set(
                a.areas["area_id"].astype(str))))[:1]
            if not candidates:
                raise ProjectionError(msg("the region has no area layers"), file=path)
    target = candidates[0]
    known = set(target.areas["area_id"].astype(str))
    bad = ~ids.isin(known).to_numpy()
    if bad.any():
        rows = [int(rows_in_file[i]) for i in np.flatnonzero(bad)]
        raise ProjectionError(msg("no area with this id in {layer}", layer=target.name),
                              file=path,
                              row=sheet_rows(rows), column=id_col,
                              value=ids[bad].iloc[0])
    return target
