"""Reading input files once, at the edge: encodings, column aliases, CRS and geometry checks.

- Text tables come as UTF-8 (with or without BOM) or CP932 (Shift_JIS); the encoding is
  detected, never assumed. e-Stat tables carry a second header row of Japanese names,
  which is dropped.
- Vector files are read with pyogrio; a layer without CRS is refused; coordinates that
  cannot be valid in the declared CRS, and latitude/longitude swaps, are reported.
- Invalid polygons are repaired with ``shapely.make_valid`` and the repair is reported.
- Id columns must be unique.

Every error is an :class:`~geo_service._errors.InputError` naming file, row, column, value.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service._errors import (
    CRSError,
    DuplicateIdError,
    EncodingError,
    InputError,
    SwappedCoordinatesError,
    sheet_row,
    sheet_rows,
)
from geo_service.i18n import msg
from geo_service.inputs.crs import check_geographic_bounds, require_crs

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xls")
LON_ALIASES = ("lon", "lng", "long", "longitude", "経度", "x")
LAT_ALIASES = ("lat", "latitude", "緯度", "y")


def decode_text(raw: bytes, *, file: str | Path = "<upload>") -> tuple[str, str]:
    """Decode bytes as UTF-8 with BOM, UTF-8 or CP932; return (text, encoding name).

    Raises
    ------
    EncodingError
        For NUL bytes (UTF-16, binary) or bytes that fit neither encoding.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8-sig"
    if b"\x00" in raw[:4096]:
        raise EncodingError(msg("the file holds NUL bytes (UTF-16 or binary?); the file is "
                                "neither UTF-8 nor CP932 text: save it as UTF-8"), file=file)
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932"), "cp932"
    except UnicodeDecodeError as e:
        raise EncodingError(msg(
            "the file is neither UTF-8 nor CP932 (undecodable byte at offset {offset}); "
            "save it as UTF-8 or Shift_JIS", offset=e.start), file=file) from None


def read_table(path: str | Path, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT table in any of the accepted encodings, as strings.

    A second header row of labels (as in e-Stat tables, where the first data row has an
    empty key column) is dropped. Column names are stripped and NFKC-normalised.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(msg("file not found"), file=path)
    if path.suffix.lower() in (".xlsx", ".xls"):
        df = pd.read_excel(path, dtype=str, nrows=nrows)
    else:
        raw = path.read_bytes() if nrows is None else _head_bytes(path, nrows)
        text, _ = decode_text(raw, file=path)
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, keep_default_na=False,
                             na_values=[""], skipinitialspace=True, nrows=nrows)
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot parse as CSV: {exc}", file=path) from exc
    df.columns = [unicodedata.normalize("NFKC", str(c)).strip() for c in df.columns]
    if len(df) and pd.isna(df.iloc[0, 0]) and df.iloc[0].notna().sum() > len(df.columns) // 2:
        df = df.iloc[1:].reset_index(drop=True)  # e-Stat label row
    return df


def _head_bytes(path: Path, nrows: int) -> bytes:
    """The first ``nrows`` + 2 lines of a file (enough to sniff a table)."""
    with path.open("rb") as f:
        return b"".join(line for _, line in zip(range(nrows + 2), f, strict=False))


def find_column(columns: Iterable[str], aliases: Iterable[str]) -> str | None:
    """The first column whose folded name equals one of the aliases (in alias order)."""
    folded = {_fold(c): c for c in columns}
    for alias in aliases:
        if _fold(alias) in folded:
            return folded[_fold(alias)]
    return None


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip().lower().replace(" ", "")


