"""Point files read as arrays: a million demand points without a million Python objects.

:func:`read_point_rows` reads a vector file (GeoJSON, GeoPackage, shapefile …) whose
features are all 2-D points into coordinate arrays and an attribute table, through Arrow:

- **GeoJSON** written one feature per line (as GDAL, QGIS and geopandas write it) is parsed
  by ``pyarrow.json`` (multi-threaded C++, no GDAL schema pass); any other layout, a
  ``crs`` member, feature-level members other than ``type``/``properties``/``geometry``,
  properties that mix numbers and text or nest objects, fall back to GDAL;
- **everything else** goes through ``pyogrio.read_arrow`` (GDAL's Arrow stream), the
  points' WKB decoded by NumPy.

It returns None when a file holds anything but plain 2-D points (lines, polygons,
multi-points, null or empty geometries, 3-D points): callers then read it with
:func:`geo_service.inputs.readers.read_vector` as before. The checks are those of
``read_vector``: a missing file, an unreadable file or a layer without CRS is an
:class:`~geo_service._errors.InputError`; swapped latitude/longitude and coordinates
impossible in a geographic CRS are reported as it reports them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import CRS

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.inputs.crs import check_bounds, check_has_crs
from geo_service.inputs.readers import check_lon_lat

#: Bytes of a little-endian 2-D WKB point: byte order (1), type (4), x (8), y (8).
_WKB_POINT = 21
_FEATURE_KEYS = {"type", "properties", "geometry"}


@dataclass(frozen=True, eq=False)
class PointRows:
    """A point layer as arrays: ``x``/``y`` (float64, in ``crs``) and one row of
    ``attributes`` per point (the file's order)."""

    x: np.ndarray
    y: np.ndarray
    attributes: pd.DataFrame
    crs: CRS


def read_point_rows(path: str | Path) -> PointRows | None:
    """A vector file of 2-D points as arrays; None when it holds other geometries.

    Raises
    ------
    InputError
        When the file is missing or unreadable, has no CRS, or its coordinates cannot be
        valid in its geographic CRS (see :func:`~geo_service.inputs.readers.read_vector`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(msg("file not found"), file=path)
    rows = _geojson_points(path) if path.suffix.lower() in (".geojson", ".json") else None
    if rows is None:
        rows = _arrow_points(path)
    if rows is None:
        return None
    x, y, attributes, crs = rows
    check_has_crs(crs, str(path))
    assert crs is not None
    if crs.is_geographic and len(x):
        if ((np.abs(y) > 90) & (np.abs(x) <= 90)).any():
            check_lon_lat(x, y, source=path, lon_col="x", lat_col="y")
        check_bounds((x.min(), y.min(), x.max(), y.max()), crs, str(path))
    return PointRows(x, y, attributes, crs)


def _arrow_points(path: Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, CRS | None] | None:
    import pyogrio

    try:
        meta, table = pyogrio.read_arrow(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputError(f"cannot read as a vector file: {exc}", file=path) from exc
    wkb = [f.name for f in table.schema
           if (f.metadata or {}).get(b"ARROW:extension:name") == b"geoarrow.wkb"]
    if len(wkb) != 1 or meta.get("geometry_type") != "Point":
        return None
    geometry = wkb[0]
    xy = _wkb_points(table.column(geometry).combine_chunks())
    if xy is None:
        return None
    attributes = table.drop_columns([geometry]).to_pandas()
    return xy[:, 0].copy(), xy[:, 1].copy(), attributes, _crs(meta.get("crs"))


def _wkb_points(wkb: object) -> np.ndarray | None:
    """(n, 2) coordinates of an Arrow array of little-endian 2-D WKB points, or None."""
    import pyarrow as pa

    assert isinstance(wkb, pa.Array)
    n = len(wkb)
    if wkb.null_count:
        return None
    if n == 0:
        return np.empty((0, 2))
    wide = pa.types.is_large_binary(wkb.type)
    offsets = np.frombuffer(wkb.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[wkb.offset:wkb.offset + n + 1]
    if not (np.diff(offsets) == _WKB_POINT).all():
        return None
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8)
    cells = data[offsets[0]:offsets[0] + n * _WKB_POINT].reshape(n, _WKB_POINT)
    if not ((cells[:, 0] == 1).all() and (cells[:, 1:5] == [1, 0, 0, 0]).all()):
        return None  # big-endian or not a 2-D point
    xy = np.ascontiguousarray(cells[:, 5:]).view("<f8").astype(np.float64)
    return None if np.isnan(xy).any() else xy  # NaN: an empty point


def _geojson_points(path: Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, CRS | None] | None:
    """A FeatureCollection written one feature per line, by pyarrow; None otherwise."""
    import pyarrow as pa
    import pyarrow.json as pj

    raw = path.read_bytes()
    start = raw.find(b'"features"')
    start = raw.find(b"[", start) + 1 if start >= 0 else 0
    end = raw.rfind(b"]")
    if start <= 0 or end < start:
        return None
    try:
        head = json.loads(raw[:start] + raw[end:])
    except ValueError:
        return None
    if (not isinstance(head, dict) or head.get("type") != "FeatureCollection"
            or set(head) - {"type", "features", "name", "bbox"}):
        return None
    body = raw[start:end]
    del raw
    if b"\r" in body:
        body = body.replace(b"},\r\n", b"}\n")
    body = body.replace(b"},\n", b"}\n")
    if b"{" not in body:
        return None
    try:
        table = pj.read_json(io.BytesIO(body),
                             parse_options=pj.ParseOptions(newlines_in_values=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    del body
    if set(table.column_names) - _FEATURE_KEYS or "geometry" not in table.column_names:
        return None
    geometry = table.column("geometry").combine_chunks()
    if (geometry.null_count or not pa.types.is_struct(geometry.type)
            or {f.name for f in geometry.type} != {"type", "coordinates"}):
        return None
    kinds = geometry.field("type")
    coords = geometry.field("coordinates")
    if (kinds.null_count or coords.null_count or not pa.types.is_list(coords.type)
            or not pa.types.is_floating(coords.type.value_type)
            and not pa.types.is_integer(coords.type.value_type)):
        return None
    if not np.all(kinds.to_numpy(zero_copy_only=False) == "Point"):
        return None
    if not (np.asarray(coords.value_lengths()) == 2).all() or coords.values.null_count:
        return None
    xy = np.asarray(coords.flatten()).astype(np.float64).reshape(-1, 2)
    if "properties" in table.column_names:
        props = table.column("properties").combine_chunks()
        if not pa.types.is_struct(props.type) or any(
                pa.types.is_nested(f.type) or pa.types.is_temporal(f.type) for f in props.type):
            return None  # nested values and dates: as GDAL reads them
        attributes = pa.Table.from_struct_array(props).to_pandas()
        attributes.index = pd.RangeIndex(len(xy))
    else:
        attributes = pd.DataFrame(index=pd.RangeIndex(len(xy)))
    return xy[:, 0].copy(), xy[:, 1].copy(), attributes, CRS.from_epsg(4326)


def _crs(text: str | None) -> CRS | None:
    return CRS.from_user_input(text) if text else None
