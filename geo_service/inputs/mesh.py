"""JIS X 0410 地域メッシュ: codes ↔ cells, through ``jismesh``.

Levels (jismesh numbering): 3 = 1 km (8 digits), 4 = ½ 500 m (9), 5 = ¼ 250 m (10),
6 = ⅛ 125 m (11). jismesh 2.1 calls ``numpy.asscalar`` (removed in NumPy 2) for
one-element inputs, so single codes are padded to two before the call.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import jismesh.utils as ju
import numpy as np
import pandas as pd
import shapely

from geo_service._errors import InputError, sheet_rows
from geo_service.i18n import msg

CODE_PATTERN = r"\d{8}|\d{9}|\d{10}|\d{11}"
#: the ``--areas`` keywords of mesh layers: jismesh level and the layer's name
MESH_KEYWORDS = {"mesh1km": (3, "1kmメッシュ"), "mesh500": (4, "500mメッシュ"),
                 "mesh250": (5, "250mメッシュ"), "mesh125": (6, "125mメッシュ")}


def _pad(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values, values]) if len(values) == 1 else values


def mesh_codes_for(points: gpd.GeoSeries, level: int) -> pd.Series:
    """JIS mesh code (as text) of each point at a jismesh level (3, 4, 5 or 6)."""
    geo = points.to_crs("EPSG:4326")
    n = len(geo)
    if n == 0:
        return pd.Series([], dtype=str)
    lon, lat = geo.x.to_numpy(), geo.y.to_numpy()
    outside = (lon < 100) | (lon >= 180) | (lat < 0) | (lat >= 66.66)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(msg("JIS X 0410 地域メッシュ exist only for longitude 100–180 and "
                             "latitude 0–66.66 (Japan and around); use an area file for this "
                             "region"),
                         value=(round(float(lon[i]), 6), round(float(lat[i]), 6)))
    codes = ju.to_meshcode(_pad(geo.y.to_numpy()), _pad(geo.x.to_numpy()), level)
    return pd.Series(np.asarray(codes)[:n]).astype(str)


def mesh_polygons(codes: pd.Series, *, source: str | Path,
                  column: str = "mesh_code") -> gpd.GeoSeries:
    """Cells of mesh codes (1 km … 125 m) as EPSG:4326 polygons; bad codes are an error."""
    codes = codes.astype(str).str.strip()
    valid = codes.str.fullmatch(CODE_PATTERN)
    if not valid.all():
        rows = np.flatnonzero(~valid.to_numpy())
        raise InputError(msg("not a JIS X 0410 mesh code of 8–11 digits"), file=source,
                         row=sheet_rows(rows), column=column, value=codes.iloc[rows[0]])
    n = len(codes)
    values = _pad(codes.astype(np.int64).to_numpy())
    try:
        south, west = ju.to_meshpoint(values, 0, 0)
        north, east = ju.to_meshpoint(values, 1, 1)
    except ValueError as exc:
        raise InputError(f"invalid mesh code: {exc}", file=source, column=column) from exc
    return gpd.GeoSeries(shapely.box(west[:n], south[:n], east[:n], north[:n]), crs="EPSG:4326")
