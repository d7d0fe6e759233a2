"""Writing results: GeoJSON (EPSG:4326, RFC 7946), CSV (UTF-8 with BOM), HTML — atomically.

:func:`write_outputs` renders every file into a temporary folder beside the target and
moves them into place only when all have been written, so a failed run never leaves a
half-written output (files of an earlier run stay as they were).

Text written to a spreadsheet file (CSV or Excel) goes through :func:`spreadsheet_cell`:
a spreadsheet shows it as written and never runs it as a formula.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo_service import settings
from geo_service._chars import FORMULA_START, NOT_IN_SPREADSHEET, NOT_IN_XML

POINT_COLUMNS = ("point_id", "lon", "lat", "pop_total", "pop_65plus", "pop_75plus", "network_m",
                 "walk_min", "straight_m", "nearest_store_id", "reachable", "beyond")

Writer = Callable[[Path], None]

# text a spreadsheet reads as a formula (OWASP "CSV injection"), behind any quotes already
# added: those are doubled so that unquote_cell restores exactly what was written
_FORMULA = re.compile(FORMULA_START)
_NOT_IN_XLSX = re.compile(NOT_IN_SPREADSHEET)  # XML 1.0 or UTF-8 cannot hold them
# _FORMULA at the start of any line of cells joined by newlines (none holds one)
_CELL_FORMULA = re.compile("^" + FORMULA_START, re.MULTILINE)


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a spreadsheet cell that shows what was written and never runs.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (after any
    ``'``) gets a leading ``'``, as OWASP recommends against formula injection — also
    ``-`` alone or ``-5`` written as text: only numbers stay numbers. So does text that a
    spreadsheet program may read so: full-width ＝ ＋ － ＠ and the like, and a starter behind
    DEL, a zero-width character or a BOM (:data:`geo_service._chars.FORMULA_START`).
    Characters that an Excel file cannot hold (control characters, noncharacters such as
    U+FFFE, surrogates) are left out (invisible anyway; a replacement character would not
    encode in CP932). Anything but text is returned as it is; :func:`unquote_cell` undoes
    the quote.
    """
    if not isinstance(value, str):
        return value
    text = _NOT_IN_XLSX.sub("", value)
    return "'" + text if _FORMULA.match(text) else text


def unquote_cell(text: str) -> str:
    """A cell's text as it was before :func:`spreadsheet_cell` quoted it."""
    return text[1:] if text.startswith("'") and _FORMULA.match(text, 1) else text


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with :func:`spreadsheet_cell` applied to every cell of its text columns."""
    out = table.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(spreadsheet_cell)
    return out


def safe_name(text: str) -> str:
    """A file-name part from an id (letters, digits, ``-``, ``_``, ``.``)."""
    return re.sub(r"[^\w.-]+", "_", text, flags=re.ASCII).strip("._") or "area"


_NOT_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+|\s+')
_WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def readable_name(text: str, *, limit: int = 60) -> str:
    """A file-name part a person recognises, from a name as people write it (山手小学校):
    Japanese and other letters kept; path separators, characters Windows and zip tools
    refuse (``<>:"/\\|?*``, control characters) and runs of spaces become ``_``; no
    leading or trailing dot, space or ``_``; a Windows device name (CON, NUL …) gets a
    trailing ``_``; at most ``limit`` characters. ``""`` when nothing is left."""
    part = _NOT_IN_FILE_NAMES.sub("_", unicodedata.normalize("NFC", text))
    part = part[:limit].strip("._ ")
    return part + "_" if _WINDOWS_RESERVED.fullmatch(part) else part


def readable_names(prefix: str, items: list[tuple[str, str]]) -> list[str]:
    """One file-name stem per ``(name, id)``: ``prefix`` + the name (:func:`readable_name`),
    the id added where two names would give the same stem (``karte_本町_A2``), the id alone
    when the name leaves nothing. Distinct even when names and ids repeat (a number is
    added last). Case-insensitive, as on Windows and macOS file systems."""
    def stem(name: str, key: str, with_id: bool) -> str:
        part, ident = readable_name(name), safe_name(key)
        if not part:
            return prefix + ident
        return prefix + (f"{part}_{ident}" if with_id else part)

    stems = [stem(n, k, False) for n, k in items]
    counts = Counter(s.casefold() for s in stems)
    stems = [stem(n, k, True) if counts[s.casefold()] > 1 else s
             for s, (n, k) in zip(stems, items, strict=True)]
    seen: set[str] = set()
    out = []
    for s in stems:
        unique, i = s, 1
        while unique.casefold() in seen:
            i += 1
            unique = f"{s}_{i}"
        seen.add(unique.casefold())
        out.append(unique)
    return out


def write_outputs(out_dir: str | Path, writers: dict[str, Writer]) -> list[Path]:
    """Run each ``name → writer(path)`` into a temporary folder, then move all into place.

    Returns the final paths. If any writer raises, nothing in ``out_dir`` changes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".geo-service-", dir=out_dir))
    try:
        for name, writer in writers.items():
            writer(staging / name)
        final = []
        for name in writers:
            os.replace(staging / name, out_dir / name)
            final.append(out_dir / name)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def csv_writer(table: pd.DataFrame) -> Writer:
    """Writer of a CSV in UTF-8 with BOM (Excel opens it as UTF-8), empty cells for NaN,
    text made safe to open (:func:`spreadsheet_safe`)."""
    def write(path: Path) -> None:
        spreadsheet_safe(table).to_csv(path, index=False, encoding="utf-8-sig")
    return write