def to_number(df: pd.DataFrame, column: str, *, source: str | Path,
              allow_negative: bool = False) -> np.ndarray:
    """Parse a column as float; raise on text or negatives, naming every bad row."""
    raw = df[column]
    values = None
    if raw.dtype.kind in "iu" or raw.dtype == np.float64:  # numbers of a vector file
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    elif raw.dtype.kind in "OU" or isinstance(raw.dtype, pd.StringDtype):
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if (np.isnan(values) & raw.notna().to_numpy()).any():
            values = None  # text that is no plain number: try without thousands separators
    if values is None:
        values = pd.to_numeric(raw.astype("string").str.replace(",", "", regex=False),
                               errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(msg("not a number"), file=source, row=sheet_rows(rows), column=column,
                         value=raw.iloc[rows[0]])
    if not allow_negative and (values < 0).any():
        rows = np.flatnonzero(values < 0)
        raise InputError(msg("negative value"), file=source, row=sheet_rows(rows), column=column,
                         value=raw.iloc[rows[0]])
    return values


def points_from_table(df: pd.DataFrame, source: str | Path) -> gpd.GeoDataFrame:
    """Turn a table with longitude/latitude columns into EPSG:4326 points.

    Raises
    ------
    SwappedCoordinatesError
        When the latitude column holds longitudes (|lat| > 90 with |lon| ≤ 90, or values
        that fit Japan only when exchanged).
    """
    lon, lat, lon_col, lat_col = lon_lat_from_table(df, source)
    return gpd.GeoDataFrame(df.drop(columns=[lon_col, lat_col]),
                            geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def lon_lat_from_table(df: pd.DataFrame,
                       source: str | Path) -> tuple[np.ndarray, np.ndarray, str, str]:
    """The checked longitudes and latitudes of a table, and the names of their columns
    (what :func:`points_from_table` makes points of)."""
    lon_col = find_column(df.columns, LON_ALIASES)
    lat_col = find_column(df.columns, LAT_ALIASES)
    if lon_col is None or lat_col is None:
        raise InputError(
            "no longitude/latitude columns (expected e.g. lon/lat, longitude/latitude, "
            f"経度/緯度); columns are {list(df.columns)}", file=source)
    lon = to_number(df, lon_col, source=source, allow_negative=True)
    lat = to_number(df, lat_col, source=source, allow_negative=True)
    missing = np.isnan(lon) | np.isnan(lat)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise InputError(msg("missing coordinate"), file=source, row=sheet_rows(rows),
                         column=lat_col if np.isnan(lat[rows[0]]) else lon_col)
    check_lon_lat(lon, lat, source=source, lon_col=lon_col, lat_col=lat_col)
    return lon, lat, lon_col, lat_col


def check_lon_lat(lon: np.ndarray, lat: np.ndarray, *, source: str | Path,
                  lon_col: str = "lon", lat_col: str = "lat") -> None:
    """Raise when coordinates are impossible or look like swapped latitude/longitude."""
    out = (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        if abs(lat[i]) <= 180 and abs(lon[i]) <= 90:
            raise SwappedCoordinatesError(
                f"latitude {lat[i]} is impossible but fits as a longitude (and longitude "
                f"{lon[i]} as a latitude): the {lat_col!r} and {lon_col!r} columns look "
                "swapped", file=source, row=sheet_row(i), column=lat_col, value=lat[i])
        raise CRSError(msg("coordinates outside ±180/±90: not longitude/latitude degrees"),
                       file=source, row=sheet_rows(np.flatnonzero(out)), column=lat_col,
                       value=(lon[i], lat[i]))
    swapped_japan = (lat >= 122) & (lat <= 154) & (lon >= 20) & (lon <= 46)
    if len(lat) and swapped_japan.mean() > 0.5:
        i = int(np.flatnonzero(swapped_japan)[0])
        raise SwappedCoordinatesError(
            f"the {lat_col!r} column holds values like {lat[i]} (a longitude in Japan) and "
            f"{lon_col!r} values like {lon[i]}: latitude and longitude look swapped",
            file=source, row=sheet_row(i), column=lat_col, value=lat[i])


def read_vector(path: str | Path) -> gpd.GeoDataFrame:
    """Read a vector file (GeoJSON, GPKG, shapefile …) with its CRS checked."""
    path = Path(path)
    if not path.exists():
        raise InputError(msg("file not found"), file=path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputError(f"cannot read as a vector file: {exc}", file=path) from exc
    require_crs(gdf, str(path))
    if gdf.crs.is_geographic and not gdf.empty:
        x, y = gdf.geometry.representative_point().x, gdf.geometry.representative_point().y
        if ((y.abs() > 90) & (x.abs() <= 90)).any():
            check_lon_lat(x.to_numpy(), y.to_numpy(), source=path, lon_col="x", lat_col="y")
    check_geographic_bounds(gdf, str(path))
    return gdf


def read_points(path: str | Path) -> gpd.GeoDataFrame:
    """Read points from a vector file or a lon/lat table (EPSG:4326 for tables)."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return points_from_table(read_table(path), path)
    gdf = read_vector(path)
    if gdf.empty:
        return gdf
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"Point"}:
        # Stores mapped as building outlines: use a point inside each.
        gdf = gdf.set_geometry(gdf.geometry.representative_point())
    if gdf.crs.is_geographic:
        check_lon_lat(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), source=path)
    return gdf


def repair_polygons(gdf: gpd.GeoDataFrame, source: str | Path) -> tuple[gpd.GeoDataFrame,
                                                                         list[str]]:
    """Make invalid polygons valid (keeping polygonal parts) and describe each repair."""
    notes: list[str] = []
    geoms = gdf.geometry.to_numpy()
    empty = shapely.is_empty(geoms) | pd.isna(geoms)
    if empty.any():
        raise InputError(msg("empty geometry"), file=source,
                         row=sheet_rows(np.flatnonzero(empty)), column="geometry")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        rows = ", ".join(str(r) for r in sheet_rows(np.flatnonzero(invalid)[:10]))
        notes.append(f"{source}: repaired {int(invalid.sum())} invalid polygons with "
                     f"make_valid (rows {rows}{' …' if invalid.sum() > 10 else ''})")
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    not_poly = ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    if not_poly.any():
        i = int(np.flatnonzero(not_poly.to_numpy())[0])
        raise InputError(msg("area layers must hold polygons"), file=source, row=sheet_row(i),
                         column="geometry", value=gdf.geom_type.iloc[i])
    return gdf, notes


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


def check_unique(values: pd.Series, *, source: str | Path, column: str) -> None:
    """Raise :class:`DuplicateIdError` naming both rows of the first repeated id."""
    if values.is_unique:
        return
    dup = values.duplicated(keep=False) & values.notna()
    if dup.any():
        first = values[dup].iloc[0]
        rows = sheet_rows(np.flatnonzero((values == first).to_numpy())[:2])
        raise DuplicateIdError(f"id appears more than once (rows {rows[0]} and {rows[1]})",
                               file=source, row=rows[1], column=column, value=first)