def geojson_writer(gdf: gpd.GeoDataFrame, *, metadata: dict[str, Any] | None = None
                   ) -> Writer:
    """Writer of RFC 7946 GeoJSON (EPSG:4326, no crs member), with ``metadata`` (the
    region's name, sources and attributions) as a top-level ``metadata`` member.

    Point layers (100,000s of demand points) are written by a vectorised encoder — one
    pandas JSON pass for the properties, coordinates rounded to 7 decimals (~1 cm) —
    about 4× faster than ``GeoDataFrame.to_json``; other layers use geopandas.
    """
    def write(path: Path) -> None:
        geo = gdf.to_crs(settings.exchange_crs)
        if len(geo) and (geo.geom_type == "Point").all():
            _write_point_features(geo, path, metadata)
        else:
            text = geo.to_json(drop_id=True, to_wgs84=True, ensure_ascii=False, na="null")
            path.write_text(_with_metadata(text, metadata), encoding="utf-8")
    return write


_COLLECTION = '{"type": "FeatureCollection", '  # how a FeatureCollection's text starts


def _metadata_member(metadata: dict[str, Any] | None) -> str:
    """``"metadata": {…}, `` to follow :data:`_COLLECTION` (nothing without metadata)."""
    return "" if metadata is None else \
        f'"metadata": {json.dumps(metadata, ensure_ascii=False)}, '


def _collection_head(metadata: dict[str, Any] | None) -> str:
    """The start of a FeatureCollection up to its features' ``[``."""
    return _COLLECTION + _metadata_member(metadata) + '"features": ['


def _with_metadata(text: str, metadata: dict[str, Any] | None) -> str:
    """A FeatureCollection's ``text`` with ``metadata`` as its second member."""
    if not text.startswith(_COLLECTION):
        return text
    return _COLLECTION + _metadata_member(metadata) + text[len(_COLLECTION):]


def _write_point_features(geo: gpd.GeoDataFrame, path: Path,
                          metadata: dict[str, Any] | None = None) -> None:
    xy = np.round(shapely.get_coordinates(geo.geometry.to_numpy()), 7).tolist()
    props = pd.DataFrame(geo.drop(columns=geo.geometry.name)).to_json(
        orient="records", lines=True, force_ascii=False, double_precision=10).splitlines()
    with path.open("w", encoding="utf-8") as f:
        f.write(_collection_head(metadata) + "\n")
        f.write(",\n".join(
            f'{{"type": "Feature", "properties": {p}, '
            f'"geometry": {{"type": "Point", "coordinates": [{x!r}, {y!r}]}}}}'
            for p, (x, y) in zip(props, xy, strict=True)))
        f.write("\n]}\n")


def point_file_writers(table: pd.DataFrame, csv_name: str, geojson_name: str, *,
                       lon: str = "lon", lat: str = "lat",
                       metadata: dict[str, Any] | None = None) -> dict[str, Writer]:
    """Writers of a point table as CSV (``lon``/``lat`` columns included) and as GeoJSON
    (Points at ``lon``/``lat``, the other columns as properties), for :func:`write_outputs`.

    The CSV is byte for byte what :func:`csv_writer` writes, the GeoJSON what
    :func:`geojson_writer` writes for a point layer with numbers in their shortest
    round-trip form (``repr``), in a fraction of the time and memory: both files are
    written in one pass over blocks of rows, each value formatted once. The CSV writer
    writes the GeoJSON into the same folder; the GeoJSON writer writes it only if it is
    not there yet. Tables this fast path does not cover (other column types, text that
    needs CSV quoting or JSON escaping) go through :func:`csv_writer` and
    :func:`geojson_writer`. ``metadata`` goes into the GeoJSON (a CSV has no place for it).
    """
    both = _PointFiles(table, lon, lat, geojson_name, metadata)

    def write_csv(path: Path) -> None:
        both.write(path, path.with_name(geojson_name))

    def write_geojson(path: Path) -> None:
        if not path.exists():
            both.write(None, path)

    return {csv_name: write_csv, geojson_name: write_geojson}


class _PointFiles:
    """The joint CSV + GeoJSON writer behind :func:`point_file_writers`."""

    BLOCK = 100_000
    _QUOTE = re.compile(r'[,"\r\n]')
    #: (RE2) what text must not hold to be written as it is: CSV quoting, JSON escapes,
    #: control characters, noncharacters
    _PLAIN = r'[,"\\\x00-\x1f]|' + NOT_IN_XML

    def __init__(self, table: pd.DataFrame, lon: str, lat: str, geojson_name: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self.table, self.lon, self.lat = table, lon, lat
        self.geojson_name, self.metadata = geojson_name, metadata

    def write(self, csv_path: Path | None, geojson_path: Path | None) -> None:
        table = self.table
        props = [c for c in table.columns if c not in (self.lon, self.lat)]
        if not self._fast(table, props):
            if csv_path is not None:
                csv_writer(table)(csv_path)
            if geojson_path is not None:
                geojson_writer(gpd.GeoDataFrame(
                    table.drop(columns=[self.lon, self.lat]),
                    geometry=shapely.points(table[self.lon].to_numpy(float),
                                            table[self.lat].to_numpy(float)),
                    crs=settings.exchange_crs), metadata=self.metadata)(geojson_path)
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        newline = os.linesep
        header = ",".join(str(c) for c in table.columns)
        # the pieces of a feature around its values: property names, quotes of text
        pieces: list[str] = []
        lead = '{"type": "Feature", "properties": {'
        for c in props:
            quote = '"' if table[c].dtype.kind == "O" else ""
            pieces.append(lead + json.dumps(str(c), ensure_ascii=False) + ":" + quote)
            lead = quote + ","
        pieces += [lead[:-1] + '}, "geometry": {"type": "Point", "coordinates": [', ", ",
                   "]}}"]
        with contextlib.ExitStack() as stack:
            fc = stack.enter_context(csv_path.open("wb")) if csv_path is not None else None
            fg = (stack.enter_context(geojson_path.open("wb"))
                  if geojson_path is not None else None)
            if fc is not None:
                fc.write(("\ufeff" + header + newline).encode("utf-8"))
            if fg is not None:
                fg.write((_collection_head(self.metadata) + "\n").encode("utf-8"))
            for lo in range(0, len(table), self.BLOCK):
                block = table.iloc[lo:lo + self.BLOCK]
                if fc is not None:
                    cells = [self._cells(block[c], json=False) for c in table.columns]
                    fc.write(_joined(pc.binary_join_element_wise(*cells, ","), newline))
                    fc.write(newline.encode())
                    del cells
                if fg is None:
                    continue
                values = [self._cells(block[c], json=True) for c in props]
                values += [self._cells(block[self.lon], json=True),
                           self._cells(block[self.lat], json=True)]
                parts: list[Any] = []
                for piece, value in zip(pieces[:-1], values, strict=True):
                    parts += [pa.scalar(piece), value]
                parts += [pa.scalar(pieces[-1]), ""]  # "" : no separator
                if lo:
                    fg.write(b",\n")
                fg.write(_joined(pc.binary_join_element_wise(*parts), ",\n"))
            if fg is not None:
                fg.write(b"\n]}\n")

    def _fast(self, table: pd.DataFrame, props: list[str]) -> bool:
        """Whether every column is numbers, booleans or plain text (no quoting/escaping)."""
        if len(table) == 0 or not props or not table.columns.is_unique:
            return False
        if any(self._QUOTE.search(str(c)) for c in table.columns):
            return False
        for name in (self.lon, self.lat):
            if name not in table.columns or not pd.api.types.is_float_dtype(table[name]):
                return False
            if not np.isfinite(table[name].to_numpy()).all():
                return False
        for c in table.columns:
            kind = table[c].dtype.kind
            if kind in "biu" or table[c].dtype == np.float64:
                continue
            if kind != "O":
                return False
            text = _arrow_text(table[c])
            if text is None or _any_match(text, self._PLAIN):
                return False
        return True

    @staticmethod
    def _cells(column: pd.Series, *, json: bool) -> Any:
        """A column's cells as an Arrow string array: as ``DataFrame.to_csv`` writes them
        (numbers as ``repr``, NaN empty, text made spreadsheet-safe) or as JSON values
        (NaN/inf ``null``, ``true``/``false``, text as it is: the feature's pieces quote
        it)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = column.dtype.kind
        values = column.to_numpy() if kind in "biuf" else None
        if values is None:
            text = _arrow_text(column)
            if json or not _any_match(text, _CELL_FORMULA.pattern):
                return text
            return pa.array([spreadsheet_cell(v) for v in text.to_pylist()], pa.string())
        if kind == "b":
            return pa.array(np.where(values, "true" if json else "True",
                                     "false" if json else "False").tolist(), pa.string())
        if kind in "iu":
            return pc.cast(pa.array(values), pa.string())
        if kind == "f":
            # Arrow writes the shortest round-trip digits as repr does, but integers
            # without ".0", and numbers outside 1e-4 ≤ |x| < 1e10 in another notation:
            # those are written by repr
            text = pc.cast(pa.array(values), pa.string())
            finite = np.isfinite(values)
            size = np.abs(np.where(finite, values, 0.0))
            special = ~finite | (size >= 1e10) | ((size > 0) & (size < 1e-4))
            whole = finite & ~special & (values == np.floor(np.where(finite, values, 0.0)))
            if whole.any():
                text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""),
                                  text)
            missing = np.isnan(values)
            if missing.any():  # (pop_75plus of most files: a million NaN)
                text = pc.if_else(pa.array(missing), "null" if json else "", text)
                special &= ~missing
            if special.any():
                odd = [_number_cell(v, json=json) for v in values[special].tolist()]
                text = pc.replace_with_mask(text, pa.array(special), pa.array(odd, pa.string()))
            return text
        raise TypeError(f"no cells for a column of {column.dtype}")  # _fast let it through


def _arrow_text(column: pd.Series) -> Any:
    """A text column as an Arrow string array (no Python strings made for an Arrow-backed
    one); None when a value is missing or not text."""
    import pyarrow as pa

    if column.dtype == object:
        if pd.api.types.infer_dtype(column.to_numpy(), skipna=False) != "string":
            return None
        text = pa.array(column.to_numpy(), pa.string())
    elif pd.api.types.is_string_dtype(column.dtype):
        text = pa.array(column.array)
    else:
        return None
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return None if text.null_count else text.cast(pa.string())


def _any_match(text: Any, pattern: str) -> bool:
    """Whether any string of an Arrow array matches the (RE2) ``pattern`` somewhere."""
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(text, pattern)).as_py())


def _number_cell(value: float, *, json: bool) -> str:
    """One float as ``to_csv`` writes it (NaN empty) or as a JSON value (not finite: null)."""
    if value != value:
        return "null" if json else ""
    if json and not np.isfinite(value):
        return "null"
    return repr(value)


def _joined(lines: Any, sep: str) -> Any:
    """The strings of an Arrow array joined by ``sep``, as a buffer of UTF-8 bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    one = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    return pc.binary_join(one, sep)[0].as_buffer()


def text_writer(text: str) -> Writer:
    """Writer of a UTF-8 text file."""
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")
    return write


def points_table(points: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-point table of the file contract: ids, lon/lat, counts, distances, flags."""
    # the coordinates alone through the transformer GeoSeries.to_crs would use (no second
    # million Points)
    geoms = points.geometry.to_numpy()
    if not bool(np.all(shapely.get_type_id(geoms) == shapely.GeometryType.POINT)):
        raise ValueError("points_table needs Point geometries")
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    if points.crs is not None and not points.crs.equals(settings.exchange_crs):
        x, y = Transformer.from_crs(points.crs, settings.exchange_crs,
                                    always_xy=True).transform(x, y)
    # each column made once, rounded as DataFrame.round rounds (numpy's round): no copies
    # of a million-row table
    columns: dict[str, Any] = {"point_id": points["point_id"].array,
                               "lon": np.round(np.asarray(x, dtype=float), 7),
                               "lat": np.round(np.asarray(y, dtype=float), 7)}
    for col in POINT_COLUMNS[3:]:
        values = points[col].array  # positional; Arrow text stays Arrow text
        if col == "straight_m":
            values = np.where(np.isfinite(values), values, np.nan)
        if col in _POINT_DECIMALS and values.dtype.kind == "f":
            values = np.round(np.asarray(values), _POINT_DECIMALS[col])
        columns[col] = values
    return pd.DataFrame(columns)


_POINT_DECIMALS = {"network_m": 2, "straight_m": 2, "walk_min": 2, "pop_total": 4,
                   "pop_65plus": 4, "pop_75plus": 4}


def area_table(areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-area table without geometry, rounded for reading (shares to 4 decimals)."""
    table = pd.DataFrame(areas.drop(columns="geometry"))
    return table.round({"pop_total": 2, "pop_65plus": 2, "beyond_65plus": 2,
                        "beyond_65plus_straight": 2, "car_adjusted_65plus": 2,
                        "beyond_share": 4, "beyond_share_straight": 4, "median_m": 1,
                        "p90_m": 1, "median_min": 2, "p90_min": 2})
